"""The two worker steps around a Distributed Map: its items written to S3 for ``ItemReader``, and the results its
``ResultWriter`` wrote read back as the typed list in item order.

Both come to a runtime as a request like a task's (through the same executor), with ``op`` saying which step:

- ``map-items``: ``items`` (lazy typed JSON) resolved to the list, its large elements offloaded one by one as a
  Map's items always are, written to the store as a JSON array (``values/<sha256>.json``): ``{"Key", "n"}``.
- ``map-results``: ``manifest`` (the map's ``ResultWriterDetails``) names the ``manifest.json`` Step Functions wrote;
  every result file it lists is read, each child execution's place found from the item index in its input
  (``index``), a failed item's place left None; when more of the ``count`` items failed than ``share`` tolerates
  the step fails with ``typedflow.ToleratedFailureExceeded`` (Step Functions' own map run fails first, with
  ``States.ExceedToleratedFailureThreshold``; this holds where an engine does not enforce it); with no tolerance
  asked, it fails with the first failed item's own error, as an inline Map does. Results that do
  not cover every item are an error, never Nones. With ``caught``, an item whose result is that one-key
  marker caught its own failure (it holds an exit handler, whose siblings must run on) and counts as failed.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from typedflow.runtime.tolerance import TOLERANCE_ERROR, exceeds, tolerated_failures
from typedflow.util.boundary import BoundaryError, check_depth, check_digest, parse_json

from .lazyjson import offload, resolve, size
from .protocol import CAUSE_LIMIT, PAYLOAD_LIMIT, PROTOCOL_VERSION
from .request import MAX_HEARTBEAT, MAX_RETRY, NODE_KEY, RUN_ID, int_field, names_field
from .s3store import S3Store

ITEMS: Final = "map-items"
RESULTS: Final = "map-results"
OPS: Final = (ITEMS, RESULTS)
# (Step Functions' own map run fails first, with States.ExceedToleratedFailureThreshold; a States.* name is not
# one a task may report: a Fail state given one fails with States.Runtime instead)
INCOMPLETE_ERROR: Final = "typedflow.MapResultsIncomplete"
MAX_ITEMS: Final = 100_000_000  # Step Functions' own bound on a Map Run's items is far lower
RESULT_FILE_BYTES: Final = 512 * 1024 * 1024
_COMMON: Final = frozenset({"v", "op", "ir", "run", "node", "store", "retry", "heartbeat", "code"})
_FIELDS: Final = {
    ITEMS: _COMMON | {"items", "offload", "whole"},
    RESULTS: _COMMON | {"manifest", "count", "index", "share", "inline", "elementwise", "offload", "caught"},
}


@attrs.frozen
class MapRequest:
    """A checked request for one of the two steps (``op``); the fields a worker logs and heartbeats with are
    those of a task request."""

    op: str
    ir: str
    run: str
    node: str
    store: str | None
    retry: int
    heartbeat: int | None
    code: str | None
    items: Any = None
    whole: bool = False  # map-items: the elements stay inline (a Choice or a nested Map reads them)
    manifest: Any = None
    count: int = 0
    index: str = ""
    share: float = 0.0
    inline: tuple[str, ...] = ()
    elementwise: tuple[str, ...] = ()
    offload: int = 32768
    caught: str = ""  # map-results: the key of the marker an item that caught its own failure ends with

    @property
    def task(self) -> str:
        return f"({self.op})"


def is_map_request(data: Any) -> bool:
    return isinstance(data, dict) and "op" in data


def parse_map_request(data: Any) -> MapRequest:
    """The checked request; :class:`BoundaryError` names the first problem."""
    if not isinstance(data, dict):
        raise BoundaryError(f"a map request must be a JSON object, got {type(data).__name__}")
    if data.get("v") != PROTOCOL_VERSION:
        raise BoundaryError(f"request version {data.get('v')!r}; this runtime speaks {PROTOCOL_VERSION}")
    op = data.get("op")
    if op not in OPS:
        raise BoundaryError(f"request field 'op': {str(op)[:40]!r} is not one of {', '.join(OPS)}")
    extra = sorted(set(data) - _FIELDS[op])
    if extra:
        raise BoundaryError(f"unexpected field {extra[0]!r} in a {op} request")
    run, node = _text(data, "run"), _text(data, "node")
    if RUN_ID.fullmatch(run) is None:
        raise BoundaryError(f"request field 'run': {run[:80]!r} is not an execution name")
    if NODE_KEY.fullmatch(node) is None:
        raise BoundaryError(f"request field 'node': {node[:80]!r} is not a node key")
    store = data.get("store")
    if store is not None and not isinstance(store, str):
        raise BoundaryError("request field 'store' must be a string")
    common: dict[str, Any] = {
        "op": op,
        "ir": check_digest(data.get("ir"), "request field 'ir'"),
        "run": run,
        "node": node,
        "store": store,
        "retry": int_field(data, "retry", 0, 0, MAX_RETRY),
        "heartbeat": int_field(data, "heartbeat", None, 1, MAX_HEARTBEAT),
        "code": check_digest(data["code"], "request field 'code'") if data.get("code") is not None else None,
        "offload": int_field(data, "offload", 32768, 0, 1 << 30),
    }
    if op == ITEMS:
        whole = data.get("whole", False)
        if not isinstance(whole, bool):
            raise BoundaryError("request field 'whole' must be true or false")
        return MapRequest(**common, items=data.get("items"), whole=whole)
    share = data.get("share", 0.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise BoundaryError(f"request field 'share' must be a number from 0 to 1, got {share!r:.40}")
    count = int_field(data, "count", None, 0, MAX_ITEMS)
    if count is None:
        raise BoundaryError("request field 'count' must be the number of the map's items")
    index = _text(data, "index")
    if not index or len(index) > 1024:
        raise BoundaryError("request field 'index' must name the item index in a child's input")
    return MapRequest(
        **common,
        manifest=data.get("manifest"),
        count=count,
        index=index,
        share=float(share),
        inline=names_field(data, "inline"),
        elementwise=names_field(data, "elementwise"),
        caught=_text(data, "caught") if "caught" in data else "",
    )


def run_map_request(req: MapRequest, store: S3Store) -> tuple[bool, dict[str, Any] | None, str, str]:
    """(ok, outputs, error, cause) of one step."""
    try:
        if req.op == ITEMS:
            return True, stage_items(req, store), "", ""
        return collect_results(req, store)
    except (BoundaryError, ValueError) as exc:
        return False, None, "typedflow.RequestError", f"{req.op} of map {req.node}: {exc}"[:CAUSE_LIMIT]


def stage_items(req: MapRequest, store: S3Store) -> dict[str, Any]:
    """Write the map's items to the store as the JSON array ``ItemReader`` reads."""
    items = resolve(req.items, store.get_value)
    if items is None:  # no list (a branch that did not run): no items, as on the local interpreter
        items = []
    if not isinstance(items, list):
        raise BoundaryError(f"the items of a map must be a list, got {type(items).__name__}")
    if len(items) > MAX_ITEMS:
        raise BoundaryError(f"{len(items):,} items; at most {MAX_ITEMS:,}")
    check_depth(items, "the items of a map")
    if not req.whole:
        items = [store.put_value(v) if size(v) > req.offload else v for v in items]
    marker = store.put_value(items)
    return {"Key": store.own_key(marker["uri"], "staged items"), "n": len(items)}


