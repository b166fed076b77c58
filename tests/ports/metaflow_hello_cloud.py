"""Metaflow's tutorial 05-hello-cloud (``HelloCloudFlow``): a step with resources and retries between two others.

``@kubernetes(cpu=1, memory=500)`` and ``@retry`` are the task's ``resources`` and ``retry`` (Metaflow's
default of three retries: four attempts); each target applies them (Step Functions' Retry, Vertex's
resources and retry policy). Metaflow's ``start → hello → end`` passes no data between ``start`` and
``hello``: ``with after(...)`` orders them. Each step also records which steps had run before it
into ``log`` (``cache=False``: that is an effect outside the store), so the order is observable.
"""

from __future__ import annotations

from pathlib import Path

from typedflow import Resources, Retry, after, task, workflow


def _mark(log: str, name: str) -> None:
    seen = sorted(p.name for p in Path(log).iterdir())
    Path(log, name).write_text(",".join(seen), encoding="utf-8")


@task(cache=False)
def start(log: str) -> None:
    print("HelloCloud is starting.")
    _mark(log, "start")


@task(cache=False, resources=Resources(cpu=1, memory="500Mi"), retry=Retry(attempts=4))
def hello(log: str) -> str:
    message = "Hi from the cloud!"
    print(f"Metaflow says: {message}")
    _mark(log, "hello")
    return message


@task(cache=False)
def end(log: str) -> None:
    print("HelloCloud is finished.")
    _mark(log, "end")


@workflow
def hello_cloud(log: str) -> str:
    started = start(log)
    with after(started):
        message = hello(log)
    with after(message):
        end(log)
    return message


def reference(log: str) -> str:
    for step in ("start", "hello", "end"):
        _mark(log, step)
    return "Hi from the cloud!"
