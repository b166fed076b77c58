"""One moto session (Step Functions engine on, SQS, S3) and one typedflow SQS worker thread for the
whole test session; one asl-validator node process that checks every definition compiled here."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from typedflow.backends.stepfunctions.compiler import compile_machines, render
from typedflow.backends.stepfunctions.options import Options

from typedflow import ir

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR_PKG = ROOT / ".cache" / "asl" / "node_modules" / "asl-validator"
SCRIPT = ROOT / "tests" / "stepfunctions" / "validate_asl.js"
ROLE = "arn:aws:iam::123456789012:role/typedflow-tests"
BUCKET = "typedflow-tests"


# ----------------------------------------------------------------------------- asl-validator


def _install_validator() -> None:
    """Install the npm asl-validator into .cache/asl on first use, when npm is there."""
    npm = shutil.which("npm")
    if npm is None or VALIDATOR_PKG.exists():
        return
    subprocess.run(
        [
            npm,
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(VALIDATOR_PKG.parents[1]),
            "asl-validator@4",
        ],
        check=False,
        timeout=300,
        capture_output=True,
    )


class AslValidator:
    def __init__(self) -> None:
        node = shutil.which("node")
        if node is not None:
            _install_validator()
        if node is None or not VALIDATOR_PKG.exists():
            why = (
                "asl-validator is not installed: run `npm install --prefix .cache/asl asl-validator@4`"
                if node
                else "node is not installed"
            )
            if os.environ.get("CI"):
                pytest.fail(why + " (CI is set, so this is an error)")
            pytest.skip(why)
        self.dir = Path(tempfile.mkdtemp(prefix="tf-asl-"))
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), str(VALIDATOR_PKG)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.count = 0

    def check(self, definition: dict[str, Any]) -> None:
        self.count += 1
        path = self.dir / f"def-{self.count}.json"
        path.write_text(json.dumps(definition))
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        assert result["isValid"], f"asl-validator rejects {path}: {result['errors']}"

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def asl() -> Iterator[AslValidator]:
    v = AslValidator()
    yield v
    v.close()


# ----------------------------------------------------------------------------- moto


_STAND_IN_DROPPED = "Connection was closed before we received a valid response from endpoint URL"


@attrs.define
class Aws:
    sfn: Any
    sqs: Any
    s3: Any
    scheduler: Any
    queue_url: str
    bucket: str
    worker: Any
    asl: AslValidator
    machines: dict[str, str] = attrs.Factory(dict)

    def options(self, **kw: Any) -> Options:
        kw.setdefault("map_size", 10)  # nested maps of 100 items each would (rightly) warn about history
        return Options(queue_url=self.queue_url, bucket=self.bucket, **kw)

    def compile(self, doc: ir.WorkflowIR, opts: Options | None = None) -> dict[str, Any]:
        """Compile, check with asl-validator, return the definition: that of the root state machine when
        the workflow is split into several (each of which is checked)."""
        machines = compile_machines(doc, opts or self.options())
        for _, d in machines:
            self.asl.check(d)
        return machines[0][1]

    def deploy(self, doc: ir.WorkflowIR, opts: Options | None = None) -> str:
        from typedflow.backends.stepfunctions.deploy import deploy

        opts = opts or self.options()
        self.compile(doc, opts)
        name = f"{doc.workflow.name[:40]}-{doc.digest[7:19]}-{abs(hash(opts)) % 10**6}"
        if name not in self.machines:
            self.machines[name] = deploy(doc, opts, role_arn=ROLE, name=name, sfn=self.sfn, s3=self.s3).arn
        return self.machines[name]

    def run(
        self, doc: ir.WorkflowIR, inputs: dict[str, Any], opts: Options | None = None, timeout: float = 60
    ) -> Execution:
        from typedflow.backends.stepfunctions.deploy import decode_outputs, start, wait
        from typedflow.backends.stepfunctions.runtime import store_for

        opts = opts or self.options()
        arn = self.deploy(doc, opts)
        for _ in range(2):
            name = f"t-{uuid.uuid4().hex[:12]}"
            ex = start(doc, opts, inputs, machine_arn=arn, sfn=self.sfn, s3=self.s3, execution_name=name)
            desc = wait(self.sfn, ex, poll=0.02, timeout=timeout)
            # LocalStack's engine, under load, sometimes loses its own connection to its gateway while it calls a
            # service for a state (botocore's message in a States.Runtime cause): the stand-in failed, not the
            # workflow. Such an execution is run once more; any other failure is the test's to judge.
            if _STAND_IN_DROPPED not in str(desc.get("cause") or ""):
                break
        outputs = None
        if desc["status"] == "SUCCEEDED":
            outputs = decode_outputs(doc, desc.get("output"), store_for(self.bucket, self.s3))
        return Execution(ex, desc["status"], outputs, desc.get("error"), desc.get("cause"), desc.get("output"))

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            page = self.sfn.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events += page["events"]
            token = page.get("nextToken")
            if not token:
                return events


@attrs.frozen
class Execution:
    arn: str
    status: str
    outputs: dict[str, Any] | None
    error: str | None
    cause: str | None
    raw_output: str | None


def _patch_moto_heartbeat_race() -> None:
    """moto 5.2.5 sets up a task's heartbeat endpoint only after the SQS message is sent; an answer
    that arrives before that is never seen by the heartbeat wait, which then times out (AWS has no
    such window). Remember such an early answer and hand it to the endpoint when it is set up."""
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    if getattr(CallbackEndpoint, "_typedflow_patched", False):
        return
    setup, notify = CallbackEndpoint.setup_heartbeat_endpoint, CallbackEndpoint.notify

    def early_notify(self: Any, outcome: Any) -> None:
        if self._heartbeat_endpoint is None:
            self._typedflow_early = True
        notify(self, outcome)

    def late_setup(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = setup(self, heartbeat_seconds=heartbeat_seconds)
        if getattr(self, "_typedflow_early", False):
            self._typedflow_early = False
            endpoint.notify()  # type: ignore[no-untyped-call]  # moto's HeartbeatEndpoint.notify is unannotated
        return endpoint

    CallbackEndpoint.notify = early_notify  # type: ignore[method-assign]
    CallbackEndpoint.setup_heartbeat_endpoint = late_setup  # type: ignore[method-assign]
    CallbackEndpoint._typedflow_patched = True  # type: ignore[attr-defined]


def _normalise_with_service_model(cls: Any, service: str) -> None:
    """Make moto's integration ``cls`` map a state's parameters onto the API's own names and the API's
    response back, with botocore's model of ``service``, as Step Functions does (moto 5.2.5's copy of the
    ASL interpreter leaves ``_normalise_parameters``/``_normalise_response`` empty). What the class
    already does before that (sfn: the ``Input`` object to a JSON string) still runs first."""
    import botocore.session
    from botocore import xform_name

    if getattr(cls, "_typedflow_patched", False):
        return
    model = botocore.session.get_session().get_service_model(service)
    operations = {xform_name(name): model.operation_model(name) for name in model.operation_names}
    own_parameters, own_response = cls._normalise_parameters, cls._normalise_response

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        own_parameters(self, parameters, boto_service_name, service_action_name)
        op = operations[self._get_boto_service_action(service_action_name)]
        if op.input_shape is not None:
            self._to_boto_request(parameters, op.input_shape)

    def normalise_response(
        self: Any, response: Any, boto_service_name: Any = None, service_action_name: Any = None
    ) -> None:
        own_response(self, response, boto_service_name, service_action_name)
        op = operations[self._get_boto_service_action(service_action_name)]
        if op.output_shape is not None:
            self._from_boto_response(response, op.output_shape)

    cls._normalise_parameters = normalise_parameters
    cls._normalise_response = normalise_response
    cls._typedflow_patched = True


def _patch_moto_normalisation() -> None:
    """Without the mapping every ecs:runTask state fails with KeyError 'Cluster', and every
    ``states:startExecution.sync:2`` state (a parent starting a child state machine) with KeyError
    'ExecutionArn'. Step Functions itself (and LocalStack's interpreter, which moto copies) maps them with
    the service model: do it for these two integrations the same way. moto's own ``.sync:2`` waiting (poll
    ``DescribeExecution``, the child's output parsed into ``Output``, a failed child as
    ``States.TaskFailed`` with its description as the cause) then runs as shipped."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_ecs as ecs
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_sfn as sfn

    _normalise_with_service_model(ecs.StateTaskServiceEcs, "ecs")
    _normalise_with_service_model(sfn.StateTaskServiceSfn, "stepfunctions")
    # moto polls a .sync child every 0.5 s; nested children add that up per level (AWS reacts to events)
    callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = 0.05  # type: ignore[misc]  # moto's Final, tuned for tests


