# ruff: noqa: RUF001
"""Definition-time cost: define + trace + check + serialize generated workflows, vs flytekit and kfp.

    python benchmarks/bench_trace.py            # full: ours at 1,000 and 10,000 nodes, peers at 1,000
    python benchmarks/bench_trace.py --quick    # smaller sizes, fewer repetitions (< 1 min after setup)
    python benchmarks/bench_trace.py --profile  # also cProfile our side at the largest size

Shapes (same generated program for every framework, only the syntax differs):

* ``chain``          one ``inc(x: int) -> int`` task called N times, each call consuming the previous
                     output (a literal ``for _ in range(N)`` in the workflow body);
* ``chain-distinct`` N distinct tasks ``t0 … tN-1``, each decorated, chained: this is the
                     "decorate N tasks + a workflow of N nodes" case;
* ``fanin``          N/2 independent ``leaf(x, i)`` tasks reduced pairwise by ``add(a, b)`` in a
                     balanced tree (N-1 nodes, depth log2 N). The IR (like flytekit and kfp) cannot
                     pass a list of task outputs to one task, so a wide fan-in is a reduction tree:
                     maximal width at the leaves, and every output consumed exactly once.

The generated module is written to a file (all three frameworks read function source through
``inspect``), compiled to bytecode before the clock starts, and executed in two timed phases:
the task definitions, then the workflow definition. Our ``workflow`` phase is the whole
``@workflow`` decoration: tracing, every definition-time type check and the IR digest. Then
``typedflow.ir.codec.dumps`` (canonical JSON) is the serialize phase. The peers run the same shapes
in their own venv (``.cache/bench-venv``, see benchmarks/peers/trace_peers.py) in the same
invocation; ratios are per node at the same N.
"""

from __future__ import annotations

import argparse
import ast
import cProfile
import gc
import io
import linecache
import os
import pstats
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

import _harness as H

from typedflow import ir as tfir
from typedflow.dsl.registry import forget_module
from typedflow.ir.codec import dumps

SHAPES = ("chain", "chain-distinct", "fanin")
TARGET_10K_S = 1.0
TARGET_VS_KFP = 10.0
TARGET_VS_FLYTE = 4.0


# ----------------------------------------------------------------------------- generated programs


def _fanin_body(leaves: int) -> list[str]:
    return [
        f"    level = [leaf(x=x, i=i) for i in range({leaves})]",
        "    while len(level) > 1:",
        "        nxt = [add(a=level[j], b=level[j + 1]) for j in range(0, len(level) - 1, 2)]",
        "        if len(level) % 2:",
        "            nxt.append(level[-1])",
        "        level = nxt",
        "    return level[0]",
    ]


