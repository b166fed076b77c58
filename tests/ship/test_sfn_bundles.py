"""Step Functions end to end in moto with code from bundles: a `typedflow worker` process started in
an empty folder, without PYTHONPATH, runs the corpus from its bundle; two deployed versions of a
workflow run side by side, each with its own code; a bundle that does not match its digest is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typedflow.backends.stepfunctions.deploy import decode_outputs, deploy, start, wait
from typedflow.backends.stepfunctions.options import Options, from_mapping
from typedflow.backends.stepfunctions.runtime import store_for

from tests.ship.projects import corpus_source, forget, load, unique, write_project
from tests.support.aws import ROLE, Aws, process_env, run_local

WORKER = [sys.executable, "-m", "typedflow", "worker", "stepfunctions"]


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], queue_url: str, cache: Path, log: Path) -> None:
        self.proc, self.queue_url, self.cache, self.log = proc, queue_url, cache, log


@pytest.fixture(scope="module")
def worker(aws: Aws, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """``typedflow worker stepfunctions`` in an empty folder, its own queue, no PYTHONPATH."""
    queue_url = aws.sqs.create_queue(QueueName=f"tf-ship-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    empty = tmp_path_factory.mktemp("worker-cwd")
    cache = tmp_path_factory.mktemp("worker-code")
    log = tmp_path_factory.mktemp("worker-log") / "worker.log"
    env = process_env(moto_endpoint, TYPEDFLOW_CODE_CACHE=str(cache), TYPEDFLOW_S3_CACHE=str(empty.parent / "s3c"))
    assert "PYTHONPATH" not in env
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*WORKER, "--queue-url", queue_url, "--bucket", aws.bucket, "--concurrency", "4"],
            cwd=empty,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield Worker(proc, queue_url, cache, log)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    assert list(empty.iterdir()) == []  # nothing was written where the worker started


def _options(aws: Aws, worker: Worker, shipped: Any) -> Options:
    return from_mapping({"queue_url": worker.queue_url, "bucket": aws.bucket, "map_size": 10, "shipment": shipped})


def _run(aws: Aws, doc: Any, opts: Options, inputs: dict[str, Any], arn: str, timeout: float = 60) -> dict[str, Any]:
    ex = start(doc, opts, inputs, machine_arn=arn, sfn=aws.sfn, s3=aws.s3, execution_name=f"s-{uuid.uuid4().hex[:12]}")
    desc = wait(aws.sfn, ex, poll=0.05, timeout=timeout)
    return desc


def _outputs(aws: Aws, doc: Any, desc: dict[str, Any]) -> dict[str, Any]:
    assert desc["status"] == "SUCCEEDED", (desc.get("error"), desc.get("cause"))
    return decode_outputs(doc, desc.get("output"), store_for(aws.bucket, aws.s3))


CORPUS: list[tuple[str, dict[str, Any]]] = [
    ("chain", {"x": 3}),
    ("diamond", {"x": 4}),
    ("fan", {"n": 7, "k": 5}),
    ("branch", {"x": 7, "name": "loud"}),
    ("outer", {"x": 5}),
    ("files", {"n": 12}),
    ("nested", {"n": 3, "k": 2}),
]


def test_the_corpus_runs_from_its_bundle(aws: Aws, worker: Worker, tmp_path: Path) -> None:
    module = unique("sfncorpus")
    project = write_project(tmp_path / "project", {f"{module}.py": corpus_source(module)})
    try:
        for name, inputs in CORPUS:
            wf, shipped = load(project, module, name)
            assert shipped.bundle is not None and shipped.bundle.names() == {f"{module}.py"}
            opts = _options(aws, worker, shipped)
            d = deploy(
                wf.ir, opts, role_arn=ROLE, name=f"{name}-{module}"[:80], sfn=aws.sfn, s3=aws.s3, shipment=shipped
            )
            assert d.code == shipped.bundle.digest
            local = run_local(wf, inputs, tmp_path)
            assert local.ok
            assert _outputs(aws, wf.ir, _run(aws, wf.ir, opts, inputs, d.arn)) == local.outputs, name
    finally:
        forget(module)
    # the worker imported the corpus from its code cache, nowhere else
    assert shipped.bundle is not None
    assert [p.name for p in worker.cache.iterdir() if not p.name.startswith(".")] == [shipped.bundle.hex]
    assert worker.proc.poll() is None, worker.log.read_text()[-3000:]


VERSIONED = """
import os
import time

from typedflow import map_over, task, workflow

from {helpers} import scale


@task
def score(x: int) -> int:
    deadline = time.monotonic() + 120
    while GATE and not os.path.exists(GATE) and time.monotonic() < deadline:
        time.sleep(0.05)
    return scale(x) + BONUS


BONUS = {bonus}
GATE = {gate!r}  # a file the test creates when this version may finish ("": at once)


@workflow
def versioned(xs: list[int]) -> list[int]:
    return map_over(lambda x: score(x=x), xs)
"""
HELPERS = """
def scale(x: int) -> int:
    return x * {factor}
