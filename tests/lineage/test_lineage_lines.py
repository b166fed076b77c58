"""The log's line readers, forward and backward, against a plain split of the same bytes."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from typedflow.lineage._chain import iter_lines_reverse, iter_raw_lines

# Line lengths around the readers' blocks (64 KiB backward), so that lines span blocks and end on their edges.
_LENGTHS = st.sampled_from([0, 1, 7, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 150_000])


def _lines(lengths: list[int]) -> list[bytes]:
    """Lines of these lengths, each its own sequence of letters (a line put together out of order differs)."""
    alphabet = bytes(range(97, 123))
    return [((alphabet[i:] + alphabet[:i]) * (n // 26 + 1))[:n] for i, n in enumerate(lengths)]


@settings(max_examples=40, deadline=None)
@given(st.lists(_LENGTHS, max_size=6), st.binary(max_size=20).filter(lambda b: b"\n" not in b))
def test_forward_lines_are_the_complete_lines_with_their_offsets(lengths: list[int], tail: bytes) -> None:
    lines = _lines(lengths)
    data = b"".join(line + b"\n" for line in lines) + tail  # a torn fragment last, if any: skipped
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tf-lines-{os.getpid()}.jsonl"
    path.write_bytes(data)
    try:
        got = list(iter_raw_lines(path))
    finally:
        path.unlink()
    offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    assert got == list(zip(offsets, lines, strict=True))


@settings(max_examples=40, deadline=None)
@given(st.lists(_LENGTHS, max_size=6), st.integers(0, 6))
def test_backward_lines_are_the_complete_lines_before_the_end_last_first(lengths: list[int], upto: int) -> None:
    lines = _lines(lengths)
    data = b"".join(line + b"\n" for line in lines) + b"torn"
    keep = lines[: min(upto, len(lines))]
    end = sum(len(x) + 1 for x in keep)  # 0, or just after a newline
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tf-rlines-{os.getpid()}.jsonl"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        got = list(iter_lines_reverse(fd, end))
    finally:
        os.close(fd)
        path.unlink()
    offsets = [sum(len(x) + 1 for x in keep[:i]) for i in range(len(keep))]
    assert got == list(reversed(list(zip(offsets, keep, strict=True))))
