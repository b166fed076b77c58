"""A pipeline spec as YAML at the speed of the JSON encoder.

An indented JSON document is a YAML (flow style) document, and YAML loaders (PyYAML's ``safe_load``, which kfp
and the Vertex AI SDK use) read it back as the same value, but for what the text is fixed for here:

- YAML 1.1 reads a number as a float only with a dot in it, so an exponent without one gets one (``1e-05`` is
  written ``1.0e-05``; PyYAML would read the string ``"1e-05"``); ``NaN`` and ``Infinity`` become ``.nan`` and
  ``.inf``;
- a YAML document holds printable characters only, and PyYAML reads NEL and the Unicode line and paragraph
  separators as line breaks even in a quoted string: those, C1 controls, DEL, U+FEFF, U+FFFE, U+FFFF and lone
  surrogates are written as ``\\uXXXX`` escapes, which YAML's double-quoted strings share with JSON;
- YAML reads a key as an implicit key only within 1024 characters of the ``:`` after it: a longer key is
  written as an explicit one (``? "key": value``).

PyYAML's own dumper takes about five times as long on a 10,000-task spec (its representer runs in Python), so
large specs are written this way; a property test holds the text to PyYAML's reading.
"""

from __future__ import annotations

import re
from json.decoder import scanstring  # type: ignore[attr-defined]  # the C scanner, not in the stub
from typing import Any

from typedflow.util.prettyjson import pretty

# characters a YAML document may not hold as they are (or that PyYAML reads as a line break)
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# where a number YAML 1.1 would not read as the float it is may be (a literal first: a fast scan)
_EXPONENT = re.compile(r"e[-+][0-9]")
# strings (skipped) and the numbers to fix, outside them
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![0-9.])(-?[0-9]+)(e[-+][0-9]+)|(-?)Infinity|NaN')
# a line long enough to start with a key past YAML's 1024-character limit for an implicit key
_LONG_LINE = re.compile(r'^ *"[^\n]{1000}', re.MULTILINE)


def _fix_number(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.startswith('"'):
        return text
    if m.group(1) is not None:
        return f"{m.group(1)}.0{m.group(2)}"
    if text == "NaN":
        return ".nan"
    return f"{m.group(3)}.inf"


def _escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group(0)):04x}"


def dump_yaml(spec: Any, header: str = "") -> str:
    """``spec`` as a YAML document that ``yaml.safe_load`` reads back as ``spec``; ``header`` is a comment
    block written before it (each line starting with ``#``)."""
    text = pretty(spec)
    if _EXPONENT.search(text) or "NaN" in text or "Infinity" in text:
        text = _TOKENS.sub(_fix_number, text)
    if not text.isascii() or "\x7f" in text:
        text = _UNSAFE.sub(_escape, text)  # JSON escapes every character that can end a string; these cannot
    return header + _explicit_long_keys(text) + "\n"


def _explicit_long_keys(text: str) -> str:
    """``text`` with each key of a long line written as an explicit key (``? "key": value``): YAML reads a key
    only within 1024 characters otherwise."""
    # A spec's long lines are its executors' arguments, and the keys of ``deploymentSpec`` are the compiler's
    # own short names: the scan passes over that part (the top-level keys are sorted and indented by two).
    start = text.find('\n  "deploymentSpec": ')
    end = text.find('\n  "pipelineInfo": ', start) if start >= 0 else -1
    regions = [(0, start), (end, len(text))] if 0 <= start < end else [(0, len(text))]
    parts: list[str] = []
    last = 0
    for a, b in regions:
        for m in _LONG_LINE.finditer(text, a, b):
            quote = text.index('"', m.start())
            _, after = scanstring(text, quote + 1)  # just past the string that starts the line
            if text.startswith(": ", after):
                parts += [text[last:quote], "? "]
                last = quote
    return "".join([*parts, text[last:]]) if parts else text
