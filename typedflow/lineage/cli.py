"""``typedflow lineage``: runs, show, trace, export, verify, pull, keygen."""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from typedflow.lineage._chain import LineTooLong
from typedflow.lineage.log import LineageIntegrityError, LineageLinkError, LineageLog
from typedflow.lineage.query import (
    Entry,
    iter_records,
    list_runs,
    render_run,
    render_runs,
    render_trace,
    show_run,
    trace,
)
from typedflow.lineage.verify import Keyring, verify_path
from typedflow.runtime.atomic import write_text
from typedflow.util.statedir import home, path_arg

__all__ = ["add_subparser", "default_log_path"]


def default_log_path() -> Path:
    return home() / "lineage" / "log.jsonl"


def _log(args: argparse.Namespace) -> Path:
    given = getattr(args, "log", None)
    return Path(given) if given else default_log_path()


def _not_readable(path: Path, *, folder_ok: bool = False) -> str | None:
    """Why ``path`` cannot be read as a log (or a bundle, ``folder_ok``), or None. A FIFO or a device is
    refused before it is opened: reading one could wait forever or never end."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # the command says that it is missing
    if stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode)):
        return None
    return f"{path} is not a {'file or folder' if folder_ok else 'regular file'}"


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A lineage command whose file errors (an output path that is a folder, a log that cannot be read) and
    integrity refusals are one line on stderr, not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except BrokenPipeError:
            raise  # the CLI's own exit for a reader that has gone
        except LineageIntegrityError as exc:
            print(f"typedflow lineage {args.lineage_command}: {exc}", file=sys.stderr)
            return 1
        except (LineageLinkError, LineTooLong) as exc:  # a log that cannot be read as one: bad input
            print(f"typedflow lineage {args.lineage_command}: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            named = exc.filename2 or exc.filename  # a rename's destination: the path given, not a temp file
            where = f"{str(named)[:200]}: " if named else ""
            print(f"typedflow lineage {args.lineage_command}: {where}{exc.strerror or exc}", file=sys.stderr)
            return 2

    return run


def _records(args: argparse.Namespace) -> list[Entry] | None:
    path = _log(args)
    if not path.exists():
        print(f"no lineage log at {path}", file=sys.stderr)
        return None
    problem = _not_readable(path)
    if problem:
        print(problem, file=sys.stderr)
        return None
    try:
        return list(iter_records(path))
    except LineTooLong:
        raise
    except ValueError as exc:
        print(f"{path}: unreadable record ({exc}); run 'typedflow lineage verify'", file=sys.stderr)
        return None


def _cmd_runs(args: argparse.Namespace) -> int:
    records = _records(args)
    if records is None:
        return 1
    print(render_runs(list_runs(records), args.format))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    records = _records(args)
    if records is None:
        return 1
    detail = show_run(records, args.run_id)
    if detail is None:
        print(f"no run {args.run_id} in {_log(args)}", file=sys.stderr)
        return 1
    print(render_run(detail, args.format))
    return 0


def _cmd_trace(args: argparse.Namespace) -> int:
    records = _records(args)
    if records is None:
        return 1
    from typedflow.lineage.attribution import run_ir_loader

    # A log at <home>/lineage/log.jsonl: each local run keeps its IR at <home>/runs/<run_id>/ir.json.
    result = trace(records, args.artifact, ir_for=run_ir_loader(_log(args).absolute().parent.parent))
    if not result.found:
        print(f"no lineage for {args.artifact}", file=sys.stderr)
        return 1
    print(render_trace(result, args.format))
    return 0


@contextlib.contextmanager
def _output(out: str) -> Iterator[IO[str]]:
    """stdout, or a file written whole when the block ends (an export that fails leaves what was there)."""
    if out == "-":
        yield sys.stdout
        return
    buf = io.StringIO()
    yield buf
    write_text(Path(out), buf.getvalue())


_LOG_FILES = ("", ".head", ".head.tmp", ".checkpoints", ".repairs")  # the log's own files: <log><suffix>


def _log_file(out: str, log: Path) -> bool:
    """Whether ``out`` is the log or one of its files (head, checkpoints, repairs...): an export written
    there would destroy the records it exports."""
    if out == "-":
        return False
    target, source = Path(out).resolve(), log.resolve()
    if target.parent == source.parent:
        rest = target.name.removeprefix(source.name)
        if rest != target.name and (rest in _LOG_FILES or rest.startswith(".torn-")):
            return True
    try:
        return os.path.samefile(target, source)  # a hard link to it
    except OSError:
        return False


def _cmd_export(args: argparse.Namespace) -> int:
    path = _log(args)
    if not path.exists():
        print(f"no lineage log at {path}", file=sys.stderr)
        return 1
    problem = _not_readable(path)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if not args.all and not args.run_ids:
        print("name RUN_IDs or pass --all", file=sys.stderr)
        return 2
    if args.all and args.run_ids:  # which one was meant: a bundle of every run is not one of a few
        print("name RUN_IDs or pass --all, not both", file=sys.stderr)
        return 2
    if _log_file(args.output, path):
        print(f"-o {args.output} is the lineage log {path} or one of its files; export elsewhere", file=sys.stderr)
        return 2
    run_ids = None if args.all else set(args.run_ids)
    if args.format == "bundle":
        from typedflow.lineage.export.bundle import export_bundle

        if args.output == "-":
            print("a bundle needs -o DIR or -o FILE.zip", file=sys.stderr)
            return 2
        try:
            manifest = export_bundle(path, args.output, run_ids=run_ids)
        except FileExistsError as exc:  # where it would go: a folder not empty, a file in the way
            print(f"typedflow lineage export: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"export failed: {exc}", file=sys.stderr)
            return 1
        signed = (
            f"manifest signed by key {manifest['key_id']}"
            if manifest["key_id"]
            else "manifest not signed (no TYPEDFLOW_LINEAGE_KEY)"
        )
        print(
            f"bundle {args.output}: {manifest['count']} records, head {manifest['head_hash']}; "
            f"{manifest['checkpoints']} checkpoint(s), {signed}"
        )
        return 0
    from typedflow.lineage.export.checkpoints import read_checkpoints

    try:
        selected = [e for e in iter_records(path) if run_ids is None or e[0].run_id in run_ids]
    except LineTooLong:
        raise
    except ValueError as exc:
        print(f"{path}: unreadable record ({exc}); run 'typedflow lineage verify'", file=sys.stderr)
        return 1
    if not selected:
        print("no records for the selected runs", file=sys.stderr)
        return 1
    if args.format == "openlineage":
        from typedflow.lineage.export.openlineage import iter_openlineage, write_openlineage

        with _output(args.output) as f:
            n = write_openlineage(iter_openlineage(selected, read_checkpoints(path)), f, jsonl=args.jsonl)
        if args.output != "-":
            print(f"{n} OpenLineage events -> {args.output}")
        return 0
    from typedflow.lineage.export.prov import to_prov_json

    with _output(args.output) as f:
        f.write(to_prov_json(selected, read_checkpoints(path), indent=2))
        f.write("\n")
    if args.output != "-":
        print(f"PROV-JSON for {len(selected)} records -> {args.output}")
    return 0


def _anchors(args: argparse.Namespace) -> tuple[Keyring | None, str | None] | None:
    """The --public-key(s) and --trusted-head given, or None after saying what is wrong with them."""
    from typedflow.lineage.verify_bundle import load_keyring, parse_trusted_head

    key: Keyring | None = None
    trusted = None
    if getattr(args, "public_key", None):
        try:
            key = load_keyring(args.public_key)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return None
    if getattr(args, "trusted_head", None):
        try:
            trusted = parse_trusted_head(args.trusted_head)
        except ValueError as exc:
            print(f"--trusted-head {args.trusted_head}: {exc}", file=sys.stderr)
            return None
    return key, trusted


def _cmd_verify(args: argparse.Namespace) -> int:
    anchors = _anchors(args)
    if anchors is None:
        return 2
    key, trusted = anchors
    target = Path(args.target) if args.target else _log(args)
    if not target.exists():
        print(f"FAIL: {target} does not exist")
        return 1
    problem = _not_readable(target, folder_ok=True)
    if problem:
        print(f"FAIL: {problem}")
        return 1
    try:
        result = verify_path(target, deep=args.deep, public_key=key, trusted_head=trusted)
    except OSError as exc:
        print(f"FAIL: cannot read {target}: {exc}")
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(result.summary())
    return 0 if result.ok else 1


def _cmd_pull(args: argparse.Namespace) -> int:
    from typedflow.lineage.cloud import iter_location, pull

    anchors = _anchors(args)
    if anchors is None:
        return 2
    key, _ = anchors
    log_path = _log(args)
    try:
        objects = list(iter_location(args.location, run_id=args.run_id, checkpoints=True))
        anchored = (
            list(iter_location(args.anchor, run_id=args.run_id, versions=True, checkpoints=True))
            if args.anchor is not None
            else None
        )
    except ValueError as exc:
        print(f"pull: {exc}", file=sys.stderr)
        return 2
    with LineageLog(log_path) as log:
        result = pull(
            objects, log, key=key, anchor=anchored, anchor_retention=str(args.anchor or "").startswith("s3://")
        )
    for uri, reason in result.rejected:
        print(f"rejected {uri}: {reason}", file=sys.stderr)
    for uri, reason in result.missing:
        print(f"anchor {uri}: {reason}", file=sys.stderr)
    signers = result.key_ids or (tuple(key.keys)[:1] if key is not None else ())
    checked = (
        f"; {result.verified} verified with key{'s' if len(signers) > 1 else ''} {', '.join(k[:16] for k in signers)}"
        if key is not None
        else (f"; {result.unchecked} checkpoint(s) not checked (pass --public-key)" if result.unchecked else "")
    )
    missing = f", {len(result.missing)} anchor problem(s)" if args.anchor is not None else ""
    print(
        f"pulled run {args.run_id} ({args.target}): {result.appended} appended, {result.skipped} already present, "
        f"{len(result.rejected)} rejected{missing}{checked}"
    )
    verified = verify_path(log_path)
    print(verified.summary())
    return 0 if verified.ok and not result.rejected and not result.missing else 1


def _cmd_keygen(args: argparse.Namespace) -> int:
    from typedflow.lineage.signing import ENV_KEY, SigningError, keygen

    try:
        key, pub, key_id = keygen(args.output)
    except SigningError as exc:
        print(f"keygen: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"keygen: {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"private key {key} (mode 0600): sign with {ENV_KEY}={key}")
    print(f"public key  {pub}: give it to auditors (lineage verify --public-key {pub})")
    print(f"key id      {key_id}")
    return 0


def add_subparser(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``lineage`` and its subcommands; each sets ``func`` returning an exit code."""
    log_help = "lineage log (default: $TYPEDFLOW_HOME/lineage/log.jsonl)"
    parser = subparsers.add_parser("lineage", help="query, export and verify lineage records")
    parser.add_argument("--log", type=path_arg, default=None, help=log_help)
    # Accept --log after the subcommand too; SUPPRESS keeps the parent's value when it is absent.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log", type=path_arg, default=argparse.SUPPRESS, help=log_help)
    sub = parser.add_subparsers(dest="lineage_command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("runs", parents=[common], help="list runs")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_guarded(_cmd_runs))

    p = sub.add_parser("show", parents=[common], help="show one run's nodes, statuses, digests and timings")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_guarded(_cmd_show))

    p = sub.add_parser("trace", parents=[common], help="upstream lineage of an artifact (URI, path or digest)")
    p.add_argument("artifact", metavar="ARTIFACT")
    p.add_argument("--format", choices=("text", "json", "dot", "mermaid"), default="text")
    p.set_defaults(func=_guarded(_cmd_trace))

    p = sub.add_parser("export", parents=[common], help="export runs as a bundle, OpenLineage or PROV-JSON")
    p.add_argument("run_ids", metavar="RUN_ID", nargs="*")
    p.add_argument("--all", action="store_true", help="export the whole log")
    p.add_argument("--format", choices=("bundle", "openlineage", "prov-json"), required=True)
    p.add_argument("--jsonl", action="store_true", help="OpenLineage as JSON Lines instead of an array")
    p.add_argument("-o", "--output", required=True, help="output path ('-' for stdout, except bundles)")
    p.set_defaults(func=_guarded(_cmd_export))

    p = sub.add_parser("pull", parents=[common], help="gather a cloud run's records into the local log, verifying each")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--target", choices=("stepfunctions", "vertex"), required=True)
    p.add_argument(
        "--from",
        dest="location",
        required=True,
        metavar="URI",
        help="where the run wrote its records: s3://bucket/prefix (stepfunctions), "
        "gs://bucket/pipeline-root/typedflow (vertex), or a directory",
    )
    p.add_argument(
        "--public-key",
        metavar="PUB",
        action="append",
        help="accept only records with a checkpoint signed with this key (PEM or DER), or with one of the keys "
        "given (repeat it, or name a file of several PEM keys or a directory of key files, across a key rotation)",
    )
    p.add_argument(
        "--anchor",
        metavar="URI",
        help="the write-once copy of the run's checkpoints (s3://bucket/prefix with Object Lock, gs://, or a "
        "directory): checkpoints are read there, must be under retention (s3) and must each find their record",
    )
    p.set_defaults(func=_guarded(_cmd_pull))

    p = sub.add_parser("verify", parents=[common], help="verify a bundle (dir or .zip) or a log")
    p.add_argument("target", metavar="BUNDLE_OR_LOG", nargs="?", help="default: the lineage log")
    p.add_argument("--deep", action="store_true", help="also parse and re-encode every line")
    _anchor_options(p)
    p.set_defaults(func=_guarded(_cmd_verify))

    p = sub.add_parser("keygen", help="write an Ed25519 key pair for signing lineage checkpoints")
    p.add_argument("-o", "--output", metavar="DIR", required=True, help="directory for lineage.key and lineage.pub")
    p.set_defaults(func=_guarded(_cmd_keygen))


def _anchor_options(p: argparse.ArgumentParser) -> None:
    from typedflow.lineage.verify_bundle import PUBLIC_KEY_HELP

    p.add_argument("--public-key", metavar="PUB", action="append", help=PUBLIC_KEY_HELP)
    p.add_argument(
        "--trusted-head",
        metavar="HASH",
        help="a record hash you recorded earlier: the chain must reach exactly that record "
        "(records after it must be covered by signed checkpoints)",
    )
