"""Workflows using the constructs ported examples need, run on every target by tests/semantics."""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import NamedTuple

from typedflow import (
    Failure,
    Retry,
    TypedFile,
    after,
    exit_handler,
    fail,
    map_over,
    one_of,
    orwhen,
    otherwise,
    task,
    when,
    workflow,
)
from typedflow.formats import Text

# ----------------------------------------------------------------------------- unpacking, records


class Stats(NamedTuple):
    total: int
    count: int  # type: ignore[assignment]  # a NamedTuple field may shadow tuple.count; mypy objects


class Config(NamedTuple):
    n_estimators: int
    max_depth: int = 3


@task
def stats(xs: list[int]) -> Stats:
    return Stats(sum(xs), len(xs))


@task
def mean(total: int, count: int) -> float:
    return total / max(1, count)


@workflow
def unpacked(xs: list[int]) -> float:
    total, count = stats(xs)
    return mean(total, count)


@task
def score(cfg: Config) -> int:
    return cfg.n_estimators * cfg.max_depth


@workflow
def grid() -> list[int]:
    return map_over(score, [Config(10), Config(20, max_depth=5)])


# ----------------------------------------------------------------------------- enum conditions


class Mode(enum.Enum):
    FAST = "fast"
    FULL = "full"


@task
def pick(name: str) -> Mode:
    return Mode.FAST if name == "quick" else Mode.FULL


@task
def epochs(n: int) -> int:
    return n


@workflow
def by_mode(name: str) -> int | None:
    mode = pick(name)
    with when(mode == Mode.FAST):
        fast = epochs(1)
    with otherwise():
        epochs(10)
    return fast


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


@task
def level_name(level: Level) -> str:
    return level.name.lower()


@workflow
def by_level(level: Level) -> str | None:
    with when(level == Level.HIGH):
        named = level_name(level)
    return named


# ----------------------------------------------------------------------------- ordering


@task(cache=False)
def mark(marks: str, name: str) -> None:
    Path(marks, name).write_text(name)


@task(cache=False)
def saw(marks: str, name: str) -> bool:
    return Path(marks, name).exists()


@workflow
def ordered(marks: str) -> bool:
    made = mark(marks, "first")
    with after(made):
        seen = saw(marks, "first")
    return seen


# ----------------------------------------------------------------------------- options per call


@task
def counted(marks: str, x: int) -> int:
    Path(marks, f"{x}-{len(list(Path(marks).glob(f'{x}-*')))}").write_text("")
    return x


@task
def flaky(marks: str, key: str) -> int:
    runs = len(list(Path(marks).glob(f"{key}-*")))
    Path(marks, f"{key}-{runs}").write_text("")
    if runs == 0:
        raise RuntimeError(f"first attempt of {key}")
    return runs


@task
def add(a: int, b: int) -> int:
    return a + b


@workflow
def per_call(marks: str) -> int:
    a = counted.options(cache=False)(marks, 1)
    b = counted(marks, 2)
    c = flaky.options(retry=Retry(attempts=2, initial_delay=0.0, jitter=False))(marks, "retried")
    return add(add(a, b), c)


# ----------------------------------------------------------------------------- elif chains


@workflow
def graded(score: float, marks: str) -> None:
    with when(score >= 0.9):
        mark(marks, "a")
    with orwhen(score >= 0.5):
        mark(marks, "b")
    with orwhen(score >= 0.2):
        mark(marks, "c")
    with otherwise():
        mark(marks, "d")


# ----------------------------------------------------------------------------- fail(message)


@task
def inc(x: int) -> int:
    return x + 1


@task(cache=False)
def note(f: Failure, marks: str) -> None:
    Path(marks, "failure").write_text(json.dumps({"error_type": f.error_type, "message": f.message}))


@workflow(on_failure=note)
def checked(x: int, marks: str) -> int:
    y = inc(x)
    with when(y > 3):
        fail("x is too big")
    return inc(y)


@workflow
def checked_in_map(xs: list[int], marks: str) -> list[int]:
    return map_over(lambda x: checked(x=x, marks=marks), xs)


# ----------------------------------------------------------------------------- exit handlers


@task(cache=False)
def closing(marks: str, failure: Failure | None = None) -> None:
    seen = None if failure is None else {"error_type": failure.error_type, "message": failure.message}
    Path(marks, "closed").write_text(json.dumps(seen))


@workflow
def closed(x: int, marks: str) -> int:
    with exit_handler(closing, marks=marks):
        y = inc(x)
        with when(y > 3):
            fail("x is too big")
    return inc(y)


# ----------------------------------------------------------------------------- a conditional value


@task
def double(x: int) -> int:
    return 2 * x


@workflow
def chosen(x: int) -> int:
    with when(x > 3):
        a = double(x)
    with orwhen(x > 1):
        b = inc(x)
    with otherwise():
        c = epochs(0)
    return inc(one_of(a, b, c))


@workflow
def chosen_raw(x: int) -> int:
    with when(x > 3):
        a = double(x)
    with otherwise():
        b = inc(x)
    return one_of(a, b)


# ----------------------------------------------------------------------------- a map body returning a record


class Pair(NamedTuple):
    up: int
    down: int


class Row(NamedTuple):
    name: str
    score: int
    bonus: int | None
    source: str


@task
def dec(x: int) -> int:
    return x - 1


@task
def scored(cfg: Config) -> Stats:
    return Stats(cfg.n_estimators, cfg.max_depth)


@task
def pick_name(names: list[str], i: int) -> str:
    return names[i % len(names)]


@workflow
def paired(xs: list[int]) -> list[Pair]:
    return map_over(lambda x: Pair(inc(x), dec(x)), xs)


@workflow
def rows(names: list[str], configs: list[Config]) -> list[Row]:
    """Fields from a NamedTuple output, the item, a `when` branch of the body (None where it did not run),
    a constant; a map over the map's records."""

    def body(cfg: Config) -> Row:
        s = scored(cfg)
        with when(s.count > 3):
            bonus = double(cfg.max_depth)
        return Row(name=pick_name(names, cfg.n_estimators), score=s.total, bonus=bonus, source="grid")

    return map_over(body, configs)


@task
def total(rows: list[Row]) -> int:
    return sum(r.score + (r.bonus or 0) for r in rows)


@task
def upto(n: int) -> list[int]:
    return list(range(n))


@workflow
def nested_pairs(ns: list[int]) -> list[list[Pair]]:
    return map_over(lambda n: map_over(lambda x: Pair(inc(x), double(x)), upto(n)), ns)


@workflow
def rows_total(configs: list[Config]) -> int:
    return total(rows(["a", "b"], configs))


class Made(NamedTuple):
    n: int
    text: TypedFile[Text]


@task
def write(n: int) -> TypedFile[Text]:
    out = TypedFile[Text].new(suffix=".txt")
    with open(out, "w", encoding="utf-8") as fh:
        fh.write("x" * n)
    return out


@task
def sizes(made: list[Made]) -> list[int]:
    return [m.n + len(m.text.read_text()) for m in made]


@workflow
def made_files(xs: list[int]) -> list[int]:
    """A record holding a file each map item wrote."""
    return sizes(map_over(lambda x: Made(x, write(x)), xs))
