"""The one path every target runs a task through: decode inputs, call, store outputs, cache.

The local interpreter, the Step Functions worker and the Vertex container all call
:func:`execute`, which is what makes a task compute the same thing on every target.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import logging
import secrets
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import attrs

from typedflow import ir
from typedflow.dsl.registry import live_task, register_task
from typedflow.dsl.secret import SecretUnavailableError, redact, sensitive
from typedflow.dsl.taskenv import task_environment
from typedflow.files import resolve_uri
from typedflow.ir.canonical import canonical_json, digest, sha256_hex
from typedflow.ir.types import check_json, has_variants, normal_form
from typedflow.ir.values import converter
from typedflow.runtime.capture import Output, Sink
from typedflow.runtime.capture import install as install_capture
from typedflow.runtime.capture import release as release_output
from typedflow.runtime.context import ATTEMPT, Attempt, RunContext
from typedflow.runtime.store import ArtifactStore
from typedflow.tables.enforce import violation as table_violation
from typedflow.util.boundary import BoundaryError, check_handle
from typedflow.util.memo import IdentityMemo
from typedflow.util.timestamps import utcnow


class TaskError(Exception):
    """A task attempt failed. ``exc`` is the original exception (None when it crossed a process)."""

    def __init__(
        self,
        error_type: str,
        message: str,
        tb: str = "",
        exc: BaseException | None = None,
        classes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.traceback = tb
        self.exc = exc
        # The exception's classes (``module:qualname``, most derived first): what a retry policy matches.
        # Given for an error that crossed a process (``exc`` is then None).
        self.classes = classes or (exception_classes(exc) if exc is not None else ())
        self.started_at = ""  # when the failed attempt began (set by whoever timed it)


def exception_classes(exc: BaseException) -> tuple[str, ...]:
    """``module:qualname`` of each class of ``exc``, most derived first."""
    return tuple(f"{c.__module__}:{c.__qualname__}" for c in type(exc).__mro__)


class CodeMismatchError(Exception):
    """The task's code differs from the code the IR was compiled from."""


@attrs.frozen
class Outcome:
    status: Literal["succeeded", "cached"]
    outputs: dict[str, Any]
    cache_key: str | None
    started_at: str
    ended_at: str
    duration: float
    input_digests: dict[str, str] = attrs.Factory(dict)