def collect_results(req: MapRequest, store: S3Store) -> tuple[bool, dict[str, Any] | None, str, str]:
    """The map's results in item order from the files its ``ResultWriter`` wrote."""
    n = req.count
    manifest = _manifest(req.manifest, store)
    results: list[Any] = [None] * n
    succeeded: set[int] = set()
    ended: set[int] = set()  # items with a SUCCEEDED entry: a result, or a failure the item caught itself
    failed: dict[int, tuple[str, str]] = {}
    pending = 0
    for status, entry in _entries(manifest, store):
        where = f"a {status} result of map {req.node}"
        i = _index(entry, req.index, n, where)
        if status == "SUCCEEDED":
            if i in ended:
                raise BoundaryError(f"{where}: item {i} has two results")
            ended.add(i)
            output = entry.get("Output")
            if not isinstance(output, str):
                raise BoundaryError(f"{where}: item {i} has no Output text")
            result = parse_json(output, f"the result of item {i}")
            if req.caught and isinstance(result, dict) and set(result) == {req.caught}:
                # the item caught its own failure (its exit handlers ran): a failed item all the same
                error = result[req.caught]
                error = error if isinstance(error, dict) else {}
                failed[i] = (str(error.get("Error") or ""), str(error.get("Cause") or ""))
                continue
            succeeded.add(i)
            results[i] = result
        elif status == "PENDING":
            pending += 1
        else:  # FAILED, and what AWS files with it (timed out, aborted)
            failed.setdefault(i, (str(entry.get("Error") or ""), str(entry.get("Cause") or "")))
    missing = [i for i in range(n) if i not in succeeded and i not in failed]
    if missing or pending:
        return (
            False,
            None,
            INCOMPLETE_ERROR,
            f"the results written for map {req.node} cover {n - len(missing):,} of its {n:,} items "
            f"({pending:,} pending; first missing: {missing[:5]}): {req.manifest}"[:CAUSE_LIMIT],
        )
    n_failed = n - len(succeeded)
    if exceeds(req.share, n_failed, n):
        first = min(set(failed) - succeeded)  # an item that failed, then succeeded on a redrive, did not fail
        error, cause = failed[first]
        if not req.share:  # no tolerance asked: the map fails as an inline one does, with its first item's error
            return False, None, error or "States.TaskFailed", cause[:CAUSE_LIMIT]
        return (
            False,
            None,
            TOLERANCE_ERROR,
            f"{n_failed:,} of the {n:,} items of map {req.node} failed, {tolerated_failures(req.share, n):,} "
            f"tolerated; item {first}: {error}: {cause}"[:CAUSE_LIMIT],
        )
    outputs = offload(
        {"out": results}, inline=req.inline, elementwise=req.elementwise, limit=req.offload, put=store.put_value
    )
    if size(outputs) > PAYLOAD_LIMIT - 4096:
        return (
            False,
            None,
            "typedflow.PayloadTooLarge",
            f"the results of map {req.node} are {size(outputs):,} bytes inline (a when() or map_over reads them "
            "whole); Step Functions carries at most 262,144 bytes",
        )
    return True, outputs, "", ""


