"""IdentityMemo: one value per live object, never another object's under a reused id."""

from __future__ import annotations

import gc

import attrs

from typedflow.util.memo import IdentityMemo


@attrs.frozen
class Doc:
    name: str


def test_an_entry_lives_as_long_as_its_object() -> None:
    memo: IdentityMemo[Doc, str] = IdentityMemo()
    a = Doc("a")
    memo.put(a, "text of a")
    assert memo.get(a) == "text of a"
    assert memo.get(Doc("a")) is None  # equal is not the same object
    del a
    gc.collect()
    assert len(memo) == 0


def test_an_object_that_cannot_be_weakly_referenced_is_held() -> None:
    memo: IdentityMemo[tuple[int, ...], str] = IdentityMemo()
    first = tuple(range(3))
    memo.put(first, "first")
    del first
    gc.collect()
    # Held, so its id cannot be reused by another object while the memo remembers it.
    assert len(memo) == 1
    assert memo.get(tuple(range(4))) is None


def test_it_is_emptied_at_its_bound() -> None:
    memo: IdentityMemo[tuple[int, ...], int] = IdentityMemo(maxsize=3)
    keys = [tuple([i]) for i in range(3)]
    for i, k in enumerate(keys):
        memo.put(k, i)
    assert [memo.get(k) for k in keys] == [0, 1, 2]
    extra = (99,)
    memo.put(extra, 99)
    assert len(memo) == 1 and memo.get(extra) == 99 and memo.get(keys[0]) is None
