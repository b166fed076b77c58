"""Completes the ``ResultWriter`` of the ASL interpreter that moto 5.2.5 vendors and LocalStack 2026.3.0 ships
(the same code): as shipped it writes a ``manifest.json`` listing no result files ("TODO: generate result files
and upload them to s3" in both), so nothing can read a Distributed Map's results back. This writes them as Step
Functions does: ``<Prefix>/<map run id>/manifest.json`` naming ``SUCCEEDED_0.json`` / ``FAILED_0.json``, each a
JSON array of the child executions with that status (``ExecutionArn``, ``Input`` and ``Output`` as JSON text,
``Status``, ``Error``/``Cause`` for a failed one, ...): the layout AWS documents
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html), from what the engine's
own item workers ran (each item's input after ``ItemSelector``, its output or error).

Standard library only: it is applied in process to moto, and inside the LocalStack process by
``localstack_main.py``. ``apply(root)`` takes the package of the interpreter (``moto.stepfunctions.parser`` or
``localstack.services.stepfunctions``)."""

from __future__ import annotations

import datetime
import importlib
import json
import threading
import uuid
from typing import Any

_MAP_PACKAGES = {
    "moto.stepfunctions.parser": "asl.component.state.exec.state_map",
    "localstack.services.stepfunctions": "asl.component.state.state_execution.state_map",
}
_LOCK = threading.Lock()


def apply(root: str) -> None:
    maps = f"{root}.{_MAP_PACKAGES[root]}"
    worker_mod = importlib.import_module(f"{maps}.iteration.itemprocessor.distributed_item_processor_worker")
    writer_mod = importlib.import_module(f"{maps}.result_writer.resource_eval.resource_eval_s3")
    program_state = importlib.import_module(f"{root}.asl.eval.program_state")
    worker_cls = worker_mod.DistributedItemProcessorWorker
    writer_cls = writer_mod.ResourceEvalS3
    if getattr(worker_cls, "_typedflow_patched", False):
        return
    eval_input, eval_job = worker_cls._eval_input, worker_cls._eval_job

    def keep_input(self: Any, env_frame: Any) -> None:
        eval_input(self, env_frame=env_frame)
        env_frame._typedflow_input = env_frame.states.get_input()  # the child's input: the item after ItemSelector

    def record_job(self: Any, env: Any, job: Any) -> None:
        started = _now()
        eval_job(self, env=env, job=job)
        state = env.program_state()
        entry: dict[str, Any] = {
            "index": job.job_index,
            "input": getattr(env, "_typedflow_input", job.job_input),
            "start": started,
            "stop": _now(),
        }
        if isinstance(state, program_state.ProgramError):
            details = state.error or {}
            entry.update(status="FAILED", error=details.get("error"), cause=details.get("cause"))
        elif isinstance(state, program_state.ProgramEnded):
            entry.update(status="SUCCEEDED", output=env.states.get_input())
        else:  # stopped, timed out, or an exception the worker caught
            entry.update(status="FAILED", error="States.Runtime", cause=f"child ended as {type(state).__name__}")
        with _LOCK:
            record = self._map_run_record
            if not hasattr(record, "_typedflow_jobs"):
                record._typedflow_jobs = []
            record._typedflow_jobs.append(entry)

    def put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs, which the files below carry
        s3 = writer_cls._get_s3_client(resource_runtime_part=resource_runtime_part, state_credentials=state_credentials)
        record = env.map_run_record_pool_manager.get_all().pop()
        run_id = record.map_run_arn.split(":")[-1]
        prefix = parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        bucket = parameters["Bucket"]
        jobs = sorted(getattr(record, "_typedflow_jobs", []), key=lambda j: j["index"])
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status in ("SUCCEEDED", "FAILED"):
            entries = [_entry(record, j) for j in jobs if j["status"] == status]
            if entries:
                body = json.dumps(entries).encode()
                key = f"{prefix}{run_id}/{status}_0.json"
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                files[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": record.map_run_arn, "ResultFiles": files}
        key = f"{prefix}{run_id}/manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest, indent=2).encode())
        env.stack.append({"MapRunArn": record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})

    worker_cls._eval_input = keep_input
    worker_cls._eval_job = record_job
    writer_cls._handle_put_object = staticmethod(put_object)
    worker_cls._typedflow_patched = True


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _entry(record: Any, job: dict[str, Any]) -> dict[str, Any]:
    """One child execution as a result file lists it."""
    name = str(uuid.uuid4())
    machine = record.map_run_arn.replace(":mapRun:", ":stateMachine:").rsplit(":", 1)[0]
    out: dict[str, Any] = {
        "ExecutionArn": f"{machine.replace(':stateMachine:', ':execution:')}:{name}",
        "Input": json.dumps(job["input"]),
        "InputDetails": {"Included": True},
        "Name": name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE",
        "StartDate": job["start"],
        "StateMachineArn": machine,
        "Status": job["status"],
        "StopDate": job["stop"],
    }
    if job["status"] == "SUCCEEDED":
        out.update(Output=json.dumps(job["output"]), OutputDetails={"Included": True})
        out["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    else:
        out.update(Error=job.get("error"), Cause=job.get("cause"))
    return out
