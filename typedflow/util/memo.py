"""Values computed once per object and found again by its identity (the one memo policy for objects
that are costly to hash, such as IR templates and documents)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["IdentityMemo"]

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``value`` remembered for ``obj`` while ``obj`` lives. An object that can be weakly referenced
    drops its entry when it is collected; another (a tuple) is held until the memo reaches
    ``maxsize`` entries and is emptied, which bounds a process that loads many documents."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._entries: dict[int, tuple[Callable[[], Any], V]] = {}

    def get(self, obj: K) -> V | None:
        entry = self._entries.get(id(obj))
        return entry[1] if entry is not None and entry[0]() is obj else None

    def put(self, obj: K, value: V) -> V:
        if len(self._entries) >= self.maxsize:
            self._entries.clear()
        key = id(obj)
        ref: Callable[[], Any]
        try:
            ref = weakref.ref(obj, lambda r: self._drop(key, r))
        except TypeError:
            ref = _Held(obj)
        self._entries[key] = (ref, value)
        return value

    def _drop(self, key: int, ref: Callable[[], Any]) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is ref:  # not a newer object's entry under a reused id
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class _Held:
    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __call__(self) -> object:
        return self.obj
