"""Secret references resolved through a secret store: ``aws-sm:``, ``gcp-sm:`` and ``dotenv:``.

- ``aws-sm:NAME_OR_ARN[#KEY]``: AWS Secrets Manager (boto3, the ``aws`` extra); ``#KEY`` picks one
  field of a secret stored as a JSON object. An ARN's region is used; otherwise boto3's default.
- ``gcp-sm:projects/P/secrets/S[/versions/V]`` or ``gcp-sm:S[/versions/V]`` (project from
  ``GOOGLE_CLOUD_PROJECT`` or the default credentials): Google Secret Manager (google-cloud-secret-manager,
  the ``vertex`` extra); version ``latest`` unless given.
- ``dotenv:NAME``: ``NAME=value`` in the ``.env`` file of the working directory (or ``$TYPEDFLOW_DOTENV``).

The SDKs are imported when a reference is resolved, never before. Errors name the reference and the
store's error code, never a value.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from typedflow.errors import SecretUnavailableError

_AWS_ID: Final = re.compile(r"(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:)?[A-Za-z0-9/_+=.@-]{1,512}")
_GCP_NAME: Final = re.compile(
    r"(?:projects/(?P<project>[a-z0-9-]{1,63}|\d{1,20})/secrets/)?(?P<secret>[A-Za-z0-9_-]{1,255})"
    r"(?:/versions/(?P<version>latest|\d{1,20}))?"
)
_DOTENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_CLIENTS: dict[tuple[str, str | None], Any] = {}
_LOCK = threading.Lock()


def split_aws(rest: str) -> tuple[str, str | None]:
    """(secret id, JSON key or None) of an ``aws-sm:`` reference; ValueError when malformed."""
    sid, sep, key = rest.partition("#")
    if _AWS_ID.fullmatch(sid) is None or (sep and not key):
        raise ValueError(f"aws-sm:{rest[:80]}: expected aws-sm:NAME_OR_ARN[#KEY]")
    return sid, key if sep else None


def split_gcp(rest: str, default_project: str | None = None) -> str:
    """The full version name ``projects/P/secrets/S/versions/V`` of a ``gcp-sm:`` reference."""
    m = _GCP_NAME.fullmatch(rest)
    if m is None:
        raise ValueError(f"gcp-sm:{rest[:80]}: expected gcp-sm:[projects/P/secrets/]NAME[/versions/V]")
    project = m.group("project") or default_project
    if not project:
        raise ValueError(f"gcp-sm:{rest[:80]}: no project (name it, or set GOOGLE_CLOUD_PROJECT)")
    return f"projects/{project}/secrets/{m.group('secret')}/versions/{m.group('version') or 'latest'}"


def _client(kind: str, region: str | None, make: Callable[[], Any]) -> Any:
    with _LOCK:
        client = _CLIENTS.get((kind, region))
        if client is None:
            client = _CLIENTS[(kind, region)] = make()
        return client


def clear_clients() -> None:
    """Forget the clients made so far (a test that changes endpoints or credentials)."""
    with _LOCK:
        _CLIENTS.clear()


def _aws_sm(rest: str) -> str:
    try:
        sid, key = split_aws(rest)
    except ValueError as exc:
        raise SecretUnavailableError(str(exc)) from None
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise SecretUnavailableError(
            f"aws-sm:{sid}: boto3 is not installed here (pip install 'typedflow[aws]')"
        ) from None
    region = sid.split(":")[3] if sid.startswith("arn:") else None
    make: Any = boto3.client
    client = _client("aws-sm", region, lambda: make("secretsmanager", region_name=region))
    try:
        resp = client.get_secret_value(SecretId=sid)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise SecretUnavailableError(f"AWS Secrets Manager cannot give secret {sid}: {code}") from None
    except BotoCoreError as exc:
        raise SecretUnavailableError(f"AWS Secrets Manager cannot give secret {sid}: {type(exc).__name__}") from None
    text = resp.get("SecretString")
    if text is None:
        try:
            text = bytes(resp.get("SecretBinary") or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnavailableError(f"secret {sid} is binary, not UTF-8 text") from None
    return _pick(str(text), key, f"aws-sm:{sid}")


def _pick(text: str, key: str | None, where: str) -> str:
    """``text``, or the field ``key`` of it read as a JSON object (a message never quotes the text)."""
    if key is None:
        return text
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise SecretUnavailableError(f"{where}#{key}: the secret is not a JSON object")
    if key not in data:
        raise SecretUnavailableError(f"{where}#{key}: the secret has no key {key!r}")
    value = data[key]
    return value if isinstance(value, str) else json.dumps(value)


def _default_project() -> str | None:
    project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("CLOUDSDK_CORE_PROJECT")
    if project:
        return project
    try:
        import google.auth

        return str(google.auth.default()[1] or "") or None
    except Exception:  # no credentials here: the reference must name its project
        return None


def _gcp_sm(rest: str) -> str:
    try:
        name = split_gcp(rest, _default_project() if "projects/" not in rest else None)
    except ValueError as exc:
        raise SecretUnavailableError(str(exc)) from None
    try:
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import secretmanager  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise SecretUnavailableError(
            f"gcp-sm:{rest}: google-cloud-secret-manager is not installed here (pip install 'typedflow[vertex]')"
        ) from None
    client = _client("gcp-sm", None, secretmanager.SecretManagerServiceClient)
    try:
        resp = client.access_secret_version(name=name)
    except (GoogleAPIError, GoogleAuthError) as exc:
        what = getattr(exc, "code", None) or type(exc).__name__
        raise SecretUnavailableError(f"Google Secret Manager cannot give secret {name}: {what}") from None
    try:
        return bytes(resp.payload.data).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretUnavailableError(f"secret {name} is binary, not UTF-8 text") from None


def _dotenv(rest: str) -> str:
    if _DOTENV_NAME.fullmatch(rest) is None:
        raise SecretUnavailableError(f"dotenv:{rest[:80]}: expected dotenv:NAME")
    path = Path(os.environ.get("TYPEDFLOW_DOTENV") or ".env")
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise SecretUnavailableError(f"cannot read {path} for dotenv:{rest}: {exc.strerror or exc}") from None
    values = parse_dotenv(text)
    if rest not in values:
        raise SecretUnavailableError(f"{path} sets no {rest}")
    return values[rest]


_QUOTED_THEN_COMMENT = re.compile(r"""(?:'([^']*)'|"((?:\\.|[^"\\])*)")\s*#.*""")


def _unescape(text: str) -> str:
    return re.sub(r"\\([n\"\\])", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse_dotenv(text: str) -> dict[str, str]:
    """``NAME=value`` lines (``export`` allowed, ``#`` comments, also after a quoted value; values in single
    quotes taken as they are, in double quotes with ``\\n``, ``\\"`` and ``\\\\`` escapes; no expansion)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or _DOTENV_NAME.fullmatch(name) is None:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = _unescape(value[1:-1])
        elif quoted := _QUOTED_THEN_COMMENT.fullmatch(value):  # "value" # comment: the quotes go too
            single, double = quoted.group(1, 2)
            value = single if single is not None else _unescape(double)
        else:
            value = value.split(" #", 1)[0].rstrip()
        out[name] = value
    return out


def register(resolvers: dict[str, Callable[[str], str]]) -> None:
    resolvers.update({"aws-sm": _aws_sm, "gcp-sm": _gcp_sm, "dotenv": _dotenv})


__all__ = ["clear_clients", "parse_dotenv", "register", "split_aws", "split_gcp"]
