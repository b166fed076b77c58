"""Random typed DAGs as real workflow modules (source files), for property tests."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
from hypothesis import strategies as st

TYPES = ("int", "float", "str")
_counter = itertools.count()


@attrs.frozen
class DagSpec:
    types: tuple[str, ...]  # output type of each node
    deps: tuple[tuple[int, ...], ...]  # producers of each node (indices of earlier nodes)
    broken: int | None = None  # a node whose first parameter is mis-annotated

    @property
    def sinks(self) -> list[int]:
        used = {d for ds in self.deps for d in ds}
        return [i for i in range(len(self.types)) if i not in used]


@st.composite
def dag_specs(draw: Any, max_nodes: int = 8, broken: bool = False) -> DagSpec:
    n = draw(st.integers(1, max_nodes))
    types = tuple(draw(st.sampled_from(TYPES)) for _ in range(n))
    deps = []
    for i in range(n):
        k = draw(st.integers(0, min(3, i)))
        deps.append(tuple(sorted(draw(st.sets(st.integers(0, i - 1), min_size=k, max_size=k))) if i else ()))
    spec = DagSpec(types, tuple(deps))
    if broken:
        candidates = [i for i, ds in enumerate(spec.deps) if ds]
        if not candidates:
            return DagSpec((*types, "int"), (*deps, (0,)), broken=n)
        return attrs.evolve(spec, broken=draw(st.sampled_from(candidates)))
    return spec


def _wrong(t: str) -> str:
    return {"int": "str", "float": "str", "str": "int"}[t]


def source(spec: DagSpec) -> tuple[str, dict[int, int]]:
    """Module source and the line of each node's call in the workflow body."""
    lines = ["from typedflow import task, workflow", ""]
    for i, (t, ds) in enumerate(zip(spec.types, spec.deps, strict=True)):
        params = []
        for j, d in enumerate(ds):
            pt = spec.types[d]
            if spec.broken == i and j == 0:
                pt = _wrong(pt)
            params.append(f"p{j}: {pt}")
        if not ds:
            params.append("x: int")
        lines.append("@task")
        lines.append(f"def t{i}({', '.join(params)}) -> {t}:")
        lines.append(f"    acc = {i + 1}")
        for j in range(len(ds)):
            lines.append(f"    acc = acc * 31 + _num(p{j})")
        if not ds:
            lines.append("    acc = acc * 31 + x")
        ret = {"int": "acc % 100003", "float": "(acc % 100003) / 7.0", "str": "'s' + str(acc % 9973)"}[t]
        lines.append(f"    return {ret}")
        lines.append("")
    lines.append("def _num(v: object) -> int:")
    lines.append("    if isinstance(v, str):")
    lines.append("        return len(v) * 13 + sum(map(ord, v))")
    lines.append("    return int(v * 100) if isinstance(v, float) else int(v)  # type: ignore[call-overload]")
    lines.append("")
    sinks = spec.sinks
    ret_t = "list[" + spec.types[sinks[-1]] + "]"
    lines.append("@workflow")
    lines.append(f"def wf(x: int) -> {ret_t}:")
    call_lines = {}
    for i, ds in enumerate(spec.deps):
        args = ", ".join(f"p{j}=v{d}" for j, d in enumerate(ds)) if ds else "x=x"
        lines.append(f"    v{i} = t{i}({args})")
        call_lines[i] = len(lines)
    lines.append(f"    return wrap(v=v{sinks[-1]})")
    lines.append("")
    lines.append("@task")
    lines.append(f"def wrap(v: {spec.types[sinks[-1]]}) -> {ret_t}:")
    lines.append("    return [v, v]")
    # wrap is defined after wf: move it before by reordering text
    text = "\n".join(lines) + "\n"
    wf_start = text.index("@workflow")
    wrap_start = text.index("@task\ndef wrap")
    text = text[:wf_start] + text[wrap_start:] + "\n" + text[wf_start:wrap_start]
    shift = text[: text.index("@workflow")].count("\n") - lines[: lines.index("@workflow")].__len__()
    return text, {i: ln + shift for i, ln in call_lines.items()}


def load(tmp: Path, text: str) -> ModuleType:
    from tests.conftest import import_source

    return import_source(tmp, text, name=f"tf_dag_{next(_counter)}")
