"""``typedflow.Secret``: a value that reaches the task that needs it and nothing else.

A workflow input or task parameter annotated ``Secret`` travels as a *reference* (``env:NAME``,
``file:PATH``, ``dotenv:NAME``, ``aws-sm:SECRET[#KEY]``, ``gcp-sm:SECRET``, or an in-process value), never
as its value: the IR, the run journal, the inputs file,
lineage records, exports, progress lines and cache keys see only the reference. The task calls
:meth:`Secret.reveal` where it needs the value; a failed task's message and traceback have every
revealed value blanked out before they are reported or recorded.
"""

from __future__ import annotations

import functools
import os
import re
import secrets as _random
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final, final

from typedflow.errors import SecretUnavailableError
from typedflow.runtime.context import ATTEMPT
from typedflow.runtime.secret_stores import register as _register

REF: Final = re.compile(r"(env|file|literal|dotenv|aws-sm|gcp-sm):[^\x00-\x1f]{1,2048}")
_LITERAL: Final = "literal:"

# Resolvers by scheme (the secret stores' are in typedflow.runtime.secret_stores): text after "scheme:" -> value.
RESOLVERS: dict[str, Callable[[str], str]] = {}
# Values given in this process (``Secret("...")``), by their random handle: they never leave the process.
_LITERALS: dict[str, str] = {}
_LOCK = threading.Lock()


@final
class Secret:
    """A secret string. ``Secret("value")`` keeps the value in this process only; ``Secret.from_env(NAME)``
    and ``Secret.from_file(PATH)`` are references resolved where the task runs."""

    __slots__ = ("ref",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret(value) takes a str")
        handle = _random.token_hex(16)
        with _LOCK:
            _LITERALS[handle] = value
        self.ref = _LITERAL + handle

    @classmethod
    def from_env(cls, name: str) -> Secret:
        """The value of environment variable ``name`` where the task runs."""
        return cls.from_ref("env:" + name)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Secret:
        """The text of the file at ``path`` where the task runs (one trailing newline dropped)."""
        return cls.from_ref("file:" + os.fspath(path))

    @classmethod
    def from_ref(cls, ref: str) -> Secret:
        """A secret by reference (``env:NAME``, ``file:PATH``, or a cloud secret store's)."""
        if not isinstance(ref, str) or REF.fullmatch(ref) is None:
            raise ValueError(f"not a secret reference: {ref[:40]!r}" if isinstance(ref, str) else "not a str")
        obj = object.__new__(cls)
        obj.ref = ref
        return obj

    @property
    def by_value(self) -> bool:
        """Whether this secret was given by value (it exists in this process only)."""
        return self.ref.startswith(_LITERAL)

    def reveal(self) -> str:
        """The secret's value (call it where it is used; never log or return it)."""
        scheme, _, rest = self.ref.partition(":")
        if scheme == "literal":
            with _LOCK:
                value = _LITERALS.get(rest)
            if value is None:
                raise SecretUnavailableError(
                    "this secret was given by value in another process (a resumed run, a worker process "
                    "of another run): give it again, or pass it as env:NAME / file:PATH"
                )
        elif scheme == "env":
            value = os.environ.get(rest)
            if value is None:
                raise SecretUnavailableError(f"environment variable {rest} is not set where the task runs")
        elif scheme == "file":
            try:
                value = Path(rest).read_text("utf-8").removesuffix("\n")
            except OSError as exc:
                raise SecretUnavailableError(f"cannot read the secret file {rest}: {exc.strerror or exc}") from None
        else:
            resolver = RESOLVERS.get(scheme)
            if resolver is None:
                raise SecretUnavailableError(f"no resolver for {scheme}: secrets is installed here")
            value = resolver(rest)
        attempt = ATTEMPT.get()
        if attempt is not None:
            attempt.revealed.append(value)
        return value

    def __repr__(self) -> str:
        return "Secret(<given by value>)" if self.by_value else f"Secret({self.ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is never pickled")


# Names that say a plain parameter holds a secret: a second line of defence behind the Secret type.
# Its value is never recorded as a parameter, its digest is keyed, and it is blanked out of errors.
_SENSITIVE: Final = re.compile(
    r"pass(word|wd|phrase)?|pwd|secret|token|key|credential|auth|private|pem|dsn|cookie|session|signature|cert",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def sensitive(name: str) -> bool:
    """Whether a parameter's name says it holds a secret."""
    return _SENSITIVE.search(name) is not None


def literal_values(refs: Iterable[str]) -> dict[str, str]:
    """The values of the in-process secrets among ``refs`` (for a worker process, over its pipe)."""
    out = {}
    with _LOCK:
        for ref in refs:
            if ref.startswith(_LITERAL) and ref[len(_LITERAL) :] in _LITERALS:
                out[ref[len(_LITERAL) :]] = _LITERALS[ref[len(_LITERAL) :]]
    return out


def adopt_literals(values: dict[str, str]) -> None:
    """Make secrets given by value in a parent process resolvable here."""
    with _LOCK:
        _LITERALS.update(values)


def redact(text: str, values: Iterable[str]) -> str:
    """``text`` with every secret value (of four characters or more) replaced by ``***``."""
    for v in sorted({v for v in values if isinstance(v, str) and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(v, "***")
    return text


def resolve_ref(ref: str) -> str:
    """The value a reference stands for where this runs (a task's declared secrets, see
    :mod:`typedflow.dsl.taskenv`); raises :class:`SecretUnavailableError` naming the reference, never a value."""
    return Secret.from_ref(ref).reveal()


_register(RESOLVERS)

__all__ = [
    "RESOLVERS",
    "Secret",
    "SecretUnavailableError",
    "adopt_literals",
    "literal_values",
    "redact",
    "resolve_ref",
    "sensitive",
]
