"""A hyperparameter sweep: ``map_over`` a list of regularization strengths, pick the best, retrain.

Shows: fan-out with ``map_over`` (one train + evaluate per value, run concurrently), a task that
reduces the list of results into a typed table (``TypedFile[Parquet[SweepRow]]``, written with
``write_table`` and checked on its data), a consumer that declares only the columns it reads
(``Ranked``: the column rule lets a wider table in), and reuse of another module's tasks. The sweep
scores on a validation split carved out of the training data; the winner is retrained on all
training data and scored once on the untouched test split. Run::

    typedflow run examples/sweep.py:sweep
    typedflow run examples/sweep.py:sweep --input 'Cs=[0.001, 0.1, 10]' --input dataset=wine
    typedflow graph examples/sweep.py:sweep
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from train_tabular import Metrics, evaluate, ingest, split, train, validate

from typedflow import TypedFile, map_over, task, workflow
from typedflow.formats import Parquet
from typedflow.tables import Check, Columns


class SweepRow(Columns):
    """One swept value and its validation scores."""

    C: Annotated[float, Check(gt=0, unique=True)]
    accuracy: Annotated[float, Check(ge=0, le=1)]
    f1: Annotated[float, Check(ge=0, le=1)]
    n_test: int


class Ranked(Columns):
    """What picking the best value reads: any table with these columns will do."""

    C: float
    f1: float


class SweepResult(NamedTuple):
    best_C: float
    validation: list[Metrics]  # one per swept value, in the order of Cs
    table: TypedFile[Parquet[SweepRow]]  # the same scores as a table, one row per C
    test: Metrics


@task
def tabulate(Cs: list[float], scores: list[Metrics]) -> TypedFile[Parquet[SweepRow]]:
    """The sweep's scores as a Parquet table (rows checked against SweepRow before it is written)."""
    if len(Cs) != len(scores) or not Cs:
        raise ValueError(f"need one score per C, got {len(Cs)} values and {len(scores)} scores")
    out: TypedFile[Parquet[SweepRow]] = TypedFile.new(format=Parquet[SweepRow])
    out.write_table(
        [{"C": c, "accuracy": m.accuracy, "f1": m.f1, "n_test": m.n_test} for c, m in zip(Cs, scores, strict=True)]
    )
    return out


@task
def pick_best(results: TypedFile[Parquet[Ranked]]) -> float:
    """The C with the best validation F1 (ties: the smaller C, i.e. the simpler model)."""
    table = results.read_table()
    rows = zip(table.column("C").to_pylist(), table.column("f1").to_pylist(), strict=True)
    return float(max(rows, key=lambda cf: (cf[1], -cf[0]))[0])


@workflow
def sweep(
    dataset: str = "breast_cancer",
    Cs: list[float] = [0.001, 0.01, 0.1, 1.0, 10.0],  # noqa: B006 - encoded into the IR, never mutated
    seed: int = 0,
) -> SweepResult:
    """split → split for validation → map_over(Cs: train + evaluate) → tabulate → pick_best → retrain → evaluate."""
    data = validate(ingest(dataset))
    outer = split(data, test_fraction=0.25, seed=seed)
    inner = split(outer.train, test_fraction=0.25, seed=seed)
    scores = map_over(lambda c: evaluate(train(inner.train, C=c), inner.test), Cs)
    table = tabulate(Cs, scores)
    best_C = pick_best(table)
    final = evaluate(train(outer.train, C=best_C), outer.test)
    return SweepResult(best_C=best_C, validation=scores, table=table, test=final)
