"""A hostile or broken IR document is refused before anything runs or compiles: exit 2 with the JSON
path of the problem, never a traceback, never a hang."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.security import flows
from tests.support.cli import run_cli as _cli
from typedflow.errors import IRValidationError
from typedflow.ir.codec import compute_digest, dumps, from_data, loads


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(dumps(flows.roundtrip.ir))
    return doc


def _redigest(data: dict[str, Any]) -> dict[str, Any]:
    """The document with a digest that matches its (edited) content: only the structure is wrong."""
    data["digest"] = ""
    try:
        doc = from_data(data)
    except IRValidationError:
        import attrs

        from typedflow import ir
        from typedflow.ir.codec import converter

        doc = converter.structure(data, ir.WorkflowIR)
        data["digest"] = compute_digest(attrs.evolve(doc, digest=""))
        return data
    data["digest"] = compute_digest(doc)
    return data


def _cycle(d: dict[str, Any]) -> None:
    # write -> read already; make write read read's output too
    nodes = d["workflow"]["nodes"]
    ref = {"kind": "output", "node": "read", "output": "out", "path": []}
    nodes[0]["args"] = [{"param": "text", "value": ref, "optional": False}]


def _self(d: dict[str, Any]) -> None:
    nodes = d["workflow"]["nodes"]
    nodes[1]["args"][0]["value"]["node"] = "read"


def _dangling_node(d: dict[str, Any]) -> None:
    d["workflow"]["nodes"][1]["args"][0]["value"]["node"] = "nowhere"


def _dangling_output(d: dict[str, Any]) -> None:
    d["workflow"]["nodes"][1]["args"][0]["value"]["output"] = "nope"


def _dangling_input(d: dict[str, Any]) -> None:
    d["workflow"]["nodes"][0]["args"][0]["value"]["name"] = "nope"


def _newline_name(d: dict[str, Any]) -> None:
    d["workflow"]["name"] = "evil\nname"


def _traversal_node(d: dict[str, Any]) -> None:
    d["workflow"]["nodes"][0]["id"] = "../../x"


def _bad_module(d: dict[str, Any]) -> None:
    d["tasks"][0]["module"] = "os; import x"


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("cycle", _cycle, "cycle"),
    ("self", _self, "cycle"),
    ("dangling node", _dangling_node, "unknown node"),
    ("dangling output", _dangling_output, "has none such"),
    ("dangling input", _dangling_input, "unknown input"),
    ("newline in a name", _newline_name, "not a valid name"),
    ("traversal in a node id", _traversal_node, "not a valid name"),
    ("module", _bad_module, "module name"),
]


@pytest.mark.parametrize(("edit", "says"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_structural_problems_are_refused(edit: Callable[[dict[str, Any]], None], says: str) -> None:
    data = _doc()
    edit(data)
    with pytest.raises(IRValidationError, match=says):
        loads(json.dumps(_redigest(data)))


def test_digest_missing_empty_or_wrong() -> None:
    data = _doc()
    data["digest"] = ""
    with pytest.raises(IRValidationError, match="missing"):
        loads(json.dumps(data))
    data["digest"] = "sha256:" + "0" * 64
    with pytest.raises(IRValidationError, match="does not match"):
        loads(json.dumps(data))
    data["digest"] = "sha256:../x"
    with pytest.raises(IRValidationError, match="digest"):
        loads(json.dumps(data))


def test_deep_and_huge_documents_are_refused_quickly() -> None:
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(IRValidationError, match="nested"):
        loads(deep)
    with pytest.raises(IRValidationError, match="not UTF-8"):
        loads(b"\xff\xfe not utf-8")
    with pytest.raises(IRValidationError, match="not JSON"):
        loads("1" * 5000)  # an integer of 5,000 digits


@pytest.mark.parametrize("command", ["run", "compile-sfn", "compile-vertex", "graph"])
def test_the_cli_refuses_a_cyclic_ir_without_a_traceback(tmp_path: Path, command: str) -> None:
    data = _doc()
    _cycle(data)
    path = tmp_path / "cyclic.json"
    path.write_text(json.dumps(_redigest(data)))
    args = {
        "run": ["run", "--ir", str(path), "--store", str(tmp_path / "s"), "--input", "text=x"],
        "compile-sfn": ["compile", "--ir", str(path), "--target", "stepfunctions", "--bucket", "s3://b/p"],
        "compile-vertex": ["compile", "--ir", str(path), "--target", "vertex"],
        "graph": ["graph", "--ir", str(path)],
    }[command]
    r = _cli(*args)  # a cycle used to hang `run` forever: the timeout makes that a failure
    assert r.returncode == 2, r.stderr
    assert "cycle" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s" / "runs").exists()
