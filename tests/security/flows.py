"""Workflows the security tests run (a real module: worker processes import it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from typedflow import Secret, TypedDirectory, TypedFile, task, workflow
from typedflow.formats import Text


@task
def write(text: str) -> TypedFile[Text]:
    f: TypedFile[Text] = TypedFile.new(".txt")
    Path(f.uri).write_text(text)
    return f


@task
def read(f: TypedFile[Text]) -> str:
    return f.read_text()


@workflow
def roundtrip(text: str) -> str:
    return read(write(text))


@task
def number(x: int) -> int:
    return x * 2


@task
def count_files(d: TypedDirectory[Text]) -> int:
    return sum(1 for _ in d)


@workflow
def doubled(x: int) -> int:
    return number(x)


@workflow
def produced(text: str) -> TypedFile[Text]:
    return write(text)


@task(cache=False)
def append(f: TypedFile[Text]) -> int:
    path = f.local_path()
    os.chmod(path, 0o644)  # as root, the read-only mode would not stop it either
    with open(path, "a") as fh:
        fh.write("appended\n")
    return 1


@workflow
def appends(text: str) -> int:
    return append(write(text))


@task
def login(user: str, token: Secret, passwd: str) -> str:
    value = token.reveal()
    if user == "bad":
        raise ValueError(f"login failed for {user} with token {value} and password {passwd}")
    return f"{user}:{len(value)}"


@workflow
def logs_in(user: str, token: Secret, passwd: str) -> str:
    return login(user=user, token=token, passwd=passwd)


@task(cache=False)
def linger(seconds: float, marker: str) -> int:
    """Runs ``seconds``, or until a test creates ``<marker>.release`` (a test that needs the run alive while it
    acts then does not race a loaded machine's process start-up against a fixed sleep)."""
    deadline = time.monotonic() + seconds
    release = Path(marker + ".release")
    while time.monotonic() < deadline and not release.exists():
        time.sleep(0.05)
    Path(marker).write_text("still ran")
    return 1


@workflow
def lingers(seconds: float, marker: str) -> int:
    return linger(seconds=seconds, marker=marker)


@workflow
def roundtrip_file(f: TypedFile[Text]) -> str:
    return read(f)


@task
def shout(word: str) -> str:
    print(f"shouting {word}")
    if word == "fail":
        raise ValueError("cannot shout that")
    return word.upper()


@workflow
def shouts(word: str) -> str:
    return shout(word=word)


@task
def plant_link(folder: str, victim: str) -> int:
    """Plants a link where the lineage log stages its next head: a store another user can write to."""
    os.symlink(victim, os.path.join(folder, "log.jsonl.head.tmp"))
    return 1


@workflow
def planted(folder: str, victim: str) -> int:
    return number(plant_link(folder, victim))
