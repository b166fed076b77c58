"""Compile large workflows to every target, and kfp's compiler on the same shapes, in one process.

Shapes: a chain of N ``inc`` tasks (1,000 and 10,000) and a fan-out of 5,000 ``inc`` tasks reduced
pairwise by ``add`` (9,999 nodes). typedflow: the workflow traced by ``@workflow`` (*define*), then each
target's compile through its ``Backend`` with the options ``typedflow compile`` passes (Step Functions:
``compile -o DIR``, one file per state machine; Vertex: JSON, and YAML as for ``-o spec.yaml``), text
written to a file (*compile*). kfp: components and ``@dsl.pipeline`` defined (*define*), then
``kfp.compiler.Compiler().compile`` to a YAML file (*compile*). Best of ``--reps`` runs after one warm-up
run of each measurement (kfp past 1,000 tasks: ``--kfp-reps``), CPU (process) time and wall time; kfp only
up to ``--kfp-max`` nodes (1,000 by default: it takes minutes per run at 10,000).

Usage: python benchmarks/bench_compile.py [--quick] [--reps N] [--kfp-reps N] [--kfp-max N] [--no-kfp] [--no-save]
"""

import argparse  # (no `from __future__ import annotations`: kfp reads the components' annotations)
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from typedflow import task, workflow
from typedflow.backend import Backend, available
from typedflow.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TARGETS = ("ir", "stepfunctions", "vertex")
TIMES = "\N{MULTIPLICATION SIGN}"


@task
def inc(x: int) -> int:
    return x + 1


@task
def add(a: int, b: int) -> int:
    return a + b


