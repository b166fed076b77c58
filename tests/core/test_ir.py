"""The IR: canonical JSON, schema on load, determinism, digests, and the traced graph's edges."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import import_source
from tests.support import dags
from typedflow import WorkflowDefinitionError, ir
from typedflow.dsl.source import code_digest
from typedflow.errors import IRValidationError
from typedflow.ir.codec import dumps, loads

PIPELINE = """
from typing import NamedTuple
from typedflow import task, workflow, TypedFile, when, otherwise, map_over, Retry, Resources
from typedflow.formats import CSV

class M(NamedTuple):
    acc: float
    n: int

@task(retry=Retry(attempts=2, initial_delay=0.5), resources=Resources(cpu=0.5, memory="512Mi"), timeout=30)
def load(n: int) -> TypedFile[CSV]: ...

@task
def score(data: TypedFile[CSV], k: float) -> M: ...

@task
def label(m: M) -> str: ...

@workflow
def sub(k: float, data: TypedFile[CSV]) -> M:
    return score(data=data, k=k)

@workflow(schedule="0 3 * * *")
def main(n: int, ks: list[float]) -> list[str]:
    d = load(n=n)
    ms = map_over(lambda k: label(m=sub(k=k, data=d)), ks, max_concurrency=4)
    m = score(data=d, k=0.1)
    with when((m.acc >= 0.5) & (m.n != 3)):
        label(m=m)
    with otherwise():
        label(m=score(data=d, k=0.2))
    return ms
