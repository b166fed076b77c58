"""A scheduled retraining workflow with a failure handler.

Shows: ``@workflow(schedule=..., on_failure=...)``, a sub-workflow call (the whole
``train_tabular`` pipeline is one node here), and an ``on_failure`` task that receives a typed
``typedflow.Failure`` (workflow, run id, failed node, error type, message, traceback).

Locally, ``typedflow run`` ignores the schedule and runs once; when any node fails, ``notify`` runs
after the failure and the run still ends as failed. Run::

    typedflow run examples/nightly.py:nightly
    typedflow run examples/nightly.py:nightly --input min_class_fraction=0.45   # fails; notify writes to the outbox

What the cloud targets make of the two options (see docs/stepfunctions.md and docs/vertex.md for the
exact documents):

* schedule ``"0 3 * * *"`` (5-field cron, UTC): Step Functions gets an EventBridge Scheduler
  schedule ``cron(0 3 * * ? *)`` whose target starts the state machine with the default inputs;
  Vertex AI gets a ``PipelineJobSchedule`` with ``cron="0 3 * * *"`` for the compiled pipeline.
* ``on_failure=notify``: in Step Functions the body runs inside a state with a ``Catch`` on
  ``States.ALL`` that routes to the ``notify`` task state (its ``failure`` input is built from the
  caught error) and then to a ``Fail`` state, so the execution is still reported as failed; in
  Vertex AI the pipeline body is wrapped in a KFP ``ExitHandler`` whose exit task is ``notify``, fed
  the pipeline's final status, and which does nothing when that status is success.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

from train_tabular import TrainReport, train_tabular

from typedflow import Failure, task, workflow


class NightlySummary(NamedTuple):
    accuracy: float
    model_sha256: str
    history_entries: int


# Both tasks below write outside the artifact store, so they must run every time (no cache).
@task(cache=False)
def notify(failure: Failure, outbox: str = ".typedflow/outbox") -> str:
    """Write the failure to ``outbox/<run id>.json`` and stderr (stand-in for Slack/e-mail/PagerDuty)."""
    path = Path(outbox).absolute() / f"{failure.run_id or 'unknown-run'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    msg = {
        "workflow": failure.workflow,
        "run_id": failure.run_id,
        "node": failure.node,
        "error_type": failure.error_type,
        "message": failure.message,
    }
    path.write_text(json.dumps(msg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(
        f"[notify] {failure.workflow} failed at {failure.node}: {failure.error_type}: {failure.message}",
        file=sys.stderr,
    )
    return str(path)


@task(cache=False)
def record_nightly(report: TrainReport, history: str = ".typedflow/nightly.jsonl") -> NightlySummary:
    """Append tonight's metrics to a history file (one JSON line per night)."""
    path = Path(history).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(
            json.dumps(
                {"accuracy": report.metrics.accuracy, "f1": report.metrics.f1, "model_sha256": report.model.sha256},
                sort_keys=True,
            )
            + "\n"
        )
    with open(path, encoding="utf-8") as fh:
        entries = sum(1 for line in fh if line.strip())
    return NightlySummary(
        accuracy=report.metrics.accuracy, model_sha256=report.model.sha256 or "", history_entries=entries
    )


@workflow(schedule="0 3 * * *", on_failure=notify)
def nightly(
    dataset: str = "breast_cancer",
    min_accuracy: float = 0.9,
    min_class_fraction: float = 0.2,
    registry: str = ".typedflow/registry",
    history: str = ".typedflow/nightly.jsonl",
    outbox: str = ".typedflow/outbox",
) -> NightlySummary:
    """Retrain on fresh data every night at 03:00 UTC; notify on any failure."""
    report = train_tabular(
        dataset=dataset, min_accuracy=min_accuracy, min_class_fraction=min_class_fraction, registry=registry
    )
    return record_nightly(report, history=history)