def resolve(template: ir.TaskTemplate) -> Any:
    """The Task object for a template: a live one, or imported from ``module``."""
    key = (template.module, template.qualname)
    task: Any = live_task(key)
    if task is None or _initializing(template.module):
        # A task registers itself while its module is still being imported: wait for the import.
        try:
            module = import_module(template.module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (template.module == exc.name or template.module.startswith(exc.name + ".")):
                raise  # the task's module was found; something it imports is missing
            raise ModuleNotFoundError(
                f"cannot import module {template.module!r}, where the IR says task {template.name!r} is defined: "
                "put the directory that holds it on PYTHONPATH or install its package (a cloud target runs it from "
                "the code bundle that typedflow deploy uploads)",
                name=exc.name,
            ) from exc
        obj: Any = module
        for part in template.qualname.split("."):
            obj = getattr(obj, part)
        task = obj
        register_task(key, task)
    return task


_IMPORT_LOCKS: dict[str, threading.Lock] = {}
_IMPORT_LOCKS_GUARD = threading.Lock()


def _initializing(name: str) -> bool:
    module = sys.modules.get(name)
    return module is not None and bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


def import_module(name: str) -> ModuleType:
    """Import ``name`` once for all runtime threads: a thread that asks while another runtime thread is
    importing it waits for that import to finish, instead of taking the half-initialized module from
    ``sys.modules`` (importlib's own lock is not enough: a module in ``sys.modules`` is returned as is).

    The lock is typedflow's, not importlib's: a module being imported by a thread that is not a runtime
    (one that runs a workflow while it is imported) is returned as it is, as before, rather than waited
    for — that thread waits for the tasks, so waiting for it would never end."""
    with _IMPORT_LOCKS_GUARD:
        lock = _IMPORT_LOCKS.setdefault(name, threading.Lock())
    with lock:
        module = sys.modules.get(name)
        if module is not None:
            return module
        return importlib.import_module(name)


# ----------------------------------------------------------------------------- typed-JSON walks


def map_files(data: Any, t: ir.TypeRef, fn: Callable[[dict[str, Any], ir.TypeRef], Any]) -> Any:
    """``data`` with every file/directory value replaced by ``fn(value, its type)``."""
    if data is None:
        return None
    k = t.kind
    if k in ("file", "directory"):
        return fn(data, t)
    if k == "optional":
        return map_files(data, t.args[0], fn)
    if k == "list":
        return [map_files(v, t.args[0], fn) for v in data]
    if k == "dict":
        return {key: map_files(v, t.args[0], fn) for key, v in data.items()}
    if k == "tuple":
        return [map_files(v, a, fn) for v, a in zip(data, t.args, strict=False)]
    if k == "record":
        return {f.name: map_files(data.get(f.name), f.type, fn) for f in t.fields if f.name in data}
    return data


def has_files(t: ir.TypeRef) -> bool:
    k = t.kind
    if k in ("file", "directory"):
        return True
    if k == "record":
        return any(has_files(f.type) for f in t.fields)
    return any(has_files(a) for a in t.args)


def _content_only(v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
    return {"sha256": v.get("sha256"), "kind": t.kind}


def content_digest(data: Any, t: ir.TypeRef, files: bool | None = None) -> str:
    """Digest of a value by content: files count by their sha256, not where they are stored.
    ``files``: ``has_files(t)``, when the caller already knows it."""
    if files is None:
        files = has_files(t)
    return digest(map_files(data, t, _content_only) if files else data)


class _Keying:
    """What digesting a template's inputs needs, worked out once per template: each input's type and
    whether it holds files, and the canonical JSON of the cache key's document around its inputs."""

    __slots__ = ("keyed", "keys", "names", "params", "prefix", "single", "suffix", "template")

    def __init__(self, template: ir.TaskTemplate) -> None:
        self.template = template
        self.params = tuple((p.name, p.type, has_files(p.type)) for p in template.inputs)
        # Inputs whose names say they hold secrets: digested with the store's key (a plain digest of a short
        # password can be guessed from any record or cache key that contains it).
        self.keyed = frozenset(p.name for p in template.inputs if sensitive(p.name))
        # Each input's encoded key, in the canonical (sorted) order of the key document's "inputs".
        self.keys = tuple((name, canonical_json(name) + ":") for name in sorted(p.name for p in template.inputs))
        self.names = frozenset(p.name for p in template.inputs)
        # A task of one input (most map bodies): its name and encoded key, for the shorter paths below.
        self.single = self.keys[0] if len(self.keys) == 1 else None
        # The document is {"cache_version", "code", "inputs", "task", "version"}: keys in sorted order.
        self.prefix = (
            f'{{"cache_version":{canonical_json(template.cache.version)},'
            f'"code":{canonical_json(template.code_digest)},"inputs":'
        )
        self.suffix = f',"task":{canonical_json(template.name)},"version":{canonical_json(template.version)}}}'


_KEYINGS: IdentityMemo[ir.TaskTemplate, _Keying] = IdentityMemo()


def _keying(template: ir.TaskTemplate) -> _Keying:
    k = _KEYINGS.get(template)
    if k is None:
        k = _KEYINGS.put(template, _Keying(template))
    return k


def input_digests(
    template: ir.TaskTemplate, inputs: dict[str, Any], key: Callable[[], bytes] | None = None
) -> dict[str, str]:
    """Content digest of each input: the cache key's parts. ``key``: the store's digest key, for inputs
    whose names say they hold secrets (without one, their digest is not computed at all)."""
    k = _keying(template)
    params = k.params
    if len(params) == 1 and not k.keyed:
        name, t, files = params[0]
        return {name: content_digest(inputs.get(name), t, True) if files else digest(inputs.get(name))}
    out = {
        name: content_digest(inputs.get(name), t, True) if files else digest(inputs.get(name))
        for name, t, files in params
        if name not in k.keyed
    }
    if k.keyed:
        secret = key() if key is not None else secrets.token_bytes(32)
        for name in k.keyed:
            body = canonical_json(inputs.get(name)).encode("ascii")
            out[name] = "hmac-sha256:" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return out


def cache_key(template: ir.TaskTemplate, inputs: dict[str, Any], digests: dict[str, str] | None = None) -> str:
    """``digest`` of ``{"task", "code", "cache_version", "version", "inputs": {name: input digest}}``."""
    parts = digests if digests is not None else input_digests(template, inputs)
    k = _keying(template)
    single = k.single
    if single is not None and len(parts) == 1 and single[0] in parts:
        body = "{" + single[1] + encode_basestring_ascii(parts[single[0]]) + "}"
    elif parts.keys() == k.names:  # canonical_json(parts), from the keys encoded once
        body = "{" + ",".join([key + encode_basestring_ascii(parts[name]) for name, key in k.keys]) + "}"
    else:
        body = canonical_json(parts)
    return "sha256:" + sha256_hex((k.prefix + body + k.suffix).encode("ascii"))


def store_outputs(outputs: dict[str, Any], template: ir.TaskTemplate, store: ArtifactStore) -> dict[str, Any]:
    """Put every file the task produced into the store; handles then carry its URI and sha256."""

    def put(v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
        is_dir = t.kind == "directory"
        # A handle the task passed through unchanged may name a remote stored artifact (s3://, gs://):
        # its local copy is what gets stored (for the same store, that is a no-op by digest).
        try:
            src = resolve_uri(v["uri"], v.get("sha256"), is_dir)
        except BoundaryError as exc:
            raise TaskError("typedflow.OutputError", f"task returned a handle that cannot be stored: {exc}") from None
        if not src.exists():
            raise TaskError("FileNotFoundError", f"task returned a handle to {src}, which does not exist")
        if is_dir != src.is_dir():
            kind = "directory" if is_dir else "file"
            raise TaskError("TypeError", f"task returned {src} where a {kind} was declared")
        try:
            uri, sha = store.put_dir(src) if is_dir else store.put_file(src)
        except BoundaryError as exc:
            raise TaskError("typedflow.OutputError", f"task returned {src}, which cannot be stored: {exc}") from None
        declared = v.get("format")
        if declared in (None, "typedflow.formats:Format"):
            declared = t.name
        return {"uri": uri, "sha256": sha, "format": declared}

    out = dict(outputs)
    for p in template.outputs:
        if has_files(p.type) and p.name in out:
            out[p.name] = map_files(out[p.name], p.type, put)
    return out


# ----------------------------------------------------------------------------- execute


@attrs.define  # not frozen, as Outcome
class CacheProbe:
    """A cache look-up already made for these inputs: their digests, the key, and the hit if any.
    Passing a miss to :func:`execute` spares it the same work a second time."""

    digests: dict[str, str]
    key: str | None
    hit: Outcome | None = None


def probe(template: ir.TaskTemplate, inputs: dict[str, Any], store: ArtifactStore, use_cache: bool) -> CacheProbe:
    """Digest the inputs and, when caching applies, look the task up in the store."""
    digests = input_digests(template, inputs, store.digest_key)
    if not (use_cache and template.cache.enabled):
        return CacheProbe(digests, None)
    key = cache_key(template, inputs, digests)
    try:
        hit = store.get_json("cache-" + key)
    except Exception as exc:  # an entry that cannot be read is a miss: the task runs, as without a cache
        logging.getLogger(__name__).warning("cache entry of %s unreadable, running it: %s", template.name, exc)
        hit = None
    if hit is None:
        return CacheProbe(digests, key)
    outputs = served_outputs(hit, template, store)
    if outputs is None:
        return CacheProbe(digests, key)
    now = utcnow()  # a hit takes no measurable time: one timestamp for both ends
    return CacheProbe(digests, key, Outcome("cached", outputs, key, now, now, 0.0, digests))


def served_outputs(
    entry: Any, template: ir.TaskTemplate, store: ArtifactStore, what: str = "cache entry"
) -> dict[str, Any] | None:
    """The outputs of a cache entry (or a resumed run's journal entry: ``what``) if it can be served: exactly
    the task's declared outputs, each of its declared type, every file in it this store's and intact.
    Anything else is a miss, with a warning."""
    try:
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), dict):
            raise BoundaryError(f"not a {what} (an object with outputs)")
        outputs: dict[str, Any] = entry["outputs"]
        declared = {p.name for p in template.outputs}
        if outputs.keys() != declared:
            raise BoundaryError(f"outputs {sorted(outputs)} where the task declares {sorted(declared)}")
        for p in template.outputs:
            err = check_json(outputs[p.name], p.type, f"output {p.name!r}")
            if err:
                raise BoundaryError(str(err))
            if has_files(p.type):
                map_files(outputs[p.name], p.type, functools.partial(_stored_intact, store))
    except BoundaryError as exc:
        logging.getLogger(__name__).warning("%s of task %s not served, running it: %s", what, template.name, exc)
        return None
    return outputs


def _stored_intact(store: ArtifactStore, v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
    check_handle(v, "file handle", stored=True)
    store.fetch(v["uri"], v["sha256"], t.kind == "directory")
    return v


def check_input_handles(template: ir.TaskTemplate, inputs: dict[str, Any], store: ArtifactStore) -> None:
    """Raise :class:`BoundaryError` unless every file handle among ``inputs`` names stored content of
    ``store`` (nothing is read): a task never reads a path or an object it was merely told about."""
    for name, t, files in _keying(template).params:
        if files and inputs.get(name) is not None:
            map_files(inputs[name], t, functools.partial(_owned, store, name))


def _owned(store: ArtifactStore, name: str, v: dict[str, Any], t: ir.TypeRef) -> dict[str, Any]:
    check_handle(v, f"input {name!r}", stored=True)
    store.locate(v["uri"], v["sha256"], t.kind == "directory")
    return v


def _check_fetched(space: Attempt, store: ArtifactStore, template: ir.TaskTemplate) -> None:
    """Fail the attempt if the task changed a stored input it was given (the changed copy is taken out of
    use by the store, so no later task or cache hit sees it)."""
    for path, sha, is_dir in space.fetched:
        try:
            store.check_after(path, sha, is_dir)
        except BoundaryError as exc:
            raise TaskError(
                "typedflow.InputModified",
                f"task {template.name} changed a stored input it was given ({exc}); inputs are read-only: "
                "copy one into TypedFile.new() to change it",
            ) from None


def execute(
    template: ir.TaskTemplate,
    inputs: dict[str, Any],
    *,
    store: ArtifactStore,
    use_cache: bool = True,
    scratch: Path | None = None,
    task: Any = None,
    context: RunContext | None = None,
    known: CacheProbe | None = None,
    log: Sink | None = None,
) -> Outcome:
    """Run one attempt of ``template`` on typed-JSON ``inputs``; typed-JSON outputs by name.
    ``context``: what ``typedflow.current_run()`` gives the task (or its fields, made into one only
    if the task asks); ``known``: a cache look-up the caller already made (a miss); ``log``: where the
    task's output goes when it wrote any (secret values blanked out), see :mod:`typedflow.runtime.capture`."""
    started = utcnow()
    t0 = time.perf_counter()
    looked = known if known is not None and known.hit is None else probe(template, inputs, store, use_cache)
    if looked.hit is not None:
        return looked.hit
    digests, key = looked.digests, looked.key
    plan = _calling(template, task)
    task = plan.task
    if plan.input_files:  # a table file is a file: a template without files has no table to check
        try:
            check_input_handles(template, inputs, store)
        except BoundaryError as exc:
            raise TaskError("typedflow.InputError", str(exc)) from None
        _check_tables(template.inputs, inputs, received=True)
    try:
        kwargs = {name: structure(inputs[name], ann) for name, structure, ann in plan.decoders}
    except Exception as exc:
        raise TaskError("InputDecodeError", f"cannot decode inputs of {template.name}: {exc}") from exc
    space = Attempt(scratch, plan.scratch_prefix, context, store)
    if plan.secret_inputs:  # str inputs whose names say they are secrets: blanked out like revealed ones
        space.revealed.extend(v for name in plan.secret_inputs if isinstance(v := inputs.get(name), str))
    install_capture()  # also where nothing is kept: a secret's value is blanked out of what the task writes
    if log is not None:
        space.output = Output()
    scope = task_environment(template)
    token = ATTEMPT.set(space)
    try:
        if scope is not None:  # the task's variables and secrets, resolved as it starts
            try:
                scope.enter(space.revealed)
            except SecretUnavailableError as exc:  # the message names the reference, never a value
                raise TaskError("typedflow.SecretUnavailable", str(exc)) from None
        try:
            if plan.positional:
                value = task.fn(*[kwargs.pop(n) for n in plan.positional], **kwargs)
            else:
                value = task.fn(**kwargs)
        except SystemExit as exc:  # a task's sys.exit() fails the task, in a thread as in a worker process
            raise TaskError("SystemExit", f"the task called sys.exit({exc.code!r})", traceback.format_exc()) from None
        except Exception as exc:
            if space.fetched:
                _check_fetched(space, store, template)
            message, tb = str(exc), traceback.format_exc()
            hidden = space.revealed
            if hidden:  # an error is reported, recorded and shown: no secret the task had may be in it
                message, tb = redact(message, hidden), redact(tb, hidden)
            raise TaskError(
                f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."), message, tb, exc
            ) from exc
        outputs = _encode_outputs(value, template, plan.unstructure, plan.normalize)
        if plan.output_files:
            _check_tables(template.outputs, outputs, received=False)
            outputs = store_outputs(outputs, template, store)
        if space.fetched:
            _check_fetched(space, store, template)
    finally:
        if scope is not None:
            scope.exit()
        ATTEMPT.reset(token)
        if space.held:
            release_output(space)
        if space.created is not None:
            shutil.rmtree(space.created, ignore_errors=True)
        if log is not None and space.output.parts:
            _keep_output(log, space, template)
    if key is not None:
        store.put_json("cache-" + key, {"task": template.name, "outputs": outputs})
    return Outcome("succeeded", outputs, key, started, utcnow(), time.perf_counter() - t0, digests)


def _keep_output(log: Sink, space: Attempt, template: ir.TaskTemplate) -> None:
    """Hand the attempt's output to ``log`` with every secret value it had blanked out; a sink that
    fails never fails the task."""
    text = space.output.text()
    hidden = space.revealed
    try:
        log(redact(text, hidden) if hidden else text)
    except Exception as exc:
        logging.getLogger(__name__).warning("could not keep the output of task %s: %s", template.name, exc)


def _check_tables(params: tuple[ir.Param, ...], values: dict[str, Any], *, received: bool) -> None:
    """Table files with a column schema, checked on their data (:mod:`typedflow.tables.enforce`)."""
    problem = table_violation(params, values, received=received)
    if problem is not None:
        raise TaskError("typedflow.tables.SchemaError", problem)


class _Calling:
    """How to call one task for one template, worked out once: each input's structure hook, the
    return value's unstructure hook, and whether outputs hold files."""

    __slots__ = (
        "decoders",
        "input_files",
        "key",
        "normalize",
        "output_files",
        "positional",
        "scratch_prefix",
        "secret_inputs",
        "task",
        "template",
        "unstructure",
    )

    def __init__(self, task: Any, template: ir.TaskTemplate) -> None:
        sig = task.signature
        actual = sig.template.code_digest if sig.template is not None else None
        if actual != template.code_digest:
            raise CodeMismatchError(
                f'task "{template.name}" ({template.module}.{template.qualname}) has changed since the IR was '
                "compiled; compile again"
            )
        anns = sig.annotations
        self.task = task
        self.template = template
        self.key = (template.module, template.qualname)  # where resolve() finds the live task
        self.decoders = tuple(
            (p.name, converter.get_structure_hook(anns[p.name]), anns[p.name]) for p in template.inputs
        )
        # positional-only parameters (``def f(x, /)``) cannot be given by name: they lead the call, in order
        self.positional = tuple(p.name for p in template.inputs if p.name in sig.kinds.positional_only)
        returns = sig.returns
        hook = converter.get_unstructure_hook(returns)
        self.unstructure: Callable[[Any], Any] = hook
        self.output_files = any(has_files(p.type) for p in template.outputs)
        self.normalize = has_variants(template.returns)
        self.input_files = any(has_files(p.type) for p in template.inputs)
        self.scratch_prefix = f"tf-{template.name}-"
        self.secret_inputs = _keying(template).keyed


_CALLINGS: IdentityMemo[ir.TaskTemplate, _Calling] = IdentityMemo()


def _calling(template: ir.TaskTemplate, task: Any = None) -> _Calling:
    """How to call ``task`` (default: the template's live task, see :func:`resolve`) for ``template``."""
    c = _CALLINGS.get(template)
    if c is not None and c.task is (task if task is not None else live_task(c.key)):
        return c
    if task is None:
        task = resolve(template)
    return _CALLINGS.put(template, _Calling(task, template))


def _encode_outputs(
    value: Any, template: ir.TaskTemplate, unstructure: Callable[[Any], Any], normalize: bool
) -> dict[str, Any]:
    """Typed JSON of a task's return value, split into its named outputs (``normalize``: whether the
    return type has values of several spellings, put in normal form, see :func:`normal_form`)."""
    try:
        data = unstructure(value)
    except Exception as exc:
        raise TaskError(
            "TypeError", f"task {template.name} returned {type(value).__name__}, which is not {template.returns}: {exc}"
        ) from exc
    err = check_json(data, template.returns, "return value")
    if err:
        raise TaskError("TypeError", f"task {template.name}: {err}")
    if normalize:
        data = normal_form(data, template.returns)
    if not template.outputs:
        return {}
    if len(template.outputs) == 1 and template.outputs[0].name == "out" and template.returns.flavor != "namedtuple":
        return {"out": data}
    return {p.name: data[p.name] for p in template.outputs}
