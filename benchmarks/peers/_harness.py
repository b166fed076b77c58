# ruff: noqa: RUF001
"""Shared plumbing for the benchmark drivers (runs in the project venv, stdlib only).

* peer venvs under ``.cache/`` (git-ignored), created and filled with ``pip`` on first use and reused
  while their requirement list is unchanged;
* running a peer script in its venv as a subprocess that writes its results as JSON;
* timing (warm-up, best-of-N and median), machine facts, Markdown tables.

The peers are never installed into the project venv.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PEERS_DIR = Path(__file__).resolve().parent
CACHE = REPO / ".cache"

# The peers and the exact pins the numbers in docs/benchmarks.md were measured with.
FLYTE_KFP_REQS = ["flytekit==1.16.*", "kfp==2.17.*"]
# Prefect 3.8.8 (the newest installable here) fails to import its ephemeral API server with
# fastapi >= 0.141 (``Body(min_items=...)``); 0.139-0.140 is the range its own pins allow that works.
PREFECT_REQS = ["prefect==3.8.8", "fastapi>=0.139,<0.141"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- peer venvs


class PeerEnv:
    """A venv under ``.cache/`` holding one set of peer packages."""

    def __init__(self, name: str, requirements: Sequence[str]) -> None:
        self.name = name
        self.requirements = list(requirements)
        self.dir = CACHE / name
        self.python = self.dir / "bin" / "python"
        self.marker = self.dir / ".typedflow-bench-reqs"
        self.created_in: float | None = None  # seconds spent creating it in this invocation

    def _wanted(self) -> str:
        return hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()

    def ready(self) -> bool:
        return self.python.exists() and self.marker.exists() and self.marker.read_text().strip() == self._wanted()

    def ensure(self) -> Path:
        if self.ready():
            return self.python
        t0 = time.perf_counter()
        CACHE.mkdir(exist_ok=True)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        log(f"[bench] creating peer venv {self.dir} with {' '.join(self.requirements)} (first run only) ...")
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(self.dir)], check=True)
        pip_log = CACHE / f"{self.name}.pip.log"
        with open(pip_log, "w") as fh:
            proc = subprocess.run(
                [str(self.python), "-m", "pip", "install", "--disable-pip-version-check", *self.requirements],
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        if proc.returncode != 0:
            tail = "\n".join(pip_log.read_text(errors="replace").splitlines()[-15:])
            raise RuntimeError(f"pip install into {self.dir} failed (full log: {pip_log}):\n{tail}")
        self.marker.write_text(self._wanted() + "\n")
        self.created_in = time.perf_counter() - t0
        log(f"[bench] peer venv ready in {self.created_in:.0f} s")
        return self.python

    def versions(self, *dists: str) -> dict[str, str]:
        code = (
            "import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for d in sys.argv[1:]:\n"
            "    try: out[d] = m.version(d)\n"
            "    except Exception: out[d] = 'missing'\n"
            "print(json.dumps(out))"
        )
        res = subprocess.run([str(self.python), "-c", code, *dists], capture_output=True, text=True, check=True)
        return json.loads(res.stdout)  # type: ignore[no-any-return]


def run_peer(
    python: Path, script: str, args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``benchmarks/peers/<script>`` in a peer venv; it writes its results to ``--out``."""
    with tempfile.TemporaryDirectory(prefix="tf-peer-") as tmp:
        out = Path(tmp) / "result.json"
        full_env = dict(os.environ)
        full_env["TMPDIR"] = tmp  # peers leave scratch directories behind; keep them in ours
        full_env.update(env or {})
        cmd = [str(python), str(PEERS_DIR / script), "--out", str(out), *args]
        log(f"[bench] peer: {script} {' '.join(args)}")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=tmp)
        except subprocess.TimeoutExpired:
            return {"error": f"{script} timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-20:])
            return {"error": f"{script} exited {proc.returncode}:\n{tail}"}
        data: dict[str, Any] = json.loads(out.read_text())
        data["wall_s"] = time.perf_counter() - t0
        return data


class PeerServer:
    """A peer script kept running in its venv (``--serve``), timing one run of a shape per request: the
    driver alternates its own runs with the peer's, so both sides see the machine at the same moments."""

    def __init__(self, python: Path, script: str, args: Sequence[str]) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="tf-peer-")
        env = dict(os.environ, TMPDIR=self.tmp.name)
        cmd = [str(python), str(PEERS_DIR / script), "--serve", *args]
        log(f"[bench] peer server: {script} {' '.join(args)}")
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=self.tmp.name
        )

    def once(self, shape: str) -> float:
        """Seconds the peer took for one run of ``shape`` (it names the shapes it serves)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(shape + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"peer server exited ({self.proc.wait()}) on {shape!r}")
        return float(json.loads(line)["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()


# ----------------------------------------------------------------------------- timing


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    return {"best": min(samples), "median": statistics.median(samples), "samples": list(samples)}


def measure(fn: Callable[[], Any], *, reps: int, warmup: int = 1) -> dict[str, Any]:
    """Time ``fn()`` ``reps`` times after ``warmup`` untimed calls (a full collection before each)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return summarize(samples)


