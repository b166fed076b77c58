"""`typedflow` run on a pseudo-terminal, as a user at a terminal runs it.

The command is a session leader whose controlling terminal is the pty: stdin and stderr are the
terminal (so progress is the live view), stdout is a pipe (the outputs), and a Ctrl-C typed on the
terminal reaches the command's process group as SIGINT, as it does in a shell.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _controlling_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the new session's controlling terminal: stdin, the pty


class Terminal:
    def __init__(self, args: list[str], env: dict[str, str], columns: int = 160) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        self.master = master
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "typedflow", *args],
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=slave,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            start_new_session=True,
            preexec_fn=_controlling_terminal,
        )
        os.close(slave)
        self._screen = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: the other side is closed
                return
            if not data:
                return
            with self._lock:
                self._screen.extend(data)

    @property
    def text(self) -> str:
        """What the terminal has shown so far, raw (with its carriage returns and escape codes)."""
        with self._lock:
            return self._screen.decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            if time.monotonic() > deadline or (self.proc.poll() is not None and needle not in self.text):
                raise AssertionError(f"{needle!r} never showed; the terminal shows:\n{self.text}")
            time.sleep(0.02)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout: float = 60.0) -> tuple[int, str, float]:
        """(exit status, stdout, seconds it took to exit from now)."""
        t0 = time.monotonic()
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        code = self.proc.wait(timeout=timeout)
        took = time.monotonic() - t0
        self._reader.join(timeout=5)
        os.close(self.master)
        self.proc.stdout.close()
        return code, out.decode(), took

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def plain(text: str) -> str:
    """The terminal's text without the live view's redraw codes (each redraw on a line of its own)."""
    return text.replace("\x1b[K", "").replace("\r\n", "\n").replace("\r", "\n")