"""


def test_two_versions_run_side_by_side_each_with_its_own_code(aws: Aws, worker: Worker, tmp_path: Path) -> None:
    # moto cannot start an execution of a version ARN (its versions have no executions), so the old
    # version's execution is started before the new version is deployed, and is still running when the
    # new version's execution starts: both run at once, on one worker, each with its own code.
    module, helpers = unique("shipver"), unique("shiphelp")
    name = f"versioned-{module}"[:80]
    running = []
    try:
        gate = tmp_path / "old-may-finish"  # the old version's tasks wait for it, however slow the machine
        for n, (factor, bonus, held) in enumerate([(2, 0, True), (10, 1, False)]):
            project = write_project(
                tmp_path / f"v{n}",
                {
                    f"{module}.py": VERSIONED.format(helpers=helpers, bonus=bonus, gate=str(gate) if held else ""),
                    f"{helpers}.py": HELPERS.format(factor=factor),
                },
            )
            forget(helpers)
            wf, shipped = load(project, module, "versioned")
            opts = _options(aws, worker, shipped)
            d = deploy(wf.ir, opts, role_arn=ROLE, name=name, sfn=aws.sfn, s3=aws.s3, shipment=shipped)
            assert d.version_arn is not None and d.version_arn.endswith(f":{n + 1}")
            assert d.created == (n == 0) and d.updated == (n == 1)
            ex = start(
                wf.ir,
                opts,
                {"xs": [1, 2, 3]},
                machine_arn=d.arn,
                sfn=aws.sfn,
                s3=aws.s3,
                execution_name=f"v{n}-{uuid.uuid4().hex[:8]}",
            )
            running.append((wf.ir, opts, ex))
        assert running[0][1].code != running[1][1].code
        new = wait(aws.sfn, running[1][2], poll=0.05, timeout=60)
        assert aws.sfn.describe_execution(executionArn=running[0][2])["status"] == "RUNNING"  # side by side
        assert _outputs(aws, running[1][0], new) == {"out": [11, 21, 31]}
        gate.touch()
        old = wait(aws.sfn, running[0][2], poll=0.05, timeout=60)
        assert _outputs(aws, running[0][0], old) == {"out": [2, 4, 6]}
    finally:
        forget(module, helpers)


def test_a_bundle_that_does_not_match_its_digest_is_never_imported(aws: Aws, worker: Worker, tmp_path: Path) -> None:
    module = unique("shiptamper")
    project = write_project(tmp_path / "p", {f"{module}.py": VERSIONED.format(helpers=module + "_h", bonus=7, gate="")})
    (project / f"{module}_h.py").write_text(HELPERS.format(factor=3))
    try:
        wf, shipped = load(project, module, "versioned")
        assert shipped.bundle is not None
        opts = _options(aws, worker, shipped)
        d = deploy(wf.ir, opts, role_arn=ROLE, name=f"tamper-{module}", sfn=aws.sfn, s3=aws.s3, shipment=shipped)
        # someone replaces the bundle in the store with other code
        (project / f"{module}_h.py").write_text("import os\n\ndef scale(x: int) -> int:\n    return 0\n")
        from typedflow.shipping.bundle import build

        evil = build(project).zip_bytes()
        bucket, prefix = aws.bucket.removeprefix("s3://").split("/", 1)
        aws.s3.put_object(Bucket=bucket, Key=f"{prefix}/code/{shipped.bundle.hex}.zip", Body=evil)
        desc = _run(aws, wf.ir, opts, {"xs": [1]}, d.arn)
        assert desc["status"] == "FAILED"
        assert desc.get("error") == "typedflow.RequestError"
        assert not (worker.cache / shipped.bundle.hex).exists()
    finally:
        forget(module, module + "_h")


def test_a_worker_request_names_the_bundle_in_the_definition(aws: Aws, worker: Worker, tmp_path: Path) -> None:
    module = unique("shipdef")
    project = write_project(tmp_path / "p", {f"{module}.py": VERSIONED.format(helpers=module + "_h", bonus=0, gate="")})
    (project / f"{module}_h.py").write_text(HELPERS.format(factor=1))
    try:
        wf, shipped = load(project, module, "versioned")
        from typedflow.backends.stepfunctions.compiler import compile_definition

        definition = json.dumps(compile_definition(wf.ir, _options(aws, worker, shipped)))
        assert definition.count(f'"code": "{shipped.bundle.digest}"') >= 1  # type: ignore[union-attr]
        assert '"code.$"' not in definition  # a constant: execution input never chooses the code
    finally:
        forget(module, module + "_h")


CRASHING = """
import os

from typedflow import task, workflow


@task
def crash(x: int) -> int:
    if x < 0:
        os._exit(3)  # the whole process goes, as a segfault in a native library would take it
    return x + 1


@workflow
def crashing(x: int) -> int:
    return crash(x=x)
"""


def test_a_bundle_process_that_dies_fails_its_task_and_is_started_again(
    aws: Aws, worker: Worker, tmp_path: Path
) -> None:
    module = unique("shipcrash")
    project = write_project(tmp_path / "p", {f"{module}.py": CRASHING})
    try:
        wf, shipped = load(project, module, "crashing")
        opts = _options(aws, worker, shipped)
        d = deploy(wf.ir, opts, role_arn=ROLE, name=f"crash-{module}", sfn=aws.sfn, s3=aws.s3, shipment=shipped)
        dead = _run(aws, wf.ir, opts, {"x": -1}, d.arn)
        assert dead["status"] == "FAILED" and dead.get("error") == "typedflow.WorkerError"
        again = _run(aws, wf.ir, opts, {"x": 1}, d.arn)
        assert again["status"] == "SUCCEEDED", worker.log.read_text()[-3000:]
        assert _outputs(aws, wf.ir, again) == {"out": 2}
        assert worker.proc.poll() is None  # the worker itself lives on
    finally:
        forget(module)