def _patch_moto_batch() -> None:
    """moto's ``batch:submitJob.sync`` integration maps its parameters and the job's description with the
    service model, as Step Functions does (see :func:`_patch_moto_normalisation`). A failed job's
    ``States.TaskFailed`` then leaves a Parallel branch or a Map item as itself, as on AWS: moto 5.2.5 re-raises
    a branch's or an item's error as a custom error name, which must not start with ``States.``, so the
    execution failed with ``States.Runtime`` instead (errors our own tasks report never start so)."""
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as batch,
    )

    _normalise_with_service_model(batch.StateTaskServiceBatch, "batch")

    def error_name(error_name: str | None) -> Any:
        if error_name is not None and error_name.startswith("States."):
            return StatesErrorName.from_name(error_name)
        return CustomErrorName(error_name)

    branches_decl.CustomErrorName = error_name  # type: ignore[attr-defined,assignment]  # the patch
    iteration_worker.CustomErrorName = error_name  # type: ignore[attr-defined,assignment]  # the patch


def _patch_moto_task_failure_cause() -> None:
    """moto 5.2.5's ``SendTaskFailure`` handler drops the ``cause`` it is sent (AWS keeps it): a child state
    machine then fails without a cause, and its parent (which reads the child's error and cause from its
    description) cannot. Hand the cause on, as AWS does."""
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "_typedflow_patched", False):
        return

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]  # the patch
    StepFunctionResponse._typedflow_patched = True  # type: ignore[attr-defined]  # our mark on moto's class


