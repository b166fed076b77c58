"""A hyperparameter sweep: ``map_over`` a list of regularization strengths, pick the best, retrain.

Shows: fan-out with ``map_over`` (one train + evaluate per value, run concurrently), a task that
reduces the list of results, and reuse of another module's tasks. The sweep scores on a validation
split carved out of the training data; the winner is retrained on all training data and scored
once on the untouched test split. Run::

    typedflow run examples/sweep.py:sweep
    typedflow run examples/sweep.py:sweep --input 'Cs=[0.001, 0.1, 10]' --input dataset=wine
    typedflow graph examples/sweep.py:sweep
"""

from __future__ import annotations

from typing import NamedTuple

from train_tabular import Metrics, evaluate, ingest, split, train, validate

from typedflow import map_over, task, workflow


class SweepResult(NamedTuple):
    best_C: float
    validation: list[Metrics]  # one per swept value, in the order of Cs
    test: Metrics


@task
def pick_best(Cs: list[float], scores: list[Metrics]) -> float:
    """The C with the best validation F1 (ties: the smaller C, i.e. the simpler model)."""
    if len(Cs) != len(scores) or not Cs:
        raise ValueError(f"need one score per C, got {len(Cs)} values and {len(scores)} scores")
    best = max(zip(Cs, scores, strict=True), key=lambda cs: (cs[1].f1, -cs[0]))
    return best[0]


@workflow
def sweep(
    dataset: str = "breast_cancer",
    Cs: list[float] = [0.001, 0.01, 0.1, 1.0, 10.0],  # noqa: B006 - encoded into the IR, never mutated
    seed: int = 0,
) -> SweepResult:
    """split → split again for validation → map_over(Cs: train + evaluate) → pick_best → retrain → evaluate."""
    data = validate(ingest(dataset))
    outer = split(data, test_fraction=0.25, seed=seed)
    inner = split(outer.train, test_fraction=0.25, seed=seed)
    scores = map_over(lambda c: evaluate(train(inner.train, C=c), inner.test), Cs)
    best_C = pick_best(Cs, scores)
    final = evaluate(train(outer.train, C=best_C), outer.test)
    return SweepResult(best_C=best_C, validation=scores, test=final)
