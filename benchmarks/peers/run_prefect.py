"""Optional peer for bench_interpreter.py: Prefect 3 local flows; runs in ``.cache/bench-venv-prefect``.

* ``chain``  a ``@flow`` calling ``inc`` N times, each call on the previous result;
* ``map``    ``inc.map(xs)`` over N items, results gathered.

Prefect records every task run in its (ephemeral, local SQLite) API server, started on first use
inside this process's lifetime; a warm-up flow absorbs that start-up, which is reported separately.
The driver sets PREFECT_HOME to a temporary directory.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--chain", type=int, default=200)
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()

    import prefect
    from prefect import flow, task

    @task
    def inc(x: int) -> int:
        return x + 1

    @flow
    def chain(n: int) -> int:
        v = 0
        for _ in range(n):
            v = inc(v)
        return v

    @flow
    def mapped(xs: list[int]) -> list[int]:
        return [f.result() for f in inc.map(xs)]

    def timed(fn: Any, reps: int) -> dict[str, Any]:
        samples = []
        for _ in range(reps):
            gc.collect()
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        return {"best": min(samples), "median": statistics.median(samples), "samples": samples}

    res: dict[str, Any] = {"version": prefect.__version__, "chain_n": args.chain, "items": args.items, "results": {}}
    t0 = time.perf_counter()
    chain(2)
    res["startup_s"] = time.perf_counter() - t0
    r = res["results"]
    print("  prefect chain", file=sys.stderr, flush=True)
    assert chain(args.chain) == args.chain
    r["chain"] = timed(lambda: chain(args.chain), args.reps)
    r["chain_half"] = timed(lambda: chain(args.chain // 2), args.reps)
    r["chain_1"] = timed(lambda: chain(1), args.reps)
    print("  prefect map", file=sys.stderr, flush=True)
    xs = list(range(args.items))
    r["map"] = timed(lambda: mapped(xs), args.reps)
    r["map_half"] = timed(lambda: mapped(xs[: args.items // 2]), args.reps)
    r["map_1"] = timed(lambda: mapped([0]), args.reps)
    with open(args.out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    main()
