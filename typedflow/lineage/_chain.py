"""Low-level helpers shared by the log, the verifier and the exporters: raw lines and head files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs

from typedflow.ir.canonical import canonical_bytes
from typedflow.lineage.verify_bundle import MAX_LINE
from typedflow.util.boundary import parse_json, read_regular

_BLOCK: Final = 1 << 24

# Canonical JSON sorts keys and nothing after "prev_hash" or "seq" is an object, so the last
# occurrence of these markers is the top-level field (inside strings every quote is escaped).
PREV_MARK: Final = b'"prev_hash":"'
SEQ_MARK: Final = b',"seq":'


class LineageIntegrityError(Exception):
    """The log or its head is inconsistent in a way that must not be repaired automatically."""


class LineTooLong(ValueError):
    """A line of a log is longer than any record can be (``MAX_LINE``, the verifier's bound): it is not
    read whole. ``line`` is its 1-based number."""

    def __init__(self, path: Path, line: int) -> None:
        super().__init__(f"{path}: line {line} is longer than {MAX_LINE:,} bytes, more than any record holds")
        self.path = path
        self.line = line


@attrs.frozen
class Head:
    """The last committed record of a log: its seq, its hash and the number of records."""

    seq: int
    hash: str
    count: int

    def to_bytes(self) -> bytes:
        return canonical_bytes({"count": self.count, "hash": self.hash, "seq": self.seq})


def head_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".head")


def read_head(log_path: Path) -> Head | None:
    """The head file of ``log_path``, or None if there is none; raises ValueError if unreadable."""
    try:  # never through a link, never a FIFO; bounded (it is a few dozen bytes)
        raw = read_regular(head_path(log_path), "head file", 1 << 16)
    except FileNotFoundError:
        return None
    data = parse_json(raw, "head file")  # a BoundaryError is a ValueError
    if not isinstance(data, dict):
        raise ValueError("head file is not a JSON object")
    seq, hash_, count = data.get("seq"), data.get("hash"), data.get("count")
    if not (isinstance(seq, int) and isinstance(hash_, str) and isinstance(count, int)):
        raise ValueError("head file lacks seq/hash/count")
    return Head(seq=seq, hash=hash_, count=count)


def line_fields(line: bytes) -> tuple[int, str]:
    """(seq, prev_hash) of a canonical record line without parsing the whole JSON."""
    i = line.rfind(PREV_MARK)
    j = line.rfind(SEQ_MARK)
    if i < 0 or j < 0:
        raise ValueError("not a lineage record line")
    start = i + len(PREV_MARK)
    end = line.find(b'"', start)
    k = line.find(b",", j + len(SEQ_MARK))
    if end < 0 or k < 0:
        raise ValueError("not a lineage record line")
    return int(line[j + len(SEQ_MARK) : k]), line[start:end].decode("ascii")


def iter_raw_lines(path: Path, *, start: int = 0) -> Iterator[tuple[int, bytes]]:
    """(offset, line without newline) of each complete line; a trailing unterminated fragment is skipped.

    Raises :class:`LineTooLong` at a line (or fragment) longer than ``MAX_LINE``: at most that and a
    block are held, whatever the file holds (line numbers count from ``start``)."""
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        number = 0
        rest = b""
        while True:
            block = f.read(_BLOCK)
            if not block:
                return
            block = rest + block
            lines = block.split(b"\n")
            rest = lines.pop()
            for line in lines:
                number += 1
                if len(line) > MAX_LINE:
                    raise LineTooLong(path, number)
                yield offset, line
                offset += len(line) + 1
            if len(rest) > MAX_LINE:
                raise LineTooLong(path, number + 1)


def iter_lines_reverse(fd: int, end: int, name: object = "the log") -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the complete lines before ``end`` (0 or just after a newline), last first.

    A line is gathered from pieces (joined once): at most a block and ``MAX_LINE`` bytes are held. A longer
    line, which no record is, raises :class:`LineageIntegrityError` naming ``name`` and where the line ends."""
    pieces: list[bytes] = []  # of the line being read, last piece first
    held = 0
    line_end = end - 1  # the newline that ends it
    pos = end
    while pos > 0:
        size = min(1 << 16, pos)
        pos -= size
        block = os.pread(fd, size, pos)
        stop = len(block) - 1 if pos + size == end else len(block)  # not the newline ending the last line
        k = block.rfind(b"\n", 0, stop)
        while k >= 0:
            piece = block[k + 1 : stop]
            yield pos + k + 1, piece + b"".join(reversed(pieces)) if pieces else piece
            pieces, held, line_end = [], 0, pos + k
            stop = k
            k = block.rfind(b"\n", 0, stop)
        if stop > 0:
            pieces.append(block[:stop])
            held += stop
            if held > MAX_LINE:
                raise LineageIntegrityError(
                    f"{name}: the line ending at byte {line_end} is longer than {MAX_LINE:,} bytes, "
                    "more than any record holds"
                )
    if end > 0:
        yield 0, b"".join(reversed(pieces))
