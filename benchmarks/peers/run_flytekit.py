"""Peer side of bench_interpreter.py: flytekit's local execution; runs in the peer venv.

Shapes, each with a trivial ``inc(x: int) -> int`` task, called as a local workflow (``wf(x=0)``),
which is how flytekit runs a workflow on one machine without a cluster:

* ``chain``          ``inc`` called N times in a ``@workflow``, each call on the previous output;
* ``chain-cached``   the same with ``@task(cache=True, cache_version="1")``, the local cache emptied
                     before each run (cold), then a rerun that hits it for every task;
* ``map_task``       ``map_task(inc)(x=xs)`` over N items (flytekit's map primitive);
* ``dynamic``        a ``@dynamic`` workflow looping ``inc(x=x)`` over the N items (one node per item,
                     the closest to a separately scheduled, separately recorded node per item).

Each shape is also run with N/2 and with 1 task/item, so the driver can compute the marginal cost
per task, (T(N) - T(N/2)) / (N - N/2), and the one-task run time, the same way as for typedflow.
flytekit's local cache is redirected to a temporary directory.

``--serve`` keeps the process running and times one run of ``chain`` or ``map_task`` (N) per line on
stdin, for the driver's guard measurement, which alternates these runs with its own.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

SOURCE = """
from flytekit import dynamic, map_task, task, workflow


@task
def inc(x: int) -> int:
    return x + 1


@task(cache=True, cache_version="1")
def cinc(x: int) -> int:
    return x + 1


@workflow
def chain(x: int) -> int:
    v = x
    for _ in range({n}):
        v = inc(x=v)
    return v


@workflow
def chain_half(x: int) -> int:
    v = x
    for _ in range({h}):
        v = inc(x=v)
    return v


@workflow
def chain1(x: int) -> int:
    return inc(x=x)


@workflow
def cchain(x: int) -> int:
    v = x
    for _ in range({n}):
        v = cinc(x=v)
    return v


@workflow
def cchain_half(x: int) -> int:
    v = x
    for _ in range({h}):
        v = cinc(x=v)
    return v


@workflow
def cchain1(x: int) -> int:
    return cinc(x=x)


@workflow
def mapped(xs: list[int]) -> list[int]:
    return map_task(inc)(x=xs)


@dynamic
def loop(xs: list[int]) -> list[int]:
    return [inc(x=x) for x in xs]


@workflow
def dyn(xs: list[int]) -> list[int]:
    return loop(xs=xs)
"""


def timed(fn: Any, reps: int, before: Any = None) -> dict[str, Any]:
    if before:
        before()
    fn()  # warm-up
    samples = []
    for _ in range(reps):
        if before:
            before()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {"best": min(samples), "median": statistics.median(samples), "samples": samples}


def serve(shapes: dict[str, Any]) -> None:
    """One timed run of the named shape per line on stdin, its seconds as a JSON line on stdout."""
    for line in sys.stdin:
        fn = shapes[line.strip()]
        gc.collect()
        t0 = time.perf_counter()
        fn()
        print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--serve", action="store_true", help="time one run per stdin line: chain or map")
    ap.add_argument("--chain", type=int, default=500)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tf-bench-flyte-")
    import flytekit
    import flytekit.core.local_cache as lc

    lc.CACHE_LOCATION = os.path.join(tmp, "local-cache")  # read when the cache is first used
    with open(os.path.join(tmp, "flyte_bench_wf.py"), "w") as fh:
        fh.write(SOURCE.format(n=args.chain, h=args.chain // 2))
    sys.path.insert(0, tmp)
    import flyte_bench_wf as m

    n, k, reps = args.chain, args.items, args.reps
    xs, half, one = list(range(k)), list(range(k // 2)), [0]
    assert m.chain(x=0) == n and m.mapped(xs=xs) == [x + 1 for x in xs] and m.dyn(xs=xs) == [x + 1 for x in xs]
    if args.serve:
        serve({"chain": lambda: m.chain(x=0), "map": lambda: m.mapped(xs=xs)})
        shutil.rmtree(tmp, ignore_errors=True)
        return
    clear = lc.LocalTaskCache.clear
    res: dict[str, Any] = {"version": flytekit.__version__, "chain_n": n, "items": k, "results": {}}
    r = res["results"]
    print("  flytekit chain", file=sys.stderr, flush=True)
    r["chain"] = timed(lambda: m.chain(x=0), reps)
    r["chain_half"] = timed(lambda: m.chain_half(x=0), reps)
    r["chain_1"] = timed(lambda: m.chain1(x=0), reps)
    print("  flytekit chain-cached", file=sys.stderr, flush=True)
    r["chain_cached"] = timed(lambda: m.cchain(x=0), reps, before=clear)
    r["chain_cached_half"] = timed(lambda: m.cchain_half(x=0), reps, before=clear)
    r["chain_cached_1"] = timed(lambda: m.cchain1(x=0), reps, before=clear)
    m.cchain(x=0)
    r["chain_cached_rerun"] = timed(lambda: m.cchain(x=0), reps)
    print("  flytekit map_task", file=sys.stderr, flush=True)
    r["map_task"] = timed(lambda: m.mapped(xs=xs), reps)
    r["map_task_half"] = timed(lambda: m.mapped(xs=half), reps)
    r["map_task_1"] = timed(lambda: m.mapped(xs=one), reps)
    print("  flytekit dynamic", file=sys.stderr, flush=True)
    r["dynamic"] = timed(lambda: m.dyn(xs=xs), max(2, reps // 2))
    r["dynamic_half"] = timed(lambda: m.dyn(xs=half), max(2, reps // 2))
    r["dynamic_1"] = timed(lambda: m.dyn(xs=one), reps)
    clear()
    shutil.rmtree(tmp, ignore_errors=True)
    assert args.out, "--out is required unless --serve"
    with open(args.out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    main()
