"""A structural checker for PipelineSpec documents (protobuf parsing checks none of this).

Every componentRef, producer task, output key, executor label and CEL parameter reference must
resolve; the types on both ends of every edge must agree (by parameterType, by artifact schema and
``isArtifactList``, and by typedflow's own assignability when both ends record their typedflow type);
a loop collects single values into lists; a one-of DAG output must select from distinct conditional
tasks; task dependencies must be acyclic.
``check(spec)`` returns every problem found, as ``where: what`` lines; empty means sound.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from typedflow.backends.vertex.typemap import type_from_description

PARAMETER_TYPES = frozenset(
    {"NUMBER_DOUBLE", "NUMBER_INTEGER", "STRING", "BOOLEAN", "LIST", "STRUCT", "TASK_FINAL_STATUS", "TASK_CONFIG"}
)
_CEL_PARAM = re.compile(r"inputs\.parameter_values\['([^']+)'\]")
_PLACEHOLDER = re.compile(r"\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\]")
_WIDENS = {("NUMBER_INTEGER", "NUMBER_DOUBLE")}


def _defs(comp: dict[str, Any], io: str, kind: str) -> dict[str, Any]:
    result: dict[str, Any] = (comp.get(io) or {}).get(kind) or {}
    return result


def _dags(spec: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "root", spec.get("root") or {}
    for name, comp in sorted((spec.get("components") or {}).items()):
        if "dag" in comp:
            yield name, comp


class _Checker:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.comps: dict[str, Any] = spec.get("components") or {}
        self.execs: dict[str, Any] = (spec.get("deploymentSpec") or {}).get("executors") or {}
        self.problems: list[str] = []
        self.loops = {
            (t.get("componentRef") or {}).get("name")
            for _, c in _dags(spec)
            for t in (c["dag"].get("tasks") or {}).values()
            if "parameterIterator" in t or "artifactIterator" in t
        }

    def err(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    # ------------------------------------------------------------------ types
    def agree(self, where: str, src: dict[str, Any], dst: dict[str, Any]) -> None:
        a, b = src.get("parameterType"), dst.get("parameterType")
        if a != b and (a, b) not in _WIDENS:
            self.err(where, f"{a} flows into a {b} input")
            return
        self._typedflow_agree(where, src, dst)

    def agree_artifacts(self, where: str, src: dict[str, Any], dst: dict[str, Any], *, collect: bool = False) -> None:
        """An artifact edge: the same schema (or a generic input), a list only into a list (``collect``: a
        loop body's single artifact into the loop's list)."""
        a = (src.get("artifactType") or {}).get("schemaTitle")
        b = (dst.get("artifactType") or {}).get("schemaTitle")
        if a != b and b != "system.Artifact":
            self.err(where, f"artifact {a} flows into a {b} input")
            return
        many_src, many_dst = bool(src.get("isArtifactList")), bool(dst.get("isArtifactList"))
        if collect:
            if many_src or not many_dst:
                self.err(where, "a loop collects single artifacts into an artifact list")
                return
            self.collected(where, {**src, "parameterType": "LIST"}, {**dst, "parameterType": "LIST"})
            return
        if many_src != many_dst:
            what = ("an artifact list", "a single artifact") if many_src else ("a single artifact", "an artifact list")
            self.err(where, f"{what[0]} flows into {what[1]} input")
            return
        self._typedflow_agree(where, src, dst)

    def collected(self, where: str, src: dict[str, Any], dst: dict[str, Any]) -> None:
        """A loop body's output is the list of its per-iteration values."""
        from typedflow.ir import render
        from typedflow.ir.types import assignable

        if dst.get("parameterType") != "LIST":
            self.err(where, f"a loop collects into {dst.get('parameterType')}, not LIST")
            return
        ts = type_from_description(src.get("description") or "")
        td = type_from_description(dst.get("description") or "")
        if ts is not None and td is not None and td.kind == "list" and not assignable(ts, td.args[0]):
            self.err(where, f"{render(ts)} values are collected into a {render(td)}")

    def _typedflow_agree(self, where: str, src: dict[str, Any], dst: dict[str, Any]) -> None:
        from typedflow.ir import render
        from typedflow.ir.types import assignable

        ts = type_from_description(src.get("description") or "")
        td = type_from_description(dst.get("description") or "")
        if ts is not None and td is not None and not assignable(ts, td):
            self.err(where, f"a {render(ts)} value flows into a {render(td)} input")

    # ------------------------------------------------------------------ checks
    def run(self) -> list[str]:
        if str(self.spec.get("schemaVersion")) != "2.1.0":
            self.err("schemaVersion", f"{self.spec.get('schemaVersion')!r}, expected '2.1.0'")
        name = (self.spec.get("pipelineInfo") or {}).get("name")
        if not name:
            self.err("pipelineInfo", "name missing")
        elif not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,127}", name):
            self.err("pipelineInfo.name", f"{name!r} is not a valid pipeline name")
        elif f"comp-{name}" in self.comps:
            self.err("pipelineInfo.name", f"{name!r} equals a component key (kfp would load that component)")
        for cname, comp in [("root", self.spec.get("root") or {}), *sorted(self.comps.items())]:
            self.definitions(cname, comp)
        for cname, comp in _dags(self.spec):
            self.dag(cname, comp)
        for cname, comp in sorted(self.comps.items()):
            self.executor(cname, comp)
        return self.problems

    def definitions(self, cname: str, comp: dict[str, Any]) -> None:
        if "dag" not in comp and "executorLabel" not in comp:
            self.err(cname, "neither a dag nor an executorLabel")
        for io in ("inputDefinitions", "outputDefinitions"):
            for k, p in _defs(comp, io, "parameters").items():
                if p.get("parameterType") not in PARAMETER_TYPES:
                    self.err(f"{cname}.{io}.{k}", f"parameterType {p.get('parameterType')!r}")
            for k, a in _defs(comp, io, "artifacts").items():
                if not (a.get("artifactType") or {}).get("schemaTitle"):
                    self.err(f"{cname}.{io}.{k}", "artifactType.schemaTitle missing")

    def dag(self, cname: str, comp: dict[str, Any]) -> None:
        tasks: dict[str, Any] = comp["dag"].get("tasks") or {}
        edges: dict[str, set[str]] = {t: set() for t in tasks}
        for tname, t in sorted(tasks.items()):
            where = f"{cname}/{tname}"
            ref = (t.get("componentRef") or {}).get("name")
            if ref not in self.comps:
                self.err(where, f"componentRef {ref!r} does not exist")
                continue
            if (t.get("taskInfo") or {}).get("name") != tname:
                self.err(where, "taskInfo.name differs from the task key")
            for d in t.get("dependentTasks") or []:
                if d not in tasks:
                    self.err(where, f"depends on unknown task {d!r}")
                else:
                    edges[tname].add(d)
            provided = self.task_inputs(where, cname, comp, tasks, t, self.comps[ref], edges[tname])
            self.iterator(where, t, self.comps[ref], provided)
            self.required(where, self.comps[ref], provided, ref)
            cond = (t.get("triggerPolicy") or {}).get("condition")
            if cond:
                if cond.count("(") != cond.count(")"):
                    self.err(where, f"unbalanced condition {cond!r}")
                for name in _CEL_PARAM.findall(cond):
                    if name not in ((t.get("inputs") or {}).get("parameters") or {}):
                        self.err(where, f"condition reads {name!r}, which is not an input of the task")
        self.outputs(cname, comp, tasks)
        self.acyclic(cname, edges)

    def task_inputs(
        self,
        where: str,
        cname: str,
        comp: dict[str, Any],
        tasks: dict[str, Any],
        t: dict[str, Any],
        target: dict[str, Any],
        edges: set[str],
    ) -> set[str]:
        provided: set[str] = set()
        want_p = _defs(target, "inputDefinitions", "parameters")
        want_a = _defs(target, "inputDefinitions", "artifacts")
        have_p = _defs(comp, "inputDefinitions", "parameters")
        have_a = _defs(comp, "inputDefinitions", "artifacts")
        for k, src in sorted(((t.get("inputs") or {}).get("parameters") or {}).items()):
            provided.add(k)
            at = f"{where}.inputs.{k}"
            if k not in want_p:
                self.err(at, "not an input parameter of the component")
                continue
            dst = want_p[k]
            if "componentInputParameter" in src:
                s = src["componentInputParameter"]
                if s not in have_p:
                    self.err(at, f"reads {s!r}, which is not an input of {cname}")
                else:
                    self.agree(at, have_p[s], dst)
            elif "taskOutputParameter" in src:
                ref = src["taskOutputParameter"]
                out = self.producer_output(
                    at, tasks, ref.get("producerTask"), ref.get("outputParameterKey"), "parameters"
                )
                edges.add(str(ref.get("producerTask")))
                if out is not None:
                    self.agree(at, out, dst)
            elif "taskFinalStatus" in src:
                if src["taskFinalStatus"].get("producerTask") not in tasks:
                    self.err(at, "taskFinalStatus of an unknown task")
                if dst.get("parameterType") != "TASK_FINAL_STATUS":
                    self.err(at, "a task status feeds a non-status input")
            elif "runtimeValue" not in src:
                self.err(at, "no value source")
        for k, src in sorted(((t.get("inputs") or {}).get("artifacts") or {}).items()):
            provided.add(k)
            at = f"{where}.inputs.{k}"
            if k not in want_a:
                self.err(at, "not an input artifact of the component")
                continue
            if "componentInputArtifact" in src:
                s = src["componentInputArtifact"]
                if s not in have_a:
                    self.err(at, f"reads {s!r}, which is not an input artifact of {cname}")
                else:
                    self.agree_artifacts(at, have_a[s], want_a[k])
            elif "taskOutputArtifact" in src:
                ref = src["taskOutputArtifact"]
                out = self.producer_output(
                    at, tasks, ref.get("producerTask"), ref.get("outputArtifactKey"), "artifacts"
                )
                edges.add(str(ref.get("producerTask")))
                if out is not None:
                    self.agree_artifacts(at, out, want_a[k])
            else:
                self.err(at, "no artifact source")
        return provided

    def producer_output(
        self, at: str, tasks: dict[str, Any], producer: str | None, key: str | None, kind: str
    ) -> dict[str, Any] | None:
        if producer is None or producer not in tasks:
            self.err(at, f"producer task {producer!r} is not in this DAG")
            return None
        comp = self.comps.get(str((tasks[producer].get("componentRef") or {}).get("name")), {})
        outs = _defs(comp, "outputDefinitions", kind)
        if key not in outs:
            self.err(at, f"task {producer!r} has no output {key!r}")
            return None
        out: dict[str, Any] = outs[key]
        return out

    def iterator(self, where: str, t: dict[str, Any], target: dict[str, Any], provided: set[str]) -> None:
        if "artifactIterator" in t:
            self.artifact_iterator(where, t, target, provided)
        it = t.get("parameterIterator")
        if not it:
            return
        item = it.get("itemInput")
        if item not in _defs(target, "inputDefinitions", "parameters"):
            self.err(where, f"iterator item {item!r} is not an input of the loop component")
        provided.add(item)
        items = it.get("items") or {}
        if "inputParameter" in items and items["inputParameter"] not in provided:
            self.err(where, f"iterator items {items['inputParameter']!r} is not an input of the task")

    def artifact_iterator(self, where: str, t: dict[str, Any], target: dict[str, Any], provided: set[str]) -> None:
        """A loop over an artifact list: its items an artifact-list input of the task, its item a single
        artifact input of the loop component of the same schema."""
        it = t["artifactIterator"]
        item, items = it.get("itemInput"), (it.get("items") or {}).get("inputArtifact")
        want = _defs(target, "inputDefinitions", "artifacts")
        provided.add(item)
        if item not in want:
            self.err(where, f"iterator item {item!r} is not an input artifact of the loop component")
        elif want[item].get("isArtifactList"):
            self.err(where, f"iterator item {item!r} is declared an artifact list")
        if items not in ((t.get("inputs") or {}).get("artifacts") or {}):
            self.err(where, f"iterator items {items!r} is not an input artifact of the task")
        elif items in want:
            if not want[items].get("isArtifactList"):
                self.err(where, f"iterator items {items!r} is not an artifact list")
            elif item in want:
                a = (want[items].get("artifactType") or {}).get("schemaTitle")
                b = (want[item].get("artifactType") or {}).get("schemaTitle")
                if a != b:
                    self.err(where, f"iterator items of {a} give an item of {b}")

    def required(self, where: str, target: dict[str, Any], provided: set[str], ref: str) -> None:
        for k, p in _defs(target, "inputDefinitions", "parameters").items():
            if k not in provided and "defaultValue" not in p and not p.get("isOptional"):
                self.err(where, f"required input {k!r} of {ref} is not provided")
        for k, a in _defs(target, "inputDefinitions", "artifacts").items():
            if k not in provided and not a.get("isOptional"):
                self.err(where, f"required artifact {k!r} of {ref} is not provided")

    def outputs(self, cname: str, comp: dict[str, Any], tasks: dict[str, Any]) -> None:
        outs = comp["dag"].get("outputs") or {}
        declared_p = _defs(comp, "outputDefinitions", "parameters")
        declared_a = _defs(comp, "outputDefinitions", "artifacts")
        for k, sel in sorted((outs.get("parameters") or {}).items()):
            at = f"{cname}.dag.outputs.{k}"
            if k not in declared_p:
                self.err(at, "not declared in outputDefinitions")
            selectors = (
                [sel["valueFromParameter"]]
                if "valueFromParameter" in sel
                else (sel.get("valueFromOneof") or {}).get("parameterSelectors") or []
            )
            if "valueFromOneof" in sel:
                self.oneof(at, tasks, selectors)
            for s in selectors:
                out = self.producer_output(
                    at, tasks, s.get("producerSubtask"), s.get("outputParameterKey"), "parameters"
                )
                if out is not None and k in declared_p:
                    if cname in self.loops:
                        self.collected(at, out, declared_p[k])
                    else:
                        self.agree(at, out, declared_p[k])
        for k, sel in sorted((outs.get("artifacts") or {}).items()):
            at = f"{cname}.dag.outputs.{k}"
            if k not in declared_a:
                self.err(at, "not declared in outputDefinitions")
            for s in sel.get("artifactSelectors") or []:
                out = self.producer_output(at, tasks, s.get("producerSubtask"), s.get("outputArtifactKey"), "artifacts")
                if out is not None and k in declared_a:
                    self.agree_artifacts(at, out, declared_a[k], collect=cname in self.loops)
        for k in declared_p:
            if k not in (outs.get("parameters") or {}):
                self.err(f"{cname}.outputDefinitions.{k}", "declared but never produced")
        for k in declared_a:
            if k not in (outs.get("artifacts") or {}):
                self.err(f"{cname}.outputDefinitions.{k}", "declared but never produced")

    def oneof(self, at: str, tasks: dict[str, Any], selectors: list[dict[str, Any]]) -> None:
        """A one-of output picks the value of whichever branch ran: its selectors are distinct
        condition tasks of the DAG (at least two, or it is not a choice)."""
        names = [s.get("producerSubtask") for s in selectors]
        if len(names) < 2 or len(set(names)) != len(names):
            self.err(at, f"valueFromOneof needs distinct selectors from two or more branches, got {names}")
        for name in names:
            if name in tasks and not (tasks[name].get("triggerPolicy") or {}).get("condition"):
                self.err(at, f"valueFromOneof selects {name!r}, which is not a conditional task")

    def acyclic(self, cname: str, edges: dict[str, set[str]]) -> None:
        state: dict[str, int] = {}
        for start in sorted(edges):
            if start in state:
                continue
            stack = [(start, iter(sorted(edges[start])))]
            state[start] = 1
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    state[node] = 2
                    stack.pop()
                elif nxt in edges and state.get(nxt) == 1:
                    self.err(cname, f"dependency cycle through {nxt!r}")
                    return
                elif nxt in edges and nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, iter(sorted(edges[nxt]))))

    def executor(self, cname: str, comp: dict[str, Any]) -> None:
        label = comp.get("executorLabel")
        if label is None:
            return
        if label not in self.execs:
            self.err(cname, f"executorLabel {label!r} is not in deploymentSpec.executors")
            return
        container = self.execs[label].get("container")
        if container is None:
            return
        if not container.get("image"):
            self.err(label, "container.image missing")
        for s in [*(container.get("command") or []), *(container.get("args") or [])]:
            for io, kind, key in _PLACEHOLDER.findall(str(s)):
                io_defs = "inputDefinitions" if io == "inputs" else "outputDefinitions"
                if key not in _defs(comp, io_defs, kind):
                    self.err(label, f"placeholder for {io}.{kind}[{key!r}] is not declared by {cname}")


def check(spec: Mapping[str, Any]) -> list[str]:
    """Every structural problem of a PipelineSpec dict (empty when it is sound)."""
    return _Checker(spec).run()


def check_strict(spec: Mapping[str, Any]) -> list[str]:
    """Strict protobuf parse (PipelineSpec and each ExecutorSpec); needs kfp-pipeline-spec."""
    from google.protobuf import json_format  # type: ignore[import-untyped,unused-ignore]
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb  # type: ignore[import-untyped,unused-ignore]

    problems = []
    try:
        json_format.ParseDict(spec, pb.PipelineSpec(), ignore_unknown_fields=False)
    except json_format.ParseError as exc:
        problems.append(f"PipelineSpec: {exc}")
    for label, ex in sorted(((spec.get("deploymentSpec") or {}).get("executors") or {}).items()):
        try:
            json_format.ParseDict(ex, pb.PipelineDeploymentConfig.ExecutorSpec(), ignore_unknown_fields=False)
        except json_format.ParseError as exc:
            problems.append(f"executor {label}: {exc}")
    return problems
