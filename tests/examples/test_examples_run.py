"""Every example runs end to end on the local interpreter, through the API and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from typedflow.cli.loader import load_workflow
from typedflow.runtime.running import RunOptions, RunResult, run_workflow

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"

pytest.importorskip("sklearn")


def wf(spec: str) -> Any:
    file, name = spec.split(":")
    return load_workflow(f"{EXAMPLES / file}:{name}")


def run(spec: str, tmp_path: Path, **inputs: Any) -> RunResult:
    return run_workflow(wf(spec), inputs, RunOptions(store=tmp_path / "store"))


def by_key(result: RunResult) -> dict[str, Any]:
    return {n.key: n for n in result.nodes}


# ----------------------------------------------------------------------------- train_tabular


def test_train_tabular_trains_gates_and_registers(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    result = run("train_tabular.py:train_tabular", tmp_path, registry=str(registry))
    assert result.ok, result.failures
    report = result.value
    assert type(report).__name__ == "TrainReport"
    assert report.metrics.accuracy >= 0.9 and 0.0 < report.metrics.f1 <= 1.0
    assert report.metrics.n_test == 143  # 25% of the 569 breast-cancer rows
    assert report.model.sha256
    entry = registry / "breast_cancer" / f"breast_cancer-{report.model.sha256[:12]}"
    assert (entry / "model" / "weights.json").is_file() and (entry / "model" / "model.json").is_file()
    assert json.loads((entry / "metrics.json").read_text())["accuracy"] == report.metrics.accuracy
    lineage = json.loads((entry / "lineage.json").read_text())
    assert lineage["model_sha256"] == report.model.sha256
    assert set(lineage["code_digests"]) == {"train", "evaluate", "register"}
    assert all(d.startswith("sha256:") for d in lineage["code_digests"].values())
    assert len((registry / "breast_cancer" / "index.jsonl").read_text().splitlines()) == 1
    # the registered model file traces back to the data, code and parameters that produced it
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "lineage",
            "trace",
            str(entry / "model" / "weights.json"),
            "--format",
            "json",
            "--log",
            str(tmp_path / "store" / "lineage" / "log.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    tasks = set(re.findall(r'"task": "(\w+)"', out.stdout))
    assert {"train", "split", "validate", "ingest"} <= tasks, out.stdout[:2000]


def test_train_tabular_gate_closed_registers_nothing(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    result = run("train_tabular.py:train_tabular", tmp_path, registry=str(registry), min_accuracy=1.01, dataset="wine")
    assert result.ok
    assert result.value.metrics.accuracy < 1.01
    assert by_key(result)["register"].status == "skipped"
    assert not registry.exists()


def test_failed_validation_stops_the_run_with_a_clear_message(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    result = run("train_tabular.py:train_tabular", tmp_path, registry=str(registry), min_class_fraction=0.45)
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.node == "validate"
    assert failure.error_type.endswith("DataValidationError")
    assert "data validation failed: class balance" in failure.message
    assert "below min_class_fraction=45.0%" in failure.message
    nodes = by_key(result)
    assert {nodes[k].status for k in ("split", "train", "evaluate", "register")} == {"skipped"}
    assert not registry.exists()


def test_a_negative_label_fails_where_the_table_is_returned(tmp_path: Path) -> None:
    # The CSV schema (an int "target", never null nor negative) is checked on the table validate returns.
    mod = sys.modules[wf("train_tabular.py:train_tabular").__module__]
    from typedflow.runtime.execute import TaskError, execute
    from typedflow.runtime.store import LocalStore

    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,target\n1.0,2.0,1\n2.0,3.0,-1\n", encoding="utf-8")
    store = LocalStore(tmp_path / "s")
    uri, sha = store.put_file(bad)  # a task is handed stored content only
    inputs = {
        "data": {"uri": uri, "sha256": sha, "format": None},
        "min_rows": 1,
        "max_null_fraction": 0.0,
        "min_class_fraction": 0.0,
    }
    with pytest.raises(TaskError) as err:
        execute(mod.validate.template, inputs, store=store, use_cache=False)
    assert err.value.error_type == "typedflow.tables.SchemaError"
    assert err.value.message.endswith('column "target": -1 at row 2 breaks Check(ge=0)')


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    mod = sys.modules[wf("train_tabular.py:train_tabular").__module__]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,,0\n2,3,0\n", encoding="utf-8")
    with pytest.raises(mod.DataValidationError) as err:
        mod.validate(mod.TypedFile.from_path(bad), min_rows=10)
    msg = str(err.value)
    for part in (
        "schema: expected feature columns then 'target'",
        "rows: 2 rows",
        "nulls: 1 empty",
        "class balance: need at least 2 classes",
    ):
        assert part in msg


def test_readme_command_prints_one_json_document(tmp_path: Path) -> None:
    # The README's command, verbatim, from a directory that has the examples.
    (tmp_path / "examples").symlink_to(EXAMPLES)
    env = {**os.environ, "TYPEDFLOW_HOME": str(tmp_path / "home")}
    store = tmp_path / "store"
    proc = subprocess.run(
        [sys.executable, "-m", "typedflow", "run", "examples/train_tabular.py:train_tabular", "--store", str(store)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # the whole of stdout is one JSON document
    assert set(doc) == {"metrics", "model"}
    assert doc["metrics"]["accuracy"] >= 0.9
    assert doc["model"]["format"] == "train_tabular:ModelDir"
    model_id = "breast_cancer-" + doc["model"]["sha256"][:12]
    entry = tmp_path / ".typedflow" / "registry" / "breast_cancer" / model_id
    assert (entry / "lineage.json").is_file()
    assert "SUCCEEDED" in proc.stderr
    # the progress says where the model was registered, and ends with where the outputs are
    assert f"\nregistered the model as {model_id} in {entry}\n" in proc.stderr
    assert proc.stderr.endswith(f"\noutput model: {os.path.relpath(doc['model']['uri'], tmp_path)}\n"), proc.stderr

    failed = subprocess.run(
        [
            sys.executable,
            "-m",
            "typedflow",
            "run",
            "examples/train_tabular.py:train_tabular",
            "--store",
            str(store),
            "--input",
            "min_class_fraction=0.45",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert "DataValidationError: data validation failed: class balance" in failed.stderr


# ----------------------------------------------------------------------------- sweep


def test_sweep_maps_picks_and_retrains(tmp_path: Path) -> None:
    result = run("sweep.py:sweep", tmp_path, Cs=[0.001, 1.0])
    assert result.ok, result.failures
    value = result.value
    assert value.best_C in (0.001, 1.0)
    assert len(value.validation) == 2
    best_f1 = max(m.f1 for m in value.validation)
    assert value.validation[[0.001, 1.0].index(value.best_C)].f1 == best_f1
    assert value.test.n_test == 143
    table = value.table.read_table()  # the typed table, read back through its schema
    assert table.column("C").to_pylist() == [0.001, 1.0]
    assert table.column("f1").to_pylist() == [m.f1 for m in value.validation]
    keys = set(by_key(result))
    assert {
        "map[0]/train",
        "map[0]/evaluate",
        "map[1]/train",
        "map[1]/evaluate",
        "tabulate",
        "pick_best",
        "train-2",
        "evaluate-2",
    } <= keys
    again = run("sweep.py:sweep", tmp_path, Cs=[0.001, 1.0])
    assert again.value == value and again.cache_hits == len(again.nodes)


# ----------------------------------------------------------------------------- finetune_data


def test_finetune_data_cleans_converts_trains_and_pushes(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    result = run("finetune_data.py:finetune_data", tmp_path, hub=str(hub))
    assert result.ok, result.failures
    value = result.value
    assert value.dropped_duplicates > 0 and value.kept > 100
    assert value.eval.accuracy >= 0.85 and value.eval.n_eval > 0
    revision = value.model.sha256[:12]
    assert by_key(result)["push"].outputs["out"] == f"support-router@{revision}"
    assert json.loads((hub / "support-router" / revision / "card.json").read_text())["revision"] == revision

    nodes = by_key(result)
    assert nodes["clean"].outputs["kept"] == value.kept
    chats = Path(nodes["to_chat"].outputs["out"]["uri"]).read_text("utf-8").splitlines()
    assert len(chats) == value.kept
    for line in chats:
        msgs = json.loads(line)["messages"]
        assert [m["role"] for m in msgs] == ["system", "user", "assistant"]
        assert msgs[1]["content"] == msgs[1]["content"].strip() and "<p>" not in msgs[1]["content"]
        assert msgs[2]["content"] in {"billing", "shipping", "account", "bug"}
    assert nodes["to_chat"].outputs["out"]["format"] == "finetune_data:ChatJSONL"


def test_finetune_data_gate_closed(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    result = run("finetune_data.py:finetune_data", tmp_path, hub=str(hub), min_accuracy=1.01)
    assert result.ok and by_key(result)["push"].status == "skipped" and not hub.exists()


# ----------------------------------------------------------------------------- nightly


def test_nightly_schedule_and_on_failure_are_in_the_ir() -> None:
    doc = wf("nightly.py:nightly").ir
    assert doc.workflow.schedule == "0 3 * * *"
    assert doc.workflow.on_failure is not None and doc.workflow.on_failure.task == "notify"
    params = {a.param for a in doc.workflow.on_failure.args}
    assert params == {"failure", "outbox"}


def test_nightly_succeeds(tmp_path: Path) -> None:
    paths = {k: str(tmp_path / k) for k in ("registry", "history", "outbox")}
    result = run("nightly.py:nightly", tmp_path, **paths)
    assert result.ok, result.failures
    assert result.value.history_entries == 1 and len(result.value.model_sha256) == 64
    assert "on_failure/notify" not in by_key(result)
    assert not Path(paths["outbox"]).exists()


def test_nightly_failure_runs_notify_with_the_failure(tmp_path: Path) -> None:
    paths = {k: str(tmp_path / k) for k in ("registry", "history", "outbox")}
    result = run("nightly.py:nightly", tmp_path, min_class_fraction=0.45, **paths)
    assert result.status == "failed"
    assert by_key(result)["on_failure/notify"].status == "succeeded"
    [note] = list(Path(paths["outbox"]).glob("*.json"))
    msg = json.loads(note.read_text())
    assert msg["run_id"] == result.run_id and msg["workflow"] == "nightly"
    assert msg["error_type"].endswith("DataValidationError") and "class balance" in msg["message"]
    assert not Path(paths["history"]).exists()


def test_check_with_mypy_passes_on_every_example_from_any_directory(tmp_path: Path) -> None:
    # Run outside the checkout: an editable install's import hooks are invisible to mypy, and
    # scikit-learn ships no type information; neither may turn into errors in the user's report.
    files = sorted(str(p) for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    r = subprocess.run(
        [sys.executable, "-m", "typedflow", "check", "--mypy", *files],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no errors (definition-time checks and mypy)" in r.stdout