# ----------------------------------------------------------------------------- machine facts


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _fs_of(path: str) -> str:
    try:
        best = ("", "?")
        real = os.path.realpath(path)
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype = line.split()[:3]
            if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, f"{fstype} on {dev}")
        return best[1]
    except OSError:
        return "?"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def _cpu_times() -> tuple[int, int] | None:
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]), idle


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all cores busy over ``seconds`` (we sleep meanwhile: it is everybody else)."""
    a = _cpu_times()
    time.sleep(seconds)
    b = _cpu_times()
    if a is None or b is None or b[0] == a[0]:
        return None
    return 1.0 - (b[1] - a[1]) / (b[0] - a[0])


QUIET = 0.15


def wait_quiet(max_wait: float) -> float | None:
    """Wait (at most ``max_wait`` s) until other processes use < 15 % of the CPU; return the last reading."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    warned = False
    while busy is not None and busy >= QUIET and time.monotonic() < deadline:
        if not warned:
            log(
                f"[bench] other processes are using {busy:.0%} of the CPU; waiting up to {max_wait:.0f} s "
                "for a quieter machine (--wait-quiet 0 to skip)"
            )
            warned = True
        busy = cpu_busy(2.0)
    return busy


class OthersCPU:
    """Share of the machine's CPU used by *other* processes between ``__init__`` and ``stop()``:
    all busy time (/proc/stat) minus this process's and its waited-for children's (os.times)."""

    def __init__(self) -> None:
        self.t0, self.p0 = _cpu_times(), os.times()

    def stop(self) -> float | None:
        t1, p1 = _cpu_times(), os.times()
        if self.t0 is None or t1 is None or t1[0] == self.t0[0]:
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy = (t1[0] - t1[1]) - (self.t0[0] - self.t0[1])
        ours = sum(p1[:4]) - sum(self.p0[:4])
        return max(0.0, (busy - ours * tick) / (t1[0] - self.t0[0]))


def load_note(before: float | None, during: float | None) -> str:
    vals = [v for v in (before, during) if v is not None]
    if not vals or max(vals) < QUIET:
        return ""

    def fmt(v: float | None) -> str:
        return "?" if v is None else f"{v:.0%}"

    return (
        f"**Caution:** other processes used {fmt(before)} of the CPU just before this run and "
        f"{fmt(during)} during it; absolute numbers are inflated and ratios less reliable."
    )


def machine_info(store_root: str | None = None) -> dict[str, Any]:
    from typedflow import __version__

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _mem_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "typedflow": __version__,
        "commit": _git("rev-parse", "--short", "HEAD"),
        "worktree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if store_root is not None:
        info["store_fs"] = _fs_of(store_root)
    return info


def machine_line(info: dict[str, Any]) -> str:
    parts = [
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB",
        info["os"],
        f"Python {info['python']}",
        f"typedflow {info['typedflow']} @ {info['commit']}"
        + (" (+local changes)" if info.get("worktree_dirty") else ""),
    ]
    if "store_fs" in info:
        parts.append(f"store on {info['store_fs']}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- output


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(out)


def ms(seconds: float | None, digits: int = 3) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.{digits}f}"


def secs(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.3f}"


def ratio(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours <= 0:
        return "—"
    r = peer / ours
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 1 else f"{r:.2f}×"


def verdict(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**missed**")


def save(name: str, data: dict[str, Any], markdown: str) -> list[Path]:
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    jp, mp = results / f"{name}.json", results / f"{name}.md"
    jp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    mp.write_text(markdown.rstrip() + "\n")
    return [jp, mp]