def _patch_moto_child_execution_names() -> None:
    """moto 5.2.5's interpreter names an execution started without a ``name`` "None" (AWS gives it a
    UUID), so the second run of a child state machine would collide with the first."""
    from moto.moto_api._internal import mock_random
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if getattr(StepFunctionsParserBackend, "_typedflow_patched", False):
        return
    start = StepFunctionsParserBackend.start_execution

    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kw: Any) -> Any:
        return start(self, state_machine_arn, name or str(mock_random.uuid4()), *args, **kw)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]  # the patch
    StepFunctionsParserBackend._typedflow_patched = True  # type: ignore[attr-defined]  # our mark on moto's class


def _patch_moto_s3_overwrite() -> None:
    """moto 5.2.5 closes an object's buffer the moment the object is overwritten or deleted (its key store
    disposes the old version), so a GetObject of that key in another thread fails with "I/O operation on closed
    file" (S3 replaces an object atomically: a reader gets the old or the new one). The worker threads and the
    test read and write the same keys at once (a run's metadata, content-addressed values written twice), so the
    replaced versions are left to the garbage collector, which closes them once no reader holds them."""
    from moto.s3.utils import _VersionedKeyStore

    if getattr(_VersionedKeyStore, "_typedflow_patched", False):
        return

    def release(versions: Any, kept: Any = ()) -> None:
        for old in versions or ():
            if old not in kept and hasattr(old, "disposed"):
                old.disposed = True  # closed by its __del__, without moto's "not disposed of in time" warning

    def setlist(self: Any, key: Any, list_: Any) -> Any:
        list_ = list(list_) if isinstance(list_, tuple) else list_ if isinstance(list_, list) else [list_]
        release(self.getlist(key, []), list_)
        dict.__setitem__(self, key, list_)

    def pop(self: Any, key: str) -> None:
        release(self.getlist(key, []))
        dict.pop(self, key)

    _VersionedKeyStore.setlist = setlist  # type: ignore[method-assign]  # the patch
    _VersionedKeyStore.pop = pop  # type: ignore[method-assign]  # the patch
    _VersionedKeyStore._typedflow_patched = True  # type: ignore[attr-defined]  # our mark on moto's class