def _reduce(values: list[Any], pair: Callable[[Any, Any], Any]) -> Any:
    """A balanced pairwise reduction (a loop, level by level)."""
    while len(values) > 1:
        nxt = [pair(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            nxt.append(values[-1])
        values = nxt
    return values[0]


def define_typedflow(shape: str, n: int) -> Any:
    if shape == "chain":

        @workflow
        def chain(x: int) -> int:
            v = x
            for _ in range(n):
                v = inc(v)
            return v

        return chain.ir

    @workflow
    def fan(x: int) -> int:
        return _reduce([inc(x) for _ in range(n)], add)  # type: ignore[no-any-return]

    return fan.ir


def define_kfp(shape: str, n: int) -> Any:
    from kfp import dsl

    @dsl.component(base_image="python:3.11")
    def kinc(x: int) -> int:
        return x + 1

    @dsl.component(base_image="python:3.11")
    def kadd(a: int, b: int) -> int:
        return a + b

    if shape == "chain":

        @dsl.pipeline(name="chain")
        def chain(x: int) -> int:
            v = kinc(x=x)
            for _ in range(n - 1):
                v = kinc(x=v.output)
            return v.output  # type: ignore[no-any-return]

        return chain

    @dsl.pipeline(name="fan")
    def fan(x: int) -> int:
        out = _reduce([kinc(x=x) for _ in range(n)], lambda a, b: kadd(a=a.output, b=b.output))
        return out.output  # type: ignore[no-any-return]

    return fan


def options_for(target: str) -> dict[str, Any]:
    """The options ``typedflow compile --target TARGET`` passes to the backend (no code shipment)."""
    argv = ["compile", "wf.py:wf", "--target", target]
    args = build_parser(argv).parse_args(argv)
    return {k: v for k, v in vars(args).items() if k not in ("func", "backend_obj")} | {"output": None}


def compile_typedflow(backend: Backend, doc: Any, options: dict[str, Any], folder: Path) -> int:
    """Compile and write; the bytes written."""
    if backend.compile_files is not None:
        files = backend.compile_files(doc, options)
    else:
        name = "wf.yaml" if str(options.get("output") or "").endswith(".yaml") else "wf" + backend.default_suffix
        files = {name: backend.compile(doc, options)}
    total = 0
    for name, text in files.items():
        data = text.encode()
        (folder / name).write_bytes(data)
        total += len(data)
    return total


def best(fn: Callable[..., Any], reps: int) -> tuple[dict[str, Any], Any]:
    """Best wall and CPU (process) seconds and every sample, after one warm-up run; and the last result."""
    result = fn()
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"s": min(wall), "samples": wall, "cpu_s": min(cpu), "cpu_samples": cpu}, result


# Each target's compile, and the Vertex spec written as YAML (the form kfp writes), output file included.
RUNS = (*TARGETS, "vertex-yaml")


def options_of(run: str) -> dict[str, Any]:
    if run == "vertex-yaml":
        return options_for("vertex") | {"output": "wf.yaml"}
    return options_for(run)


def measure(
    shapes: list[tuple[str, int]], reps: int, kfp_reps: int, with_kfp: bool, kfp_max: int
) -> list[dict[str, Any]]:
    backends = available()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for shape, n in shapes:
            define, doc = best(lambda s=shape, k=n: define_typedflow(s, k), reps)
            row: dict[str, Any] = {"shape": shape, "n": n, "nodes": len(doc.workflow.nodes)}
            row["typedflow"] = {"define": define}
            for run in RUNS:
                b, opts = backends[run.removesuffix("-yaml")], options_of(run)
                out = folder / f"{shape}{n}-{run}"
                out.mkdir()
                t, size = best(lambda b=b, o=opts, d=out, w=doc: compile_typedflow(b, w, o, d), reps)
                row["typedflow"][run] = {**t, "bytes": size}
                print(
                    f"  typedflow {shape} {n} {run}: {t['s']:.3f} s, CPU {t['cpu_s']:.3f} s ({size / 1e6:.1f} MB)",
                    file=sys.stderr,
                )
            if with_kfp and row["nodes"] <= kfp_max:
                from kfp import compiler

                r = reps if n <= 1000 else kfp_reps
                kd, pipeline = best(lambda s=shape, k=n: define_kfp(s, k), r)
                path = folder / f"{shape}{n}-kfp.yaml"
                kc, _ = best(lambda p=pipeline, f=path: compiler.Compiler().compile(p, str(f)), r)
                row["kfp"] = {"define": kd, "compile": kc, "bytes": path.stat().st_size}
                print(f"  kfp {shape} {n}: define {kd['s']:.2f} s, compile {kc['s']:.2f} s", file=sys.stderr)
            rows.append(row)
    return rows


def _cell(t: dict[str, Any]) -> str:
    return f"{t['cpu_s']:.3f} ({t['s']:.3f})"


def report(rows: list[dict[str, Any]], reps: int, kfp_reps: int, facts: dict[str, Any]) -> str:
    lines = [
        f"Machine: {facts['machine']}; Python {facts['python']}; typedflow @ {facts['commit']}; kfp {facts['kfp']}; "
        f"load average before the run {facts['load_before']}, after {facts['load_after']}.",
        "",
        f"Best of {reps} runs after a warm-up (kfp at more than 1,000 tasks: best of {kfp_reps}). Each cell: CPU "
        "(process) seconds, then wall seconds in brackets; on a shared machine the wall time includes waiting for a "
        "core. *compile*: the compiler and writing its output (typedflow: each target's `Backend.compile`, or "
        "`compile_files` for Step Functions' several state machines; Vertex as JSON, and as YAML, the form kfp "
        "writes; kfp: `Compiler().compile` to YAML). *define*: tracing `@workflow` / defining the components and "
        "`@dsl.pipeline`. Ratios (CPU): kfp ÷ typedflow (higher is better for typedflow).",
        "",
        "| shape | nodes | typedflow define | IR | Step Functions | Vertex JSON | Vertex YAML | kfp define "
        "| kfp compile | kfp compile ÷ Vertex YAML | kfp define+compile ÷ typedflow define+Vertex YAML |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r["typedflow"]
        k = r.get("kfp")
        ratio = total = kd = kc = "—"
        if k:
            kd, kc = _cell(k["define"]), _cell(k["compile"])
            yaml_s = t["vertex-yaml"]["cpu_s"]
            ratio = f"{k['compile']['cpu_s'] / yaml_s:.1f}{TIMES}"
            ours = t["define"]["cpu_s"] + yaml_s
            total = f"{(k['define']['cpu_s'] + k['compile']['cpu_s']) / ours:.1f}{TIMES}"
        cells = " | ".join(_cell(t[run]) for run in RUNS)
        lines.append(
            f"| {r['shape']} | {r['nodes']:,} | {_cell(t['define'])} | {cells} | {kd} | {kc} | {ratio} | {total} |"
        )
    lines += ["", "Targets (compile of 10,000 nodes / a 5,000-wide fan-out in under 1 s of CPU time):", ""]
    for r in rows:
        if r["n"] < 5000:
            continue
        for run in RUNS:
            t = r["typedflow"][run]
            verdict = "met" if t["cpu_s"] < 1.0 else "missed"
            lines.append(
                f"- {r['shape']} of {r['n']:,} → {run}: {t['cpu_s']:.3f} s CPU ({t['s']:.3f} s wall, "
                f"{t['bytes'] / 1e6:.1f} MB), **{verdict}**"
            )
    return "\n".join(lines) + "\n"


def _facts() -> dict[str, Any]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    try:
        from importlib.metadata import version

        kfp = version("kfp")
    except Exception:
        kfp = "not installed"
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "commit": commit,
        "kfp": kfp,
        "load_before": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="1,000 and 2,000 nodes, 1 run, results not saved")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--kfp-reps", type=int, default=2, help="runs of kfp at 10,000 nodes (each takes a while)")
    ap.add_argument("--no-kfp", action="store_true")
    ap.add_argument(
        "--kfp-max",
        type=int,
        default=1000,
        help="largest workflow (nodes) given to kfp: its define and compile grow faster than linearly (minutes at "
        "10,000 nodes on a 2-core machine)",
    )
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # history-quota warnings of the 10,000-task Step Functions machines
    shapes = [("chain", 1000), ("chain", 10000), ("fan", 5000)]
    reps, kfp_reps = args.reps, args.kfp_reps
    if args.quick:
        shapes, reps, kfp_reps = [("chain", 1000), ("fan", 1000)], 1, 1
    facts = _facts()
    rows = measure(shapes, reps, kfp_reps, not args.no_kfp, args.kfp_max)
    facts["load_after"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = report(rows, reps, kfp_reps, facts)
    print(text)
    if not (args.quick or args.no_save):
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "compile.json").write_text(json.dumps({"facts": facts, "rows": rows}, indent=2) + "\n")
        (RESULTS / "compile.md").write_text(text)


if __name__ == "__main__":
    main()
