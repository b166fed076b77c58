"""LocalStack in host mode (no Docker) for the test session, with the standard library only.

Installed once per machine into a virtual environment of Python 3.13 (LocalStack needs >= 3.12; typedflow's
own venv stays on 3.11) under ``~/.cache/typedflow-localstack/`` (or ``$TYPEDFLOW_LOCALSTACK_CACHE``), in a
folder named by a digest of the pinned versions, so a change of pins installs anew beside the old one. Each
session starts its own server on a free port with its own directories and stops it by PID.

``python3 tests/support/localstack.py install`` installs it ahead of a test run (``.ci/run`` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

# The newest releases of the last four break LocalStack's start-up (measured with 2026.3.0).
PINS = (
    "localstack-core[runtime]==2026.3.0",
    "cbor2<6",
    "pyopenssl<26",
    "cryptography<47",
    "service-identity",
)
PYTHON = "3.13.0"
SERVICES = "stepfunctions,sqs,s3,iam,sts,events,scheduler"
INSTALL_TIMEOUT = 1200  # seconds: a first install downloads and builds about 150 packages
START_TIMEOUT = 120


class LocalStackUnavailable(Exception):
    """LocalStack cannot be installed or started here; the message says why and what to do."""


def cache_root() -> Path:
    return Path(os.environ.get("TYPEDFLOW_LOCALSTACK_CACHE") or Path.home() / ".cache" / "typedflow-localstack")


def venv_dir() -> Path:
    key = hashlib.sha256(json.dumps([PYTHON, *PINS]).encode()).hexdigest()[:12]
    return cache_root() / f"py{PYTHON}-{key}"


def _pyenv_roots() -> Iterator[Path]:
    """Where pyenv may keep its versions: what ``pyenv root`` says (pyenv on PATH or in its usual place),
    ``$PYENV_ROOT``, ``~/.pyenv``."""
    for exe in (shutil.which("pyenv"), str(Path.home() / ".pyenv" / "bin" / "pyenv")):
        if exe and os.access(exe, os.X_OK):
            try:
                out = subprocess.run([exe, "root"], capture_output=True, text=True, timeout=30, check=True)
            except (OSError, subprocess.SubprocessError):
                continue
            if out.stdout.strip():
                yield Path(out.stdout.strip())
    if os.environ.get("PYENV_ROOT"):
        yield Path(os.environ["PYENV_ROOT"])
    yield Path.home() / ".pyenv"


def find_python() -> Path:
    """A Python 3.13 interpreter: ``$TYPEDFLOW_PYTHON313``, pyenv's 3.13.0, else ``python3.13`` on PATH."""
    given = os.environ.get("TYPEDFLOW_PYTHON313")
    candidates = [Path(given)] if given else []
    candidates += [root / "versions" / PYTHON / "bin" / "python3.13" for root in _pyenv_roots()]
    on_path = shutil.which("python3.13")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    looked = ", ".join(str(c) for c in candidates) or "nowhere"
    raise LocalStackUnavailable(
        f"LocalStack needs Python >= 3.12 and no Python 3.13 was found (looked at {looked}); "
        f"install it with `pyenv install {PYTHON}` or set TYPEDFLOW_PYTHON313"
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` across processes (two test sessions must not install at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def installed_python() -> Path | None:
    """The interpreter of a complete install, or None."""
    target = venv_dir()
    python = target / "bin" / "python"
    return python if (target / ".complete").is_file() and python.exists() else None


def install(log: bool = False) -> Path:
    """The interpreter of the LocalStack venv, installing it first when missing. The marker ``.complete`` is
    written last: a venv without it (an install that failed or was interrupted) is removed and made anew."""
    done = installed_python()
    if done is not None:
        return done
    target = venv_dir()
    with _locked(cache_root() / ".install.lock"):
        done = installed_python()  # another session may have installed it while this one waited
        if done is not None:
            return done
        python = find_python()
        if target.exists():
            shutil.rmtree(target)
        steps = [
            [str(python), "-m", "venv", str(target)],
            [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
        ]
        try:
            for step in steps:
                if log:
                    print("localstack:", " ".join(step), file=sys.stderr, flush=True)
                try:
                    run = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
                except subprocess.TimeoutExpired:
                    raise LocalStackUnavailable(f"installing LocalStack took over {INSTALL_TIMEOUT}s: {step}") from None
                if run.returncode != 0:
                    tail = (run.stderr or run.stdout).strip()[-3000:]
                    raise LocalStackUnavailable(f"installing LocalStack failed ({' '.join(step[:4])} ...):\n{tail}")
            (target / ".complete").write_text(json.dumps({"python": PYTHON, "pins": list(PINS)}) + "\n")
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    done = installed_python()
    if done is None:
        raise LocalStackUnavailable(f"the LocalStack venv {target} is incomplete after installing it")
    return done


def _die_with_parent(parent: int) -> None:
    """Run in the server's process before it starts: Linux sends it SIGTERM when the test process that started it
    ends, however it ends (a killed test session must not leave a server behind)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the session's own stop() still ends it
        return
    if os.getppid() != parent:  # the parent ended before the signal was armed
        os._exit(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One LocalStack process, in a process group of its own, with every directory it writes under ``root``."""

    def __init__(self, python: Path, root: Path, main: Path | None = None) -> None:
        self.python = python
        self.root = root
        # a script to run instead of ``-m localstack.runtime.main`` (which it then runs); run with -P, so that its
        # folder (this one, with localstack.py in it) does not shadow the localstack package
        self.main = main
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "localstack.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        host = f"127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON", "LOCALSTACK_"))}
        env.update(
            GATEWAY_LISTEN=host,
            LOCALSTACK_HOST=host,
            SERVICES=SERVICES,
            PERSISTENCE="0",
            DNS_ADDRESS="0",
            SQS_ENDPOINT_STRATEGY="path",  # the default per-queue host names do not resolve here
            # its own directories: host mode puts them under FILESYSTEM_ROOT, and the temporary folder
            # (which LocalStack clears at start) under TMPDIR, so concurrent sessions never share them
            OVERRIDE_IN_DOCKER="0",
            FILESYSTEM_ROOT=str(self.root / "fs"),
            LOCALSTACK_VOLUME_DIR=str(self.root / "volume"),
            TMPDIR=str(tmp),
            DISABLE_EVENTS="1",
            SKIP_SSL_CERT_DOWNLOAD="1",
        )
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(self.python), "-P", str(self.main)]
                if self.main
                else [str(self.python), "-m", "localstack.runtime.main"],
                env=env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LocalStackUnavailable(
                    f"LocalStack exited with {self.proc.returncode} while starting:\n{self.log_tail()}"
                )
            if self._ready():
                return
            time.sleep(0.2)
        self.stop()
        raise LocalStackUnavailable(f"LocalStack was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        if b"Ready." not in self.log_path.read_bytes():
            return False
        try:
            with urllib.request.urlopen(self.endpoint + "/_localstack/health", timeout=2) as resp:
                services = json.loads(resp.read()).get("services", {})
        except (OSError, ValueError):
            return False
        return all(services.get(s) in ("available", "running") for s in SERVICES.split(","))

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 1.0) -> None:
        """Stop the server's process group (the process this object started leads it). Its state is thrown
        away, so a shutdown slower than ``grace`` seconds (about 4 s measured) is not waited for."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def main(argv: list[str]) -> int:
    if argv[:1] != ["install"]:
        print("usage: python3 tests/support/localstack.py install", file=sys.stderr)
        return 2
    try:
        python = install(log=True)
    except LocalStackUnavailable as exc:
        print(f"localstack: {exc}", file=sys.stderr)
        return 1
    print(f"localstack: {python}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