@pytest.fixture(scope="session")
def aws(asl: AslValidator) -> Iterator[Aws]:
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")
    }
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.pop("AWS_PROFILE", None)
    import boto3
    from moto import mock_aws
    from typedflow.backends.stepfunctions.worker import Worker

    # moto logs every failed state with a huge repr; the failures here are intended
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    _patch_moto_heartbeat_race()
    _patch_moto_normalisation()
    _patch_moto_batch()
    _patch_moto_task_failure_cause()
    _patch_moto_child_execution_names()
    _patch_moto_s3_overwrite()
    from tests.support import resultwriter

    resultwriter.apply("moto.stepfunctions.parser")  # the Distributed Map result files moto leaves out
    mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    mock.start()
    try:
        sfn, sqs, s3 = boto3.client("stepfunctions"), boto3.client("sqs"), boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        queue_url = sqs.create_queue(QueueName="typedflow-tasks")["QueueUrl"]
        worker = Worker(
            queue_url,
            bucket=f"s3://{BUCKET}/tf",
            sqs=sqs,
            sfn=sfn,
            s3=s3,
            concurrency=8,
            wait_seconds=0,
            idle_sleep=0.01,
        )
        thread = worker.start()
        yield Aws(sfn, sqs, s3, boto3.client("scheduler"), queue_url, f"s3://{BUCKET}/tf", worker, asl)
        worker.stop()
        thread.join(timeout=10)
    finally:
        mock.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def moto_endpoint(aws: Aws) -> Iterator[str]:
    """An HTTP endpoint onto the session's moto backends, for processes other than this one (a worker, a
    container stand-in): what they do is what the in-process clients see."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# ----------------------------------------------------------------------------- LocalStack

LS_BUCKET = "typedflow-ls-tests"


@pytest.fixture(scope="session")
def localstack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One LocalStack process (host mode, no Docker) for the session, started on first use: installed when
    missing (see :mod:`tests.support.localstack`). A machine where it cannot be installed or started fails
    the tests that need it, naming why: they prove what moto cannot, so they are never skipped. Its
    ``ResultWriter`` is completed as moto's is (:mod:`tests.support.resultwriter`)."""
    from tests.support.localstack import LocalStackUnavailable, Server, install

    try:
        # with the Distributed Map result files LocalStack leaves out (see tests/support/resultwriter.py)
        main = Path(__file__).with_name("localstack_main.py")
        server = Server(install(), tmp_path_factory.mktemp("localstack"), main)
        server.start()
    except LocalStackUnavailable as exc:
        pytest.fail(f"LocalStack is needed by this test and is not available: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def localstack(localstack_server: Any, asl: AslValidator) -> Iterator[Aws]:
    """The session's LocalStack as an :class:`Aws`: real HTTP clients onto it, a bucket, a queue and one
    typedflow SQS worker thread answering the task tokens it sends."""
    import boto3
    from typedflow.backends.stepfunctions.worker import Worker

    def client(service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=localstack_server.endpoint,
            region_name="us-east-1",
            # LocalStack takes a 12-digit key as the account: that of ROLE, which its service integrations
            # assume (the account a child state machine is looked up in)
            aws_access_key_id=ROLE.split(":")[4],
            aws_secret_access_key="testing",
        )

    sfn, sqs, s3 = client("stepfunctions"), client("sqs"), client("s3")
    s3.create_bucket(Bucket=LS_BUCKET)
    queue_url = sqs.create_queue(QueueName="typedflow-tasks")["QueueUrl"]
    bucket = f"s3://{LS_BUCKET}/tf"
    # no task cache: each cache probe and entry is another HTTP request to LocalStack, and what these tests
    # prove is how executions run, not caching (the moto session's worker caches)
    worker = Worker(
        queue_url,
        bucket=bucket,
        sqs=sqs,
        sfn=sfn,
        s3=s3,
        concurrency=8,
        wait_seconds=1,
        idle_sleep=0.01,
        use_cache=False,
    )
    thread = worker.start()
    try:
        yield Aws(sfn, sqs, s3, client("scheduler"), queue_url, bucket, worker, asl)
    finally:
        worker.stop()
        thread.join(timeout=10)


def process_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a process that talks to the session's moto through ``endpoint``: fake
    credentials, no PYTHONPATH, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        AWS_EC2_METADATA_DISABLED="true",
        **extra,
    )
    return env


def run_local(wf: Any, inputs: dict[str, Any], tmp: Path) -> Any:
    from typedflow.runtime.running import RunOptions, run_workflow

    return run_workflow(wf, inputs, RunOptions(store=tmp / f"local-{uuid.uuid4().hex[:8]}"))


__all__ = ["LS_BUCKET", "Aws", "Execution", "process_env", "render", "run_local"]
