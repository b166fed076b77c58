"""Kill, resume and check local runs: the tools of the crash and concurrency tests, and a soak script.

``python -m tests.local.crashkit --seeds 0-49`` kills and resumes runs of ``crash_flows`` at random
moments (seeded) and checks every invariant below after each; the tests run a few seeds of it.

What "nothing that finished is lost" means here (docs/concepts.md, docs/lineage.md):
* the journal holds one line per finished node, never two, and a resumed run never runs a journaled
  node again;
* the lineage log verifies after every kill; a run's records never say a node succeeded twice, and
  the records of a finished run name every task it ran or resumed (``succeeded`` or ``cached``);
  a killed run's journaled nodes without a record are fewer than one group (100) and a batch (64);
* every cache entry parses and entries under one key agree; every stored file they name is intact;
* the resumed run's outputs are those of a clean run.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from typedflow.backends.local.scopes import MAP_WINDOW

ROOT = Path(__file__).resolve().parents[2]
FLOWS = "tests.local.crash_flows"


EXTRA_ENV: dict[str, str] = {}  # the soak's signing key
PUBLIC_KEY: list[bytes] = []  # with a signing key: its public key, which every record must be signed with


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **EXTRA_ENV}


class Proc:
    """A ``typedflow`` command running in a child process, its stdout and stderr in files."""

    def __init__(self, workdir: Path, name: str, *args: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "typedflow", *args], cwd=ROOT, env=env(), stdout=out, stderr=err
            )

    def run_id(self) -> str | None:
        """The run id from the first line on stderr (``run <id> started|resumed (<wf>)``)."""
        try:
            first = self.err.read_text("utf-8", "replace").split("\n", 1)[0]
        except FileNotFoundError:
            return None
        parts = first.split()
        return parts[1] if len(parts) >= 3 and parts[0] == "run" and parts[2] in ("started", "resumed") else None

    def wait_started(self, timeout: float = 60) -> bool:
        """Until the run id is on stderr (True) or the process ended (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run_id() is not None:
                return True
            if self.popen.poll() is not None:
                return self.run_id() is not None
            time.sleep(0.005)
        raise TimeoutError(f"no run id on stderr after {timeout}s: {self.err.read_text()[-2000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
        return self.popen.wait(timeout=60)

    def finish(self, timeout: float = 120) -> int:
        return self.popen.wait(timeout=timeout)

    def stdout(self) -> str:
        return self.out.read_text("utf-8")

    def stderr(self) -> str:
        return self.err.read_text("utf-8", "replace")


RUN_OPTIONS: list[str] = []  # more options of `typedflow run` (the soak's --isolation)


def run_args(target: str, inputs: dict[str, Any], store: Path) -> list[str]:
    args = ["run", f"{FLOWS}:{target}", "--store", str(store), "--log-format", "plain", *RUN_OPTIONS]
    for k, v in inputs.items():
        args += ["--input", f"{k}={json.dumps(v)}"]
    return args


def resume_args(target: str, run_id: str, store: Path, via: str) -> list[str]:
    if via == "retry":
        return ["runs", "retry", run_id, "--store", str(store)]
    return [
        "run",
        f"{FLOWS}:{target}",
        "--store",
        str(store),
        "--resume",
        run_id,
        "--log-format",
        "plain",
        *RUN_OPTIONS,
    ]


# ----------------------------------------------------------------------------- invariants


class Broken(AssertionError):
    pass


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise Broken(msg)


def journal_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The complete lines of a run's journal; a torn last line is allowed only before NUL padding or
    at the end of a killed run's file."""
    data = (run_dir / "journal.jsonl").read_bytes().split(b"\0", 1)[0]
    lines = data.split(b"\n")
    lines.pop()  # what follows the last newline: nothing, or a line torn by the kill
    return [json.loads(line) for line in lines]


def check_journal(run_dir: Path) -> dict[str, dict[str, Any]]:
    """No node twice; the finished nodes by key."""
    done: dict[str, dict[str, Any]] = {}
    for entry in journal_lines(run_dir):
        key = entry["key"]
        if key == "$run":
            continue
        _check(key not in done, f"{run_dir.name}: node {key} is in the journal twice")
        _check(entry["status"] in ("succeeded", "cached"), f"{run_dir.name}: {entry}")
        done[key] = entry
    return done


def check_log(store: Path) -> list[Any]:
    """The lineage log verifies; its records."""
    from typedflow.lineage.query import iter_records
    from typedflow.lineage.verify import verify_log

    log = store / "lineage" / "log.jsonl"
    if not log.exists():
        return []
    result = verify_log(log, public_key=PUBLIC_KEY[0] if PUBLIC_KEY else None)
    _check(result.ok, f"lineage log: {result.summary()}")
    repairs = log.with_name("log.jsonl.repairs")
    _check(not repairs.exists(), f"lineage log was repaired: {repairs.read_text() if repairs.exists() else ''}")
    return [rec for rec, _ in iter_records(log)]


def check_run_records(records: Iterable[Any], run_id: str, journaled: dict[str, Any], ended: bool) -> None:
    """A run's records agree with its journal (see the module's docstring)."""
    mine = [r for r in records if r.run_id == run_id]
    succeeded = collections.Counter(r.node_id for r in mine if r.kind == "task" and r.status == "succeeded")
    twice = [k for k, n in succeeded.items() if n > 1]
    _check(not twice, f"{run_id}: records say these nodes succeeded more than once: {twice[:5]}")
    done = {r.node_id for r in mine if r.kind == "task" and r.status in ("succeeded", "cached")}
    unjournaled = done - journaled.keys()
    _check(not unjournaled, f"{run_id}: records of nodes that are not in the journal: {sorted(unjournaled)[:5]}")
    missing = journaled.keys() - done
    if ended:
        _check(not missing, f"{run_id}: journaled nodes without a record: {sorted(missing)[:5]}")
        # (a failed run resumed since may have records after it: one killed before it journaled a node)
        _check(any(r.kind == "run_end" for r in mine), f"{run_id}: the run ended without a run_end record")
    else:
        # Fewer than a group, plus the batch the recorder was taking (docs/lineage.md).
        _check(len(missing) < 100 + MAP_WINDOW, f"{run_id}: {len(missing)} journaled nodes lost their records")


def check_cache(store: Path) -> int:
    """Every cache entry line parses, entries under one key agree, and the files they name are intact.
    Returns the number of entries."""
    meta = store / "store" / "meta.jsonl"
    if not meta.exists():
        return 0
    data = meta.read_bytes()
    lines = data.split(b"\n")
    lines.pop()  # a torn last line (a writer killed mid-write) is ignored by readers
    seen: dict[str, Any] = {}
    for i, line in enumerate(lines):
        try:
            entry = json.loads(line)
        except ValueError:  # what a writer killed mid-write left: readers skip it, writers start anew
            _check(not line.endswith(b"}}"), f"meta.jsonl line {i + 1} is not JSON: {line[:200]!r}")
            continue
        k, v = entry["k"], entry["v"]
        _check(seen.get(k, v) == v, f"meta.jsonl: two different entries for {k}")
        seen[k] = v
        for handle in _handles(v):
            path = Path(handle["uri"].removeprefix("file://"))
            _check(path.is_file(), f"cache entry {k} names a missing file {path}")
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            _check(sha == handle["sha256"], f"cache entry {k} names {path} with other content")
    return len(seen)


def _handles(v: Any) -> Iterable[dict[str, Any]]:
    if isinstance(v, dict):
        if isinstance(v.get("uri"), str) and isinstance(v.get("sha256"), str):
            yield v
        else:
            for x in v.values():
                yield from _handles(x)
    elif isinstance(v, list):
        for x in v:
            yield from _handles(x)


def check_store(store: Path, run_ids: Iterable[str] = ()) -> list[Any]:
    """Everything in ``store`` after any number of kills: the log, the cache, each run's journal."""
    records = check_log(store)
    check_cache(store)
    for d in sorted((store / "runs").glob("*")) if (store / "runs").exists() else ():
        if (d / "journal.jsonl").exists():
            done = check_journal(d)
            lines = journal_lines(d)
            ended = bool(lines) and lines[-1]["key"] == "$run"
            check_run_records(records, d.name, done, ended)
    return records


# ----------------------------------------------------------------------------- a soak of one seed


def clean_outputs(workdir: Path, target: str, inputs: dict[str, Any]) -> tuple[tuple[int, str], float]:
    """The exit status and stdout of a clean run, and how long it ran after its run id was printed."""
    store = workdir / "clean"
    p = Proc(workdir, "clean", *run_args(target, inputs, store))
    p.wait_started()
    t0 = time.monotonic()
    rc = p.finish()
    span = time.monotonic() - t0
    check_store(store)
    return (rc, p.stdout()), span


def soak(
    workdir: Path,
    seed: int,
    target: str,
    inputs: dict[str, Any],
    expected: tuple[int, str],
    *,
    span: float,
    kills: int = 3,
    signals: Sequence[int] = (signal.SIGKILL,),
    reach: float = 1.3,
    log: Any = None,
) -> dict[str, int]:
    """Start a run, SIGKILL it and its resumptions at random moments (up to ``kills`` times), resume it
    to its end, and check the store after every step. ``span``: about how long a run takes once started
    (kills land up to ``reach`` times as late). Returns counts of what happened."""
    rng = random.Random(seed)
    store = workdir / f"seed-{seed}"
    counts = collections.Counter[str]()
    run_id: str | None = None
    for step in range(kills + 1):
        last = step == kills
        if run_id is None:
            p = Proc(workdir, f"{seed}-{step}", *run_args(target, inputs, store))
        else:
            via = rng.choice(("run", "retry"))
            counts[f"resume-{via}"] += 1
            p = Proc(workdir, f"{seed}-{step}", *resume_args(target, run_id, store, via))
        if not last:
            if rng.random() < 0.1:  # while it starts (imports, the run directory)
                time.sleep(rng.uniform(0, 0.6))
            else:
                p.wait_started()
                time.sleep(rng.uniform(0, span * reach))
            sig = rng.choice(signals)
            rc = p.kill(sig)
            # 128 + N from the command, or death by the signal itself when it comes as the interpreter
            # exits, its handlers gone (a shell shows both as 128 + N)
            stopped = rc in (-sig, 128 + sig)
            counts[signal.Signals(sig).name if stopped else f"ended-{rc}"] += 1
            if rc == 128 + sig:
                # Stopped cleanly: it says so and how to resume it, and its journal has no end.
                err = p.stderr()
                if "resume it with:" not in err and "started" in err:
                    # no advice to resume: the signal came after the run had ended (as it printed its
                    # outputs), so its status says it ended
                    ended = _status(store, run_id or p.run_id())
                    _check(ended in ("succeeded", "failed"), f"seed {seed}: run {ended!r}: {err[-2000:]}")
                    counts["signalled-after-its-end"] += 1
                _check("Traceback" not in err or target != "quick", f"seed {seed}: {err[-2000:]}")
        else:
            rc = p.finish()
        run_id = run_id or p.run_id() or _only_run(store)
        if rc == 2 and "succeeded: nothing to retry" in p.stderr():
            # A run killed after it ended: `runs retry` refuses it, `runs outputs` prints its outputs.
            assert run_id is not None
            p = Proc(workdir, f"{seed}-{step}-outputs", "runs", "outputs", run_id, "--store", str(store))
            rc = p.finish()
            counts["killed-after-its-end"] += 1
        check_store(store)
        if rc in (0, 1) and run_id is not None and (rc, p.stdout()) == expected:
            counts[f"done-at-step-{step}"] += 1
            break
        if last:
            raise Broken(f"seed {seed}: the last resumption ended {rc}: {p.stderr()[-3000:]}")
        if rc not in (-signal.SIGKILL, -signal.SIGINT, -signal.SIGTERM, 130, 143, 0, 1):
            raise Broken(f"seed {seed}: step {step} ended {rc}: {p.stderr()[-3000:]}")
        if rc in (0, 1):
            raise Broken(f"seed {seed}: outputs differ from a clean run's: {p.stdout()!r} {p.stderr()[-3000:]}")
    if log is not None:
        print(f"seed {seed}: {dict(counts)}", file=log, flush=True)
    return dict(counts)


def _status(store: Path, run_id: str | None) -> str | None:
    """A run's status from its ``status.json`` (None when there is none)."""
    try:
        status = json.loads((store / "runs" / str(run_id) / "status.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if isinstance(status, str) else None


def _only_run(store: Path) -> str | None:
    runs = sorted((store / "runs").glob("*/ir.json")) if (store / "runs").exists() else []
    return runs[0].parent.name if len(runs) == 1 else None


SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "crunch": ("crunch", {"n": 120, "salt": 3}),
    "quick": ("quick", {"n": 3000, "salt": 1}),
    "doomed": ("doomed", {"n": 200, "salt": 1, "bad": 50 * 50}),
}


CROWD: list[tuple[str, dict[str, Any]]] = [
    ("crunch", {"n": 40, "salt": 1}),
    ("crunch", {"n": 40, "salt": 1}),  # the same run twice: the same cache keys, written by both
    ("crunch", {"n": 40, "salt": 2}),
    ("quick", {"n": 800, "salt": 1}),
    ("quick", {"n": 800, "salt": 5}),
    ("doomed", {"n": 60, "salt": 1, "bad": 50 * 50}),
]


def _outcome(p: Proc) -> tuple[int, Any]:
    rc = p.finish()
    return rc, json.loads(p.stdout()) if rc == 0 else None


def side_by_side(workdir: Path, seed: int, shapes: Sequence[tuple[str, dict[str, Any]]] = CROWD) -> dict[str, int]:
    """Runs at once on one store, some SIGKILLed (chosen by ``seed``) and resumed while the others run
    (by `run --resume` or `runs retry`): every run ends as a clean one and the store holds together."""
    rng = random.Random(seed)
    store = workdir / f"crowd-{seed}"
    procs = [Proc(workdir, f"{seed}-p{i}", *run_args(t, inputs, store)) for i, (t, inputs) in enumerate(shapes)]
    victims = rng.sample(range(len(shapes)), k=rng.randint(1, 3))
    resumed: dict[int, Proc] = {}
    counts = collections.Counter[str]()
    for i in victims:
        procs[i].wait_started()
        time.sleep(rng.uniform(0, 0.5))
        rc = procs[i].kill()
        counts["killed" if rc == -signal.SIGKILL else "ended-before-the-kill"] += 1
        run_id = procs[i].run_id()
        assert run_id is not None
        via = rng.choice(("run", "retry"))
        resumed[i] = Proc(workdir, f"{seed}-r{i}", *resume_args(shapes[i][0], run_id, store, via))
    for i, p in enumerate(procs):
        last = resumed.get(i, p)
        rc, outputs = _outcome(last)
        if rc == 2 and "nothing to retry" in last.stderr():  # it had ended before the kill
            last = Proc(workdir, f"{seed}-o{i}", "runs", "outputs", str(p.run_id()), "--store", str(store))
            rc, outputs = _outcome(last)
        _check((rc, outputs) == expected(*shapes[i]), f"seed {seed}: run {i} {shapes[i]}: {last.stderr()[-2000:]}")
    records = check_store(store)
    _check(len({r.run_id for r in records}) == len(shapes), f"seed {seed}: runs in the log")
    _check(check_cache(store) > 0, f"seed {seed}: no cache entries")
    counts["runs"] += len(shapes)
    return dict(counts)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--seeds", default="0-9", help="a range A-B or one seed")
    ap.add_argument("--shape", choices=sorted(SHAPES), action="append")
    ap.add_argument("--kills", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/typedflow-crashkit"))
    ap.add_argument("--crowd", action="store_true", help="runs side by side on one store instead")
    ap.add_argument("--signal", choices=("KILL", "INT", "TERM"), action="append", help="default: KILL")
    ap.add_argument("--reach", type=float, default=1.3, help="kills land up to this many clean runs late")
    ap.add_argument("--isolation", choices=("thread", "process"), default="thread")
    ap.add_argument("--sign", action="store_true", help="runs sign their records; checks use the public key")
    args = ap.parse_args(argv)
    RUN_OPTIONS[:] = ["--isolation", args.isolation]
    if args.sign:
        from typedflow.lineage.signing import keygen

        private, public, _ = keygen(args.dir / "keys")
        EXTRA_ENV["TYPEDFLOW_LINEAGE_KEY"] = str(private)
        PUBLIC_KEY.append(public.read_bytes())
    a, _, b = args.seeds.partition("-")
    seeds = range(int(a), int(b or a) + 1)
    totals = collections.Counter[str]()
    if args.crowd:
        for seed in seeds:
            counts = side_by_side(args.dir / "crowd", seed)
            print(f"seed {seed}: {counts}", flush=True)
            totals.update(counts)
        print(f"total: {dict(totals)}")
        return 0
    for shape in args.shape or sorted(SHAPES):
        target, inputs = SHAPES[shape]
        workdir = args.dir / shape
        clean, span = clean_outputs(workdir, target, inputs)
        print(f"{shape}: a clean run takes {span:.2f}s after it starts", flush=True)
        for seed in seeds:
            sigs = [signal.Signals["SIG" + name] for name in args.signal or ["KILL"]]
            totals.update(
                soak(
                    workdir,
                    seed,
                    target,
                    inputs,
                    clean,
                    span=span,
                    kills=args.kills,
                    signals=sigs,
                    reach=args.reach,
                    log=sys.stdout,
                )
            )
    print(f"total: {dict(totals)}")
    return 0


# ----------------------------------------------------------------------------- expected outputs


def crunch_expected(n: int, salt: int) -> dict[str, int]:
    xs = [i * 7 + salt for i in range(n)]
    return {
        "squares": sum(x * x for x in xs),
        "naps": sum((x + 1) ** 2 for x in xs),
        "sizes": sum(x * (x % 4 + 1) for x in xs),
        "flaps": sum(3 * x for x in xs),
        "picked": sum(x - 1 for x in xs if x % 10 != 7),
        "dropped": sum(1 for x in xs if x % 10 == 7),
    }


def quick_expected(n: int, salt: int) -> list[int]:
    return [(i * 7 + salt) ** 2 for i in range(n)]


def expected(target: str, inputs: dict[str, Any]) -> tuple[int, Any]:
    """(exit status, outputs) of a clean run of a ``crash_flows`` workflow (None: it fails)."""
    if target == "crunch":
        return 0, crunch_expected(inputs["n"], inputs["salt"])
    if target == "quick":
        return 0, quick_expected(inputs["n"], inputs["salt"])
    if target == "doomed":
        return 1, None
    raise ValueError(target)


if __name__ == "__main__":
    raise SystemExit(main())