def generate(shape: str, n: int) -> str:
    lines = ["from typedflow import task, workflow", ""]
    if shape == "chain":
        lines += [
            "@task",
            "def inc(x: int) -> int:",
            "    return x + 1",
            "",
            "@workflow",
            "def wf(x: int) -> int:",
            "    v = x",
            f"    for _ in range({n}):",
            "        v = inc(x=v)",
            "    return v",
            "",
        ]
    elif shape == "chain-distinct":
        for i in range(n):
            lines += ["@task", f"def t{i}(x: int) -> int:", f"    return x + {i}", ""]
        lines += ["@workflow", "def wf(x: int) -> int:", "    v = x"]
        lines += [f"    v = t{i}(x=v)" for i in range(n)]
        lines += ["    return v", ""]
    elif shape == "fanin":
        lines += [
            "@task",
            "def leaf(x: int, i: int) -> int:",
            "    return x + i",
            "",
            "@task",
            "def add(a: int, b: int) -> int:",
            "    return a + b",
            "",
            "@workflow",
            "def wf(x: int) -> int:",
        ]
        lines += _fanin_body((n + 1) // 2)
        lines += [""]
    else:
        raise ValueError(shape)
    return "\n".join(lines)


def node_count(shape: str, n: int) -> int:
    return 2 * ((n + 1) // 2) - 1 if shape == "fanin" else n


# ----------------------------------------------------------------------------- our side

_SEQ = [0]


def _load(shape: str, n: int, tmp: str) -> tuple[types.ModuleType, Any, Any]:
    _SEQ[0] += 1
    name = f"tfbench_{shape.replace('-', '_')}_{os.getpid()}_{_SEQ[0]}"
    path = os.path.join(tmp, name + ".py")
    src = generate(shape, n)
    with open(path, "w") as fh:
        fh.write(src)
    tree = ast.parse(src, path)
    tasks_code = compile(ast.Module(body=tree.body[:-1], type_ignores=[]), path, "exec", dont_inherit=True)
    wf_code = compile(ast.Module(body=tree.body[-1:], type_ignores=[]), path, "exec", dont_inherit=True)
    mod = types.ModuleType(name)
    mod.__file__ = path
    sys.modules[name] = mod
    return mod, tasks_code, wf_code


def _forget(mod: types.ModuleType) -> None:
    """Drop a measured module and what typedflow's process-wide registries keep of it."""
    name = mod.__name__
    sys.modules.pop(name, None)
    linecache.cache.pop(mod.__file__ or "", None)
    forget_module(name)


def one(shape: str, n: int, tmp: str, profiler: cProfile.Profile | None = None) -> dict[str, Any]:
    mod, tasks_code, wf_code = _load(shape, n, tmp)
    gc.collect()
    if profiler is not None:
        profiler.enable()
    t0 = time.perf_counter()
    exec(tasks_code, mod.__dict__)
    t1 = time.perf_counter()
    exec(wf_code, mod.__dict__)
    t2 = time.perf_counter()
    text = dumps(mod.wf.ir)
    t3 = time.perf_counter()
    if profiler is not None:
        profiler.disable()
    nodes = len(tfir.walk(mod.wf.ir.workflow.nodes))
    if nodes != node_count(shape, n):
        raise AssertionError(f"{shape}: traced {nodes} nodes, expected {node_count(shape, n)}")
    _forget(mod)
    return {
        "tasks": t1 - t0,
        "workflow": t2 - t1,
        "serialize": t3 - t2,
        "define": t2 - t0,
        "total": t3 - t0,
        "bytes": len(text.encode()),
    }


def bench_ours(shape: str, n: int, reps: int, tmp: str) -> dict[str, Any]:
    one(shape, 50, tmp)  # warm-up: imports, cattrs' generated functions, caches
    runs = [one(shape, n, tmp) for _ in range(reps)]
    best = min(runs, key=lambda r: r["total"])
    return {
        "peer": "typedflow",
        "shape": shape,
        "n": n,
        "nodes": node_count(shape, n),
        "reps": reps,
        "best": best,
        "median_total": statistics.median(r["total"] for r in runs),
        "samples_total": [r["total"] for r in runs],
    }


def profile_ours(shape: str, n: int, tmp: str, top: int = 18) -> str:
    one(shape, 50, tmp)
    prof = cProfile.Profile()
    one(shape, n, tmp, prof)
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(top)
    st.sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# ----------------------------------------------------------------------------- report


def _per_node_us(r: dict[str, Any] | None, key: str) -> float | None:
    if r is None:
        return None
    return float(r["best"][key]) / int(r["nodes"]) * 1e6


def _us(v: float | None) -> str:
    return "—" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def _ratio(peer: float | None, ours: float | None) -> float | None:
    return None if peer is None or ours is None or ours <= 0 else peer / ours


def render(ours: list[dict[str, Any]], peers: list[dict[str, Any]], meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    def peer(name: str, shape: str, n: int) -> dict[str, Any] | None:
        for r in peers:
            if r["peer"] == name and r["shape"] == shape and r["n"] == n:
                return r
        return None

    rows, breakdown = [], []
    targets: dict[str, Any] = {"10k_under_1s": {}, "vs_kfp_10x": {}, "vs_flytekit_decoration_4x": {}}
    for r in ours:
        shape, n = r["shape"], r["n"]
        fl, kf = peer("flytekit", shape, n), peer("kfp", shape, n)
        us = _per_node_us(r, "total")
        fl_def, fl_tot, kf_tot = _per_node_us(fl, "define"), _per_node_us(fl, "total"), _per_node_us(kf, "total")
        r_fd, r_ft, r_k = _ratio(fl_def, us), _ratio(fl_tot, us), _ratio(kf_tot, us)
        rows.append(
            [
                shape,
                f"{r['nodes']:,}",
                H.ms(r["best"]["total"], 1),
                _us(us),
                _us(fl_def),
                _us(fl_tot),
                _us(kf_tot),
                H.ratio(fl_def, us),
                H.ratio(fl_tot, us),
                H.ratio(kf_tot, us),
            ]
        )
        if n >= 10_000:
            targets["10k_under_1s"][shape] = {"seconds": r["best"]["total"], "met": r["best"]["total"] < TARGET_10K_S}
        if r_k is not None:
            targets["vs_kfp_10x"][shape] = {"ratio": r_k, "met": r_k >= TARGET_VS_KFP}
        if r_fd is not None:
            targets["vs_flytekit_decoration_4x"][shape] = {
                "ratio": r_fd,
                "ratio_total": r_ft,
                "met": r_fd >= TARGET_VS_FLYTE,
            }
        b = r["best"]
        breakdown.append(
            [
                f"typedflow {shape}",
                f"{r['nodes']:,}",
                H.ms(b["tasks"], 1),
                H.ms(b["workflow"], 1),
                "—",
                H.ms(b["serialize"], 1),
                H.ms(b["total"], 1),
                f"{b['bytes'] / 1e6:.2f}",
            ]
        )
    for p in peers:
        if "best" not in p:
            continue
        b = p["best"]
        breakdown.append(
            [
                f"{p['peer']} {p['shape']}",
                f"{p['nodes']:,}",
                H.ms(b["tasks"], 1),
                H.ms(b["workflow"], 1),
                H.ms(b["compile"], 1) if p["peer"] == "flytekit" else "—",
                H.ms(b["serialize"], 1),
                H.ms(b["total"], 1),
                f"{b['bytes'] / 1e6:.2f}",
            ]
        )

    md = [
        f"### Definition time: trace + check + serialize ({meta['mode']})",
        "",
        f"Machine: {H.machine_line(meta['machine'])}. Peers: "
        + ", ".join(f"{k} {v}" for k, v in meta.get("peer_versions", {}).items())
        + ".",
        "",
        *(
            [H.load_note(meta["cpu_busy_before"], meta["cpu_busy_during"]), ""]
            if H.load_note(meta["cpu_busy_before"], meta["cpu_busy_during"])
            else []
        ),
        "Best of N repetitions, each on a freshly generated module; µs per node = total / nodes. "
        "typedflow total = task decoration + `@workflow` (trace, definition-time checks, IR digest) + "
        "`codec.dumps`. flytekit define = task decoration + `@workflow` + `wf.compile()`; flytekit total adds "
        "`get_serializable` to protobuf bytes. kfp total = component decoration + `@dsl.pipeline` + "
        "`Compiler().compile` to YAML. Ratios = peer µs/node ÷ typedflow total µs/node (higher is better for "
        "typedflow).",
        "",
        H.table(
            [
                "shape",
                "nodes",
                "typedflow total ms",
                "typedflow µs/node",
                "flytekit define µs/node",
                "flytekit total µs/node",
                "kfp total µs/node",
                "vs flytekit define",
                "vs flytekit total",
                "vs kfp",
            ],
            rows,
        ),
        "",
        "Targets:",
        "",
    ]
    for shape, t in targets["10k_under_1s"].items():
        md.append(f"- 10,000 nodes in under 1 s — {shape}: {t['seconds']:.3f} s, {H.verdict(t['met'])}")
    for shape, t in targets["vs_kfp_10x"].items():
        md.append(f"- ≥ 10× faster per node than kfp — {shape}: {t['ratio']:.1f}×, {H.verdict(t['met'])}")
    for shape, t in targets["vs_flytekit_decoration_4x"].items():
        md.append(
            f"- ≥ 4× faster per node than flytekit's decoration — {shape}: {t['ratio']:.1f}× "
            f"({t['ratio_total']:.1f}× against flytekit's define + serialize), {H.verdict(t['met'])}"
        )
    md += [
        "",
        "Phase breakdown (best repetition, ms):",
        "",
        H.table(
            ["framework / shape", "nodes", "tasks", "workflow", "compile", "serialize", "total", "MB out"], breakdown
        ),
    ]
    for p in peers:
        if "error" in p:
            md += ["", f"Peer error: {p['error']}"]
    return "\n".join(md), targets


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 200/2,000, peers at 200, fewer repetitions")
    ap.add_argument("--no-peers", action="store_true", help="only our side")
    ap.add_argument("--profile", action="store_true", help="cProfile our side at the largest size per shape")
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/results/")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="first wait up to this long for other processes to leave the CPU (default 30)",
    )
    args = ap.parse_args()
    busy_before = H.wait_quiet(args.wait_quiet) if args.wait_quiet > 0 else H.cpu_busy()
    others = H.OthersCPU()
    shapes = args.shapes.split(",")
    sizes = (200, 2_000) if args.quick else (1_000, 10_000)
    peer_n = sizes[0]
    meta: dict[str, Any] = {"mode": "quick" if args.quick else "full", "machine": H.machine_info()}
    t_start = time.perf_counter()

    peers: list[dict[str, Any]] = []
    if not args.no_peers:
        env = H.PeerEnv("bench-venv", H.FLYTE_KFP_REQS)
        try:
            py = env.ensure()
            meta["peer_venv_created_s"] = env.created_in
            res = H.run_peer(
                py,
                "trace_peers.py",
                [
                    "--n",
                    str(peer_n),
                    "--shapes",
                    ",".join(shapes),
                    "--reps",
                    "2" if args.quick else "3",
                    "--kfp-reps",
                    "1" if args.quick else "2",
                ],
                timeout=600,
            )
            if "error" in res:
                peers.append(res)
                H.log(f"[bench] peer run failed: {res['error']}")
            else:
                peers.extend(res["results"])
                meta["peer_versions"] = res["versions"]
                meta["peer_import_s"] = res["import_s"]
        except Exception as exc:  # report ours even when the peers cannot be had
            peers.append({"error": f"peer venv: {exc}"})
            H.log(f"[bench] peers unavailable: {exc}")

    ours: list[dict[str, Any]] = []
    profiles: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tf-bench-trace-") as tmp:
        for shape in shapes:
            for n in sizes:
                reps = (3 if n < 5_000 else 2) if args.quick else (5 if n < 5_000 else 3)
                H.log(f"  typedflow {shape} n={n} x{reps}")
                ours.append(bench_ours(shape, n, reps, tmp))
            if args.profile:
                profiles[shape] = profile_ours(shape, sizes[-1], tmp)

    meta["elapsed_s"] = time.perf_counter() - t_start
    meta["cpu_busy_before"], meta["cpu_busy_during"] = busy_before, others.stop()
    md, targets = render(ours, peers, meta)
    print(md)
    for shape, text in profiles.items():
        print(f"\n#### cProfile, typedflow {shape} n={sizes[-1]}\n\n```\n{text}\n```")
    if not args.no_save and not args.quick:
        data = {"benchmark": "trace", "meta": meta, "ours": ours, "peers": peers, "targets": targets}
        for p in H.save("trace", data, md):
            H.log(f"[bench] wrote {p.relative_to(H.REPO)}")
    H.log(f"[bench] done in {meta['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
