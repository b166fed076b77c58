"""Workflows the ``typedflow runs`` tests run on every target (the same module locally and in the cloud)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import Text


class Pair(NamedTuple):
    doubled: int
    note: str


@task
def shout(x: int) -> int:
    print(f"shout {x}")
    print(f"shout {x} on stderr", file=sys.stderr)
    return x * 2


@task
def gate(x: int, flag: str) -> int:
    print(f"gate {x}")
    if Path(flag).exists():
        raise RuntimeError(f"blocked by {Path(flag).name}")
    return x + 1


@task
def slow(x: int, hold: str) -> int:
    deadline = time.monotonic() + 60
    while Path(hold).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return x


@task
def pair(x: int) -> Pair:
    return Pair(x * 2, f"x={x}")


@task
def explode(x: int) -> int:
    if x > 3:
        raise ValueError(f"cannot handle {x}")
    return x


@task(env={"RUNS_MODE": "fast"}, secrets=["RUNS_TOKEN=env:RUNS_TEST_SOURCE"])
def uses_secret(x: int) -> str:
    token = os.environ["RUNS_TOKEN"]
    print(f"mode {os.environ['RUNS_MODE']} token {token}")
    if x < 0:
        raise RuntimeError(f"refused with token {token}")
    return f"{os.environ['RUNS_MODE']}:{len(token)}"


@workflow
def flaky(x: int, flag: str) -> int:
    return gate(shout(x), flag)


@workflow
def held(x: int, hold: str) -> int:
    return slow(shout(x), hold)


@workflow
def pairs(x: int) -> Pair:
    return pair(x)


@workflow
def nested(xs: list[int]) -> list[int]:
    return map_over(lambda x: explode(shout(x)), xs)


@workflow
def secretive(x: int) -> str:
    return uses_secret(x)


@task(secrets=["DB_PASSWORD=aws-sm:typedflow-tests/db#password", "API_TOKEN=aws-sm:typedflow-tests/token"])
def connect(user: str) -> str:
    password, token = os.environ["DB_PASSWORD"], os.environ["API_TOKEN"]
    print(f"connecting {user} with {password}")
    if user == "mallory":
        raise PermissionError(f"{user} may not use {password} or {token}")
    return f"{user}:{len(password)}:{len(token)}"


@workflow
def database(user: str) -> str:
    return connect(user)


@task(secrets=["HF_TOKEN=gcp-sm:projects/p/secrets/hf-token"])
def hub(repo: str) -> str:
    return f"{repo}:{os.environ['HF_TOKEN'][:2]}"


@workflow
def pushed(repo: str) -> str:
    return hub(repo)


@task
def lines(f: TypedFile[Text], flag: str) -> int:
    if Path(flag).exists():
        raise RuntimeError(f"blocked by {Path(flag).name}")
    return len(f.read_text().splitlines())


@workflow
def counted(f: TypedFile[Text], flag: str) -> int:
    return lines(f, flag)


@workflow
def long_chain(x: int, flag: str) -> int:
    """Long enough to be split into a parent and child state machines by ``--max-states 16``."""
    for _ in range(20):
        x = shout(x)
    return gate(x, flag)
