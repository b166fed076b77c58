"""What verifying stored artifacts costs, for a 1 GB file, through the public API.

A run whose task receives a 1 GB stored file checks it against its digest before the task sees it
(once per process: later hand-outs of an unchanged file cost a stat), and checks after the task that
it did not change (a stat). The reference points are what any consumer pays anyway: reading the file
once, and what a copy-per-task design would cost instead (copying it).

    .venv/bin/python benchmarks/bench_integrity.py [--size-mb 1024] [--repeat 3] [--no-save]

Each case runs in a fresh process (cold for typedflow's verifier, warm page cache for the file, as
after the producing task wrote it), best of ``--repeat`` after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

FLOW = textwrap.dedent(
    """
    from pathlib import Path
    from typedflow import TypedFile, task, workflow
    from typedflow.formats import Binary

    @task(cache=False)
    def size(f: TypedFile[Binary]) -> int:
        return Path(f.local_path()).stat().st_size  # reads nothing: what is left is the store's own work

    @task(cache=False)
    def size_again(f: TypedFile[Binary], n: int) -> int:
        return Path(f.local_path()).stat().st_size + n

    @workflow
    def one(f: TypedFile[Binary]) -> int:
        return size(f=f)

    @workflow
    def two(f: TypedFile[Binary]) -> int:
        return size_again(f=f, n=size(f=f))
    """
)

# argv: flow dir, state dir, workflow, input file, "verify" | "ablate"
RUN = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[1])
    if sys.argv[5] == "ablate":  # what the run costs without checking digests (the store trusts its files)
        from typedflow.runtime import store
        store.Verifier.file = lambda self, path, sha256, what: None
        store.Verifier.unchanged = lambda self, path: True
    import flow
    from typedflow.runtime.running import RunOptions, run_workflow
    opts = RunOptions(store=sys.argv[2], lineage=False)
    t0 = time.perf_counter()
    r = run_workflow(getattr(flow, sys.argv[3]), {"f": sys.argv[4]}, opts)
    total = time.perf_counter() - t0
    assert r.ok, r.failures
    print(json.dumps({"run": total}))
    """
)


def _best(fn: object, repeat: int) -> float:
    fn()  # type: ignore[operator]
    return min(_timed(fn) for _ in range(repeat))


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tf-bench-integrity-"))
    try:
        (work / "flow.py").write_text(FLOW)
        (work / "run.py").write_text(RUN)
        data = work / "data.bin"
        with open(data, "wb") as fh:
            for _ in range(args.size_mb):
                fh.write(os.urandom(1 << 20))
        store = work / "state"
        # stored once, as a producing task or an earlier run would have: these runs find it in the store
        _run(work, store, "one", data, "verify")
        cases = {}
        for wf in ("one", "two"):
            for mode in ("verify", "ablate"):
                runs = [_run(work, store, wf, data, mode) for _ in range(args.repeat + 1)][1:]
                cases[(wf, mode)] = min(runs)
        read = _best(lambda: _read(data), args.repeat)
        hashed = _best(lambda: _sha(data), args.repeat)
        copy = _best(lambda: shutil.copyfile(data, work / "copy.bin"), args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size_gb = args.size_mb / 1024
    one_v, one_a = cases[("one", "verify")], cases[("one", "ablate")]
    two_v, two_a = cases[("two", "verify")], cases[("two", "ablate")]
    rows = [
        ("a run handing a stored 1 GB input to one task, digests checked", one_v),
        ("the same run, digests not checked (ablation)", one_a),
        ("what checking adds to that run", one_v - one_a),
        ("what checking adds to a run handing it to two tasks", two_v - two_a),
        ("hashing the file once (sha256)", hashed),
        ("reading the file once", read),
        ("copying the file (a copy-per-task design, per task)", copy),
    ]
    lines = [
        f"# Artifact verification, {size_gb:g} GB file ({platform.machine()}, Python {platform.python_version()})",
        "",
        "Fresh process per run (the verifier starts cold), best of the runs after one warm-up.",
        "",
        "| what | seconds | ratio to hashing the file once |",
        "|---|---:|---:|",
        *(f"| {what} | {sec:.3f} | {sec / hashed:.2f} |" for what, sec in rows),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "integrity.md").write_text(report)
        payload = {"size_mb": args.size_mb, "rows": dict(rows), "python": platform.python_version()}
        (RESULTS / "integrity.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


def _run(work: Path, store: Path, wf: str, data: Path, mode: str) -> float:
    out = subprocess.run(
        [sys.executable, str(work / "run.py"), str(work), str(store), wf, str(data), mode],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout)["run"])


def _sha(path: Path) -> None:
    import hashlib

    with open(path, "rb") as fh:
        hashlib.file_digest(fh, "sha256")


def _read(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass


if __name__ == "__main__":
    sys.exit(main())
