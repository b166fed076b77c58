"""Peer side of bench_trace.py; runs inside the peer venv (flytekit + kfp), never the project's.

For each peer and shape it generates a module's source text (the same three shapes as
bench_trace.py), writes it to a file (the peers read function source through ``inspect``, as they
would for a real module), and times, per repetition on a fresh module:

* ``tasks``     executing the task/component definitions (decoration);
* ``workflow``  executing the ``@workflow`` / ``@dsl.pipeline`` definition (kfp builds its graph
                there; flytekit only records the function);
* ``compile``   flytekit: ``wf.compile()``, where flytekit runs the body and checks the wiring (it is
                lazy and would otherwise happen inside serialization); kfp: nothing (0);
* ``serialize`` flytekit: ``get_serializable`` of the workflow and every entity it registers, to
                protobuf bytes; kfp: ``Compiler().compile`` to a YAML package.

Python's own compilation of the generated source is done before the clock starts, on both sides.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from typing import Any

# ----------------------------------------------------------------------------- shapes


def _fanin_body(leaf_call: str, add: Callable[[str, str], str], leaves: int) -> list[str]:
    """Balanced pairwise reduction of ``leaves`` independent leaf calls (``i`` is the leaf index)."""
    return [
        f"    level = [{leaf_call} for i in range({leaves})]",
        "    while len(level) > 1:",
        f"        nxt = [{add('level[j]', 'level[j + 1]')} for j in range(0, len(level) - 1, 2)]",
        "        if len(level) % 2:",
        "            nxt.append(level[-1])",
        "        level = nxt",
        "    return level[0]",
    ]


def gen_flytekit(shape: str, n: int) -> str:
    lines = ["from flytekit import task, workflow", ""]
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
    else:
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
        lines += _fanin_body("leaf(x=x, i=i)", lambda a, b: f"add(a={a}, b={b})", (n + 1) // 2)
        lines += [""]
    return "\n".join(lines)


def gen_kfp(shape: str, n: int) -> str:
    comp = "@dsl.component(base_image='python:3.11')"
    lines = ["from kfp import dsl", ""]
    if shape == "chain":
        lines += [
            comp,
            "def inc(x: int) -> int:",
            "    return x + 1",
            "",
            "@dsl.pipeline(name='chain')",
            "def wf(x: int) -> int:",
            "    v = x",
            f"    for _ in range({n}):",
            "        v = inc(x=v).output",
            "    return v",
            "",
        ]
    elif shape == "chain-distinct":
        for i in range(n):
            lines += [comp, f"def t{i}(x: int) -> int:", f"    return x + {i}", ""]
        lines += ["@dsl.pipeline(name='chain')", "def wf(x: int) -> int:", "    v = x"]
        lines += [f"    v = t{i}(x=v).output" for i in range(n)]
        lines += ["    return v", ""]
    else:
        lines += [
            comp,
            "def leaf(x: int, i: int) -> int:",
            "    return x + i",
            "",
            comp,
            "def add(a: int, b: int) -> int:",
            "    return a + b",
            "",
            "@dsl.pipeline(name='fanin')",
            "def wf(x: int) -> int:",
        ]
        lines += _fanin_body("leaf(x=x, i=i).output", lambda a, b: f"add(a={a}, b={b}).output", (n + 1) // 2)
        lines += [""]
    return "\n".join(lines)


def node_count(shape: str, n: int) -> int:
    if shape == "fanin":
        leaves = (n + 1) // 2
        return 2 * leaves - 1
    return n


# ----------------------------------------------------------------------------- one measured definition

_SEQ = [0]


def load_phased(src: str, tmp: str, prefix: str) -> tuple[types.ModuleType, Any, Any]:
    """Write ``src`` to a fresh module file; return (module, tasks code, workflow code), compiled."""
    _SEQ[0] += 1
    name = f"{prefix}_{os.getpid()}_{_SEQ[0]}"
    path = os.path.join(tmp, name + ".py")
    with open(path, "w") as fh:
        fh.write(src)
    tree = ast.parse(src, path)
    head, last = tree.body[:-1], tree.body[-1:]
    tasks_code = compile(ast.Module(body=head, type_ignores=[]), path, "exec", dont_inherit=True)
    wf_code = compile(ast.Module(body=last, type_ignores=[]), path, "exec", dont_inherit=True)
    mod = types.ModuleType(name)
    mod.__file__ = path
    sys.modules[name] = mod
    return mod, tasks_code, wf_code


class Flytekit:
    name = "flytekit"

    def __init__(self) -> None:
        import flytekit
        from flytekit.configuration import ImageConfig, SerializationSettings
        from flytekit.core.context_manager import FlyteEntities

        self.version = flytekit.__version__
        self.entities = FlyteEntities.entities
        self.settings = SerializationSettings(image_config=ImageConfig.auto_default_image())

    gen = staticmethod(gen_flytekit)

    def compile(self, mod: types.ModuleType) -> None:
        mod.wf.compile()

    def serialize(self, mod: types.ModuleType) -> int:
        from collections import OrderedDict

        from flytekit.tools.translator import get_serializable

        mapping: OrderedDict[Any, Any] = OrderedDict()
        get_serializable(mapping, self.settings, mod.wf)
        return sum(len(e.to_flyte_idl().SerializeToString()) for e in mapping.values())

    def reset(self) -> None:
        self.entities.clear()


class Kfp:
    name = "kfp"

    def __init__(self) -> None:
        import kfp
        from kfp import compiler

        self.version = kfp.__version__
        self.compiler = compiler

    gen = staticmethod(gen_kfp)

    def compile(self, mod: types.ModuleType) -> None:
        pass

    def serialize(self, mod: types.ModuleType) -> int:
        path = mod.__file__[:-3] + ".yaml"  # type: ignore[index]
        self.compiler.Compiler().compile(mod.wf, path)
        size = os.path.getsize(path)
        os.unlink(path)
        return size

    def reset(self) -> None:
        pass


def one(peer: Any, shape: str, n: int, tmp: str) -> dict[str, float]:
    mod, tasks_code, wf_code = load_phased(peer.gen(shape, n), tmp, f"{peer.name}_{shape.replace('-', '_')}")
    gc.collect()
    t0 = time.perf_counter()
    exec(tasks_code, mod.__dict__)
    t1 = time.perf_counter()
    exec(wf_code, mod.__dict__)
    t2 = time.perf_counter()
    peer.compile(mod)
    t3 = time.perf_counter()
    size = peer.serialize(mod)
    t4 = time.perf_counter()
    del sys.modules[mod.__name__]
    peer.reset()
    return {"tasks": t1 - t0, "workflow": t2 - t1, "compile": t3 - t2, "serialize": t4 - t3, "bytes": size}


def bench(peer: Any, shape: str, n: int, reps: int, warmup_n: int, tmp: str) -> dict[str, Any]:
    one(peer, shape, warmup_n, tmp)
    runs = [one(peer, shape, n, tmp) for _ in range(reps)]
    for r in runs:
        r["define"] = r["tasks"] + r["workflow"] + r["compile"]
        r["total"] = r["define"] + r["serialize"]
    best = min(runs, key=lambda r: r["total"])
    return {
        "peer": peer.name,
        "shape": shape,
        "n": n,
        "nodes": node_count(shape, n),
        "reps": reps,
        "best": best,
        "median_total": statistics.median(r["total"] for r in runs),
        "median_define": statistics.median(r["define"] for r in runs),
        "samples_total": [r["total"] for r in runs],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--shapes", default="chain,chain-distinct,fanin")
    ap.add_argument("--peers", default="flytekit,kfp")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for flytekit")
    ap.add_argument("--kfp-reps", type=int, default=2)
    ap.add_argument("--warmup-n", type=int, default=50)
    args = ap.parse_args()
    out: dict[str, Any] = {"results": [], "versions": {}, "import_s": {}}
    with tempfile.TemporaryDirectory(prefix="tf-bench-peer-") as tmp:
        for name in args.peers.split(","):
            t0 = time.perf_counter()
            peer = Flytekit() if name == "flytekit" else Kfp()
            out["import_s"][name] = time.perf_counter() - t0
            out["versions"][name] = peer.version
            reps = args.reps if name == "flytekit" else args.kfp_reps
            for shape in args.shapes.split(","):
                print(f"  {name} {shape} n={args.n} x{reps}", file=sys.stderr, flush=True)
                out["results"].append(bench(peer, shape, args.n, reps, args.warmup_n, tmp))
    with open(args.out, "w") as fh:
        json.dump(out, fh)


if __name__ == "__main__":
    main()
