"""Dates and datetimes are ordered in a condition, as in Python (compared as their isoformat text)."""

from datetime import date, datetime

from typedflow import otherwise, task, when, workflow


@task
def last_partition(table: str) -> date:
    return date(2026, 1, 5)


@task
def last_trained(model: str) -> datetime:
    return datetime(2026, 1, 4, 7, 30)


@task
def backfill(table: str, since: date) -> int:
    return 0


@task
def retrain(model: str) -> str:
    return model


@workflow
def freshness(table: str, model: str, cutoff: date, trained_after: datetime) -> None:
    newest = last_partition(table)
    with when(newest < cutoff):
        backfill(table, since=newest)
    with when(last_trained(model) <= trained_after):
        retrain(model)
    with otherwise():
        retrain("baseline")
