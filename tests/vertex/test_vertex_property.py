"""Random typed DAGs (tasks, when/otherwise, exit_handler, map_over, with and without tolerated_failure) compile to
specs that parse strictly and pass the structural checker."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from typedflow.backends.vertex.compiler import compile_spec

from tests.support.vertex_spec import check, check_strict
from typedflow import ir

LOC = ir.SourceLoc("gen.py", 1)
TYPES = [
    ir.TypeRef("int"),
    ir.TypeRef("float"),
    ir.TypeRef("str"),
    ir.TypeRef("list", (ir.TypeRef("int"),)),
    ir.TypeRef("dict", (ir.TypeRef("float"),)),
]
FAILURE = ir.TypeRef("optional", (ir.TypeRef("record", name="typedflow.dsl.failure:Failure"),))
CONSTS: dict[str, Any] = {"int": 1, "float": 0.5, "str": "s", "list": [1, 2], "dict": {"a": 1.0}}


def template(i: int, ins: list[ir.TypeRef], out: ir.TypeRef) -> ir.TaskTemplate:
    return ir.TaskTemplate(
        name=f"t{i}",
        module="gen",
        qualname=f"t{i}",
        code_digest=f"sha256:{i}",
        inputs=tuple(ir.Param(f"p{j}", t) for j, t in enumerate(ins)),
        outputs=(ir.Param("out", out),),
        returns=out,
    )


@st.composite
def workflows(draw: st.DrawFn, tolerant: bool = False, handler_in_map: bool = False) -> ir.WorkflowIR:
    """``handler_in_map``: the workflow starts with a map whose item starts with an exit_handler block."""
    inputs = (ir.Param("x", ir.TypeRef("int")), ir.Param("xs", ir.TypeRef("list", (ir.TypeRef("int"),))))
    templates: list[ir.TaskTemplate] = []
    counter = [0]

    def new_task(avail: list[tuple[ir.Binding, ir.TypeRef]]) -> tuple[ir.TaskNode, ir.TypeRef]:
        i = counter[0]
        counter[0] += 1
        n_in = draw(st.integers(0, 3))
        ins = [draw(st.sampled_from(TYPES)) for _ in range(n_in)]
        out = draw(st.sampled_from(TYPES))
        args = []
        for j, t in enumerate(ins):
            choices = [b for b, bt in avail if bt == t]
            if bool(choices) and draw(st.booleans()):
                args.append(ir.Arg(f"p{j}", draw(st.sampled_from(choices))))
            else:
                args.append(ir.Arg(f"p{j}", ir.Const(CONSTS[t.kind])))
        templates.append(template(i, ins, out))
        return ir.TaskNode(f"t{i}", f"t{i}", tuple(args), LOC), out

    def block(
        avail: list[tuple[ir.Binding, ir.TypeRef]], depth: int, first: str | None = None
    ) -> tuple[list[ir.Node], list[Any]]:
        nodes: list[ir.Node] = []
        mine: list[tuple[ir.Binding, ir.TypeRef]] = []
        for k in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["task", "task", "when", "map", "exit"] if depth < 2 else ["task"]))
            if k == 0 and first is not None:
                kind = first
            seen = avail + mine
            if kind == "task":
                node, out = new_task(seen)
                nodes.append(node)
                mine.append((ir.OutputRef(node.id, "out"), out))
            elif kind == "exit":  # with exit_handler(h, p0, failure): its values are read after it
                body, body_avail = block(seen, depth + 1)
                ints = [b for b, t in seen if t.kind == "int"]
                i = counter[0]
                counter[0] += 1
                templates.append(
                    ir.TaskTemplate(
                        name=f"h{i}",
                        module="gen",
                        qualname=f"h{i}",
                        code_digest=f"sha256:h{i}",
                        inputs=(ir.Param("p0", ir.TypeRef("int")), ir.Param("failure", FAILURE)),
                        outputs=(),
                        returns=ir.TypeRef("none"),
                    )
                )
                args = (ir.Arg("p0", draw(st.sampled_from(ints))), ir.Arg("failure", ir.FailureRef()))
                nodes.append(ir.ExitHandlerNode(f"exit-{i}", tuple(body), ir.OnFailure(f"h{i}", args, LOC), LOC))
                mine.extend(body_avail)
            elif kind == "when":
                ints = [b for b, t in seen if t.kind == "int"]
                cond = ir.Compare(draw(st.sampled_from(["<", "==", ">="])), draw(st.sampled_from(ints)), ir.Const(2))
                arms = [ir.Branch(cond, tuple(block(seen, depth + 1)[0]), LOC)]
                if draw(st.booleans()):
                    arms.append(ir.Branch(None, tuple(block(seen, depth + 1)[0]), LOC))
                nodes.append(ir.ConditionalNode(f"when-{counter[0]}-{len(nodes)}", tuple(arms), LOC))
            else:
                lists = [b for b, t in seen if t.kind == "list"]
                mid = f"map-{counter[0]}-{len(nodes)}"
                inner = "exit" if handler_in_map and depth == 0 else None
                body, body_avail = block([*seen, (ir.ItemRef(mid), ir.TypeRef("int"))], depth + 1, inner)
                result, rtype = draw(st.sampled_from(body_avail or [(ir.ItemRef(mid), ir.TypeRef("int"))]))
                nodes.append(
                    ir.MapNode(
                        mid,
                        ir.Arg("items", draw(st.sampled_from(lists))),
                        ir.TypeRef("int"),
                        tuple(body),
                        result,
                        rtype,
                        draw(st.sampled_from([None, 2])),
                        LOC,
                        tolerated_failure=(0.5 if inner else draw(st.sampled_from([0.0, 0.5]))) if tolerant else 0.0,
                    )
                )
                mine.append((ir.OutputRef(mid, "out"), ir.TypeRef("list", (rtype,))))
        return nodes, mine

    start: list[tuple[ir.Binding, ir.TypeRef]] = [
        (ir.InputRef("x"), ir.TypeRef("int")),
        (ir.InputRef("xs"), ir.TypeRef("list", (ir.TypeRef("int"),))),
    ]
    nodes, produced = block(start, 0, "map" if handler_in_map else None)
    result, rtype = draw(st.sampled_from(produced or start))
    wf = ir.Workflow(
        name="generated",
        inputs=inputs,
        outputs=(ir.Param("out", rtype),),
        returns=rtype,
        results=(ir.Arg("out", result),),
        nodes=tuple(nodes),
        loc=LOC,
    )
    return ir.WorkflowIR(workflow=wf, tasks=tuple(templates), python_version="3.11.0", digest="sha256:gen")


@settings(max_examples=40, deadline=None)
@given(workflows())
def test_random_dags_compile_to_sound_specs(doc: ir.WorkflowIR) -> None:
    spec = compile_spec(doc)
    assert check_strict(spec) == []
    assert check(spec) == []


def _executor_tasks(spec: Any, comp: str) -> list[tuple[str, dict[str, Any]]]:
    """The tasks running a container in the DAG component ``comp`` and every DAG nested in it."""
    out: list[tuple[str, dict[str, Any]]] = []
    for t in spec["components"][comp]["dag"]["tasks"].values():
        name = t["componentRef"]["name"]
        out.extend(_executor_tasks(spec, name) if "dag" in spec["components"][name] else [(name, t)])
    return out


@settings(max_examples=40, deadline=None)
@given(workflows(tolerant=True) | workflows(tolerant=True, handler_in_map=True))
def test_random_tolerant_maps_report_every_failure(doc: ir.WorkflowIR) -> None:
    """In a map with tolerated_failure, every executor of the item at any depth reports its failure, is never
    cached, and reads only flags that resolve (the structural checker follows every edge)."""
    spec = compile_spec(doc)
    assert check_strict(spec) == []
    assert check(spec) == []
    tolerant = [n for n in ir.walk(doc.workflow.nodes) if isinstance(n, ir.MapNode) and n.tolerated_failure]
    for comp, comp_spec in spec["components"].items():
        loop = comp_spec.get("dag", {}).get("tasks", {})
        for t in loop.values():
            if "parameterIterator" not in t or not any(comp == _component_of(spec, m.id) for m in tolerant):
                continue
            for name, task in _executor_tasks(spec, t["componentRef"]["name"]):
                outs = spec["components"][name].get("outputDefinitions", {}).get("parameters", {})
                assert outs["typedflow-failed"]["parameterType"] == "STRING", name
                assert task["cachingOptions"] == {"enableCache": False}, name


def _component_of(spec: Any, map_id: str) -> str | None:
    """The DAG component a map's loop task is in (the map node's own group)."""
    for comp in spec["components"].values():
        task = comp.get("dag", {}).get("tasks", {}).get(map_id)
        if task is not None and "dag" in spec["components"][task["componentRef"]["name"]]:
            return str(task["componentRef"]["name"])
    return None