def _manifest(details: Any, store: S3Store) -> dict[str, Any]:
    if not isinstance(details, dict) or not isinstance(details.get("Key"), str):
        raise BoundaryError(f"not a ResultWriter's details (Bucket, Key): {str(details)[:200]}")
    if details.get("Bucket") != store.bucket:
        raise BoundaryError(f"the map's results are in bucket {details.get('Bucket')!r}, not the store's")
    key = store.own_key(store.url(details["Key"]), "the map's manifest")
    raw = store.get_bytes(key)
    if raw is None:
        raise BoundaryError(f"no manifest at {store.url(key)}")
    manifest = parse_json(raw, f"the manifest {store.url(key)}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("ResultFiles"), dict):
        raise BoundaryError(f"{store.url(key)} is not a map run's manifest (no ResultFiles)")
    if manifest.get("DestinationBucket", store.bucket) != store.bucket:
        raise BoundaryError(f"{store.url(key)} names results outside the store's bucket")
    return manifest


def _entries(manifest: dict[str, Any], store: S3Store) -> list[tuple[str, dict[str, Any]]]:
    """(status, entry) of every child execution the manifest's result files list."""
    out: list[tuple[str, dict[str, Any]]] = []
    for status, files in sorted(manifest["ResultFiles"].items()):
        if not isinstance(files, list):
            raise BoundaryError(f"the manifest's {status} result files are not a list")
        for f in files:
            if not isinstance(f, dict) or not isinstance(f.get("Key"), str):
                raise BoundaryError(f"a {status} result file without a Key: {str(f)[:200]}")
            key = store.own_key(store.url(f["Key"]), f"a {status} result file")
            raw = store.get_bytes(key)
            if raw is None:
                raise BoundaryError(f"the result file {store.url(key)} is missing")
            entries = parse_json(raw, f"the result file {store.url(key)}", max_bytes=RESULT_FILE_BYTES)
            if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
                raise BoundaryError(f"{store.url(key)} is not a list of child executions")
            out.extend((str(status), e) for e in entries)
    return out


def _index(entry: dict[str, Any], index_key: str, n: int, where: str) -> int:
    text = entry.get("Input")
    if not isinstance(text, str):
        raise BoundaryError(f"{where}: no Input text")
    data = parse_json(text, f"{where}: its Input")
    i = data.get(index_key) if isinstance(data, dict) else None
    if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
        raise BoundaryError(f"{where}: its input has no item index {index_key!r} from 0 to {n - 1}")
    return i


def _text(data: dict[str, Any], key: str) -> str:
    v = data.get(key, "")
    if not isinstance(v, str):
        raise BoundaryError(f"request field {key!r} must be a string, got {type(v).__name__}")
    return v