"""


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    return import_source(tmp_path_factory.mktemp("ir"), PIPELINE, name="ir_pipeline_mod")


def test_round_trip_is_identity(pipeline) -> None:
    doc = pipeline.main.ir
    text = dumps(doc)
    assert loads(text) == doc
    assert dumps(loads(text)) == text
    data = json.loads(text)
    assert list(data) == sorted(data)  # canonical: sorted keys
    assert doc.digest.startswith("sha256:") and doc.typedflow_version and doc.python_version
    assert doc.subworkflows[0].name == "sub"


def test_canonical_floats_and_no_whitespace(pipeline) -> None:
    text = dumps(pipeline.main.ir)
    assert '"cpu":0.5' in text and '"initial_delay":0.5' in text and ", " not in text.replace('", "', "")


def test_deterministic_across_processes(tmp_path: Path) -> None:
    (tmp_path / "det_mod.py").write_text(PIPELINE)
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import det_mod; "
        "from typedflow.ir.codec import dumps; sys.stdout.write(dumps(det_mod.main.ir))"
    )
    outs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=tmp_path).stdout
        for _ in range(2)
    ]
    assert outs[0] == outs[1] and len(outs[0]) > 1000


def test_schema_rejects_malformed_ir_with_path(pipeline) -> None:
    data = json.loads(dumps(pipeline.main.ir))
    bad = json.loads(json.dumps(data))
    bad["tasks"][0]["retry"]["attempts"] = 0
    with pytest.raises(IRValidationError) as info:
        loads(json.dumps(bad))
    assert info.value.path == "$.tasks[0].retry.attempts"
    bad = json.loads(json.dumps(data))
    bad["workflow"]["nodes"][0]["bogus"] = 1
    with pytest.raises(IRValidationError, match=r"\$\.workflow\.nodes\[0\]"):
        loads(json.dumps(bad))
    bad = json.loads(json.dumps(data))
    bad["tasks"][1]["resources"]["memory"] = "4GB"
    with pytest.raises(IRValidationError, match="memory"):
        loads(json.dumps(bad))
    with pytest.raises(IRValidationError, match="not JSON"):
        loads("{")


def test_edited_ir_fails_digest_and_references(pipeline) -> None:
    data = json.loads(dumps(pipeline.main.ir))
    data["tasks"][0]["version"] = "edited"
    with pytest.raises(IRValidationError, match="digest"):
        loads(json.dumps(data))
    data = json.loads(dumps(pipeline.main.ir))
    data["digest"] = ""
    data["workflow"]["nodes"][0]["task"] = "nope"
    with pytest.raises(IRValidationError, match='unknown task "nope"'):
        loads(json.dumps(data))


def test_code_digest_normalized(tmp_path: Path) -> None:
    a = import_source(tmp_path, "def f(x: int) -> int:\n    return x + 1\n")
    b = import_source(tmp_path, "def f(x: int) -> int:  # a comment\n    '''doc'''\n\n    return (x + 1)\n")
    c = import_source(tmp_path, "def f(x: int) -> int:\n    return x + 2\n")
    assert code_digest(a.f) == code_digest(b.f) != code_digest(c.f)


def test_ir_records_policies_and_blocks(pipeline) -> None:
    doc = pipeline.main.ir
    load = doc.task("load")
    assert load.retry == ir.RetryPolicy(attempts=2, backoff=2.0, initial_delay=0.5, max_delay=60.0)
    assert load.timeout == 30.0 and load.resources.cpu == 0.5
    assert doc.workflow.schedule == "0 3 * * *"
    m = next(n for n in doc.workflow.nodes if isinstance(n, ir.MapNode))
    assert m.max_concurrency == 4 and m.item_type == ir.TypeRef("float")
    assert isinstance(m.body[0], ir.SubWorkflowNode) and m.body[0].workflow == "sub"
    cond = next(n for n in doc.workflow.nodes if isinstance(n, ir.ConditionalNode))
    assert isinstance(cond.branches[0].condition, ir.And) and cond.branches[1].condition is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=dags.dag_specs())
def test_traced_edges_are_the_constructed_edges(tmp_path: Path, spec: dags.DagSpec) -> None:
    text, _ = dags.source(spec)
    mod = dags.load(tmp_path, text)
    nodes = {n.id: n for n in mod.wf.ir.workflow.nodes if isinstance(n, ir.TaskNode)}
    for i, deps in enumerate(spec.deps):
        node = nodes[f"t{i}"]
        got = sorted(a.value.node for a in node.args if isinstance(a.value, ir.OutputRef))
        assert got == sorted(f"t{d}" for d in deps)
    assert loads(dumps(mod.wf.ir)) == mod.wf.ir


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=dags.dag_specs(broken=True))
def test_ill_typed_binding_rejected_at_its_line(tmp_path: Path, spec: dags.DagSpec) -> None:
    text, lines = dags.source(spec)
    with pytest.raises(WorkflowDefinitionError) as info:
        dags.load(tmp_path, text)
    assert spec.broken is not None
    got = {(p.loc.line, p.code) for p in info.value.problems}
    assert got == {(lines[spec.broken], "arg-type")}


def test_compiled_output_does_not_depend_on_the_working_directory(tmp_path: Path) -> None:
    """The IR names files relative to their import root: compiling the same file from its own
    folder, from a parent folder or from elsewhere (an absolute path) gives the same bytes, and
    messages still show the path as typed from the working directory."""
    pkg = tmp_path / "proj" / "flows"
    pkg.mkdir(parents=True)
    (pkg / "pipe.py").write_text(PIPELINE)
    bad = pkg / "bad.py"
    bad.write_text(PIPELINE + "\n@workflow\ndef broken(s: str) -> TypedFile[CSV]:\n    return load(n=s)\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def tf(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "typedflow", *args], cwd=cwd, capture_output=True, text=True, check=False
        )

    for target in ("ir", "stepfunctions", "vertex"):
        outs = []
        for cwd, spec in (
            (pkg, "pipe.py:main"),
            (pkg.parent, "flows/pipe.py:main"),
            (elsewhere, f"{pkg / 'pipe.py'}:main"),
        ):
            done = tf(cwd, "compile", spec, "--target", target)
            assert done.returncode == 0, done.stderr
            outs.append(done.stdout)
        assert outs[0] == outs[1] == outs[2], target
    doc = loads(tf(elsewhere, "compile", f"{pkg / 'pipe.py'}:main", "--target", "ir").stdout)
    assert doc.workflow.loc is not None and doc.workflow.loc.file == "pipe.py"
    assert {t.loc.file if t.loc else None for t in doc.tasks} == {"pipe.py"}
    for cwd, shown in ((pkg, "bad.py"), (pkg.parent, "flows/bad.py"), (elsewhere, str(bad))):
        done = tf(cwd, "check", shown + ":broken")
        assert done.returncode == 1
        assert done.stdout.startswith(f"{shown}:"), (cwd, done.stdout)


def test_code_digest_covers_module_constants_and_helpers(tmp_path: Path) -> None:
    # Flyte's map-task example: a task reading a module-level threshold through a helper.
    def digest_of(source: str) -> str:
        mod = import_source(tmp_path, source)
        return code_digest(mod.keep)

    base = """
        THRESHOLD = {t}
        LABELS = {{"b", "a"}}
        def helper(x: float) -> bool:
            return x > THRESHOLD and deeper(x)
        def deeper(x: float) -> bool:
            return x {op} 100
        def keep(xs: list[float]) -> list[float]:
            return [x for x in xs if helper(x)] + [len(LABELS)]
    """
    same = digest_of(base.format(t=0.5, op="<"))
    assert digest_of(base.format(t=0.5, op="<")) == same  # another module, the same code and values
    assert digest_of(base.format(t=0.7, op="<")) != same  # a constant the helper reads
    assert digest_of(base.format(t=0.5, op="<=")) != same  # a helper of the helper
    # library code is not digested: the environment pins it
    import json

    lib = import_source(tmp_path, "import json\ndef keep(xs: list[float]) -> str:\n    return json.dumps(xs)\n")
    assert code_digest(lib.keep) == code_digest(lib.keep) and json.dumps([1]) == "[1]"
