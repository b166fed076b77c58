"""The ``typedflow`` command."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from typedflow._version import __version__
from typedflow.backend import Backend, CommandFn, available
from typedflow.cli.documents import load_ir, stdout_to_stderr, write_output
from typedflow.cli.loader import LoadError
from typedflow.dsl.registry import collecting
from typedflow.errors import (
    InputError,
    IRValidationError,
    TaskDefinitionError,
    TypedflowError,
    WorkflowDefinitionError,
)
from typedflow.runtime.inputs import parse_inputs
from typedflow.util.statedir import path_arg

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------- check


def _expand_dirs(targets: Sequence[str]) -> list[str]:
    """A directory stands for the ``.py`` files directly in it (not ``__init__.py``), sorted; a package
    directory for the package and those modules, by dotted name (so relative imports work)."""
    out: list[str] = []
    for t in targets:
        if _is_package(t):
            out += _package_modules(Path(t))
        elif os.path.isdir(t):
            out += sorted(str(p) for p in Path(t).glob("*.py") if p.name != "__init__.py") or [t]
        else:
            out.append(t)
    return out


def _is_package(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "__init__.py"))


def _mypy_paths(targets: Sequence[str]) -> list[str]:
    """What mypy is given: a package directory as it is (mypy reads it as the package), the rest as
    ``check`` expands it."""
    from typedflow.cli.loader import split_spec

    return [split_spec(s)[0] for t in targets for s in ([t] if _is_package(t) else _expand_dirs([t]))]


def _package_modules(folder: Path) -> list[str]:
    """The package in ``folder`` and its modules by dotted name; the folder above its top-level package
    goes on ``sys.path`` so that they import by those names."""
    parts: list[str] = []
    root = folder.resolve()
    while (root / "__init__.py").exists():
        parts.insert(0, root.name)
        root = root.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    package = ".".join(parts)
    return [package, *sorted(f"{package}.{p.stem}" for p in folder.glob("*.py") if p.name != "__init__.py")]


def cmd_check(args: argparse.Namespace) -> int:
    from typedflow.cli.loader import import_target, named_workflow, split_spec

    problems: list[str] = []
    targets = _expand_dirs(args.targets)
    with collecting() as collected, stdout_to_stderr():  # what modules print on import is no finding
        for spec in targets:
            target, name = split_spec(spec)
            try:
                module = import_target(target)
                if name is not None:  # the whole module is checked; the name must still be one of its workflows
                    named_workflow(module, target, name)
            except LoadError as exc:
                problems.append(exc.render())
    workflows = collected.workflows
    tasks = collected.tasks
    seen: set[str] = set()
    for wf in workflows:
        for p in wf.problems:
            line = p.render()
            if line not in seen:
                seen.add(line)
                problems.append(line)
    for t in tasks:
        for p in t.signature.problems:
            line = p.render()
            if line not in seen:
                seen.add(line)
                problems.append(line)
    invalid = {wf.name for wf in workflows if wf.problems}
    by_checker = ""
    if args.mypy:
        from typedflow.cli.check_mypy import merge, run_mypy, workflows_with_findings

        mypy_lines, _ = run_mypy(_mypy_paths(args.targets))
        merged = merge(problems, mypy_lines)
        problems = merged.lines
        invalid |= workflows_with_findings(workflows, merged.mypy_only_lines)
        counts = (
            (merged.both, "by both checkers"),
            (merged.ours - merged.both, "by typedflow only"),
            (merged.mypy_only, "by mypy only"),
        )
        by_checker = "".join(f"{n} {who}, " for n, who in counts if n).removesuffix(", ") + "; "
        by_checker = "" if by_checker == "; " else by_checker
    for line in problems:
        print(line)
    if problems:
        print(
            f"Found {len(problems)} error{'s' if len(problems) != 1 else ''} "
            f"({by_checker}{len(invalid)} of {len(workflows)} workflows invalid)",
            file=sys.stderr,
        )
        return EXIT_FAIL
    print(
        f"Success: {len(workflows)} workflow{'s' if len(workflows) != 1 else ''} and {len(tasks)} "
        f"task{'s' if len(tasks) != 1 else ''} checked, no errors"
        + (" (definition-time checks and mypy)" if args.mypy else "")
    )
    return EXIT_OK


# ----------------------------------------------------------------------------- loading


# ----------------------------------------------------------------------------- compile


def _target_parser(backends: dict[str, Backend], argv: Sequence[str]) -> Backend | None:
    """The backend named by ``--target`` in ``argv`` (so its options can be added to the parser)."""
    for i, a in enumerate(argv):
        if a == "--target" and i + 1 < len(argv):
            return backends.get(argv[i + 1])
        if a.startswith("--target="):
            return backends.get(a.split("=", 1)[1])
    return None


def _ship(args: argparse.Namespace, doc: Any) -> None:
    """For a target that ships code: the bundle and image plan (``args.shipment``)."""
    if not args.backend_obj.ships_code:
        return
    from typedflow.shipping.cli import shipment

    args.shipment = shipment(args, doc)


def cmd_compile(args: argparse.Namespace) -> int:
    backend: Backend = args.backend_obj
    doc, _ = load_ir(args)
    _ship(args, doc)
    options = {k: v for k, v in vars(args).items() if k not in ("func", "backend_obj")}
    if args.output and (args.output.endswith("/") or Path(args.output).is_dir()):
        return _compile_to_dir(backend, doc, options, Path(args.output))
    text = backend.compile(doc, options)
    try:
        write_output(text, args.output)
    except BrokenPipeError:  # stdout's reader has gone (`| head`): main() exits 141
        raise
    except OSError as exc:  # a directory, a read-only place: nothing was written
        _err(f"typedflow: cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_USAGE
    if args.output:
        _err(f"wrote {args.output} ({len(text.encode())} bytes, target {backend.name})")
    return EXIT_OK


def _compile_to_dir(backend: Backend, doc: Any, options: dict[str, Any], folder: Path) -> int:
    """``compile -o DIR``: one file per document (a workflow split into several state machines)."""
    from typedflow.runtime.atomic import write_text

    options = {**options, "output": None}
    if backend.compile_files is not None:
        files = backend.compile_files(doc, options)
    else:
        files = {doc.workflow.name + backend.default_suffix: backend.compile(doc, options)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            write_text(folder / name, text)
    except OSError as exc:
        _err(f"typedflow: cannot write into {folder}: {exc.strerror or exc}")
        return EXIT_USAGE
    for name, text in files.items():
        _err(f"wrote {folder / name} ({len(text.encode())} bytes, target {backend.name})")
    return EXIT_OK


def _target_command(args: argparse.Namespace, command: CommandFn | None, missing: str) -> int:
    backend: Backend = args.backend_obj
    if command is None:
        _err(f"target {backend.name!r} {missing}")
        return EXIT_USAGE
    doc, _ = load_ir(args)
    if command is args.backend_obj.deploy:
        _ship(args, doc)
    return command(doc, args)


def cmd_deploy(args: argparse.Namespace) -> int:
    return _target_command(args, args.backend_obj.deploy, "has no deploy step")


def cmd_start(args: argparse.Namespace) -> int:
    return _target_command(args, args.backend_obj.start, "cannot start executions")


def cmd_worker(args: argparse.Namespace) -> int:
    backend: Backend = args.backend_obj
    if backend.worker is None:
        _err(f"target {backend.name!r} has no worker")
        return EXIT_USAGE
    return backend.worker(args)


# ----------------------------------------------------------------------------- run


def _resume_command(args: argparse.Namespace, run_id: str) -> str:
    """The command that resumes ``run_id``: this one's workflow and run options, without inputs."""
    parts = ["typedflow", "run", *(["--ir", args.ir] if args.ir else [args.spec]), "--resume", run_id]
    if args.store:
        parts += ["--store", args.store]
    if args.isolation != "thread":
        parts += ["--isolation", args.isolation]
    if args.max_workers:
        parts += ["--max-workers", str(args.max_workers)]
    if args.no_cache:
        parts.append("--no-cache")
    if args.log_format != "auto":
        parts += ["--log-format", args.log_format]
    return shlex.join(parts)


def cmd_run(args: argparse.Namespace) -> int:
    from typedflow.cli.progress import make_progress
    from typedflow.errors import RunInterrupted
    from typedflow.runtime.running import RUN_ID, RunOptions, run_ir

    if args.resume is not None and RUN_ID.fullmatch(args.resume) is None:
        raise InputError(f"--resume {args.resume[:80]!r}: not a run id")
    if args.resume is not None and (args.input or args.inputs_file):
        # A resumed run goes on with what it started with: its finished nodes were computed from those
        # inputs, and mixing them with new ones would give outputs no single run could have given.
        raise InputError(
            f"run {args.resume} is resumed with the inputs it started with, which are fixed; "
            "leave out --input and --inputs-file (or start a new run without --resume)"
        )
    doc, _ = load_ir(args)
    if args.resume is not None:  # "" too (an empty variable in a script): a bad run id, not a new run
        inputs: dict[str, Any] = {}
    else:
        inputs = parse_inputs(doc, args.input or [], args.inputs_file)
    progress = make_progress(args.log_format, sys.stderr)
    options = RunOptions(
        store=Path(args.store) if args.store else None,
        max_workers=args.max_workers,
        isolation=args.isolation,
        use_cache=not args.no_cache,
        resume=args.resume,
        listener=progress.listener,
        signals=True,
        stop_grace=args.stop_grace,
    )
    try:
        # What tasks print (print(), C code, child processes) must not reach jq; what Python prints
        # becomes lines of the progress view.
        with stdout_to_stderr(progress.printed):
            result = run_ir(doc, inputs, options, encoded=True)
    except RunInterrupted as exc:
        from typedflow.cli.runs import stopped

        progress.interrupted(exc, _resume_command(args, exc.run_id))
        return stopped(exc)
    progress.finish(result, doc)
    if result.ok:
        from typedflow.cli.runops import outputs_text

        sys.stdout.write(outputs_text(doc, result.outputs))
        return EXIT_OK
    return EXIT_FAIL


# ----------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _seconds(text: str) -> float:
    try:
        n = float(text)
    except ValueError:
        n = -1.0
    if not 0 <= n < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), got {text!r}")
    return n


def _add_spec(p: argparse.ArgumentParser, ir_option: bool = True) -> None:
    p.add_argument(
        "spec",
        nargs="?",
        metavar="FILE_OR_MODULE:WORKFLOW",
        help="the workflow, e.g. pipeline.py:training or my_pkg.flows:training",
    )
    if ir_option:
        p.add_argument("--ir", metavar="FILE", help="use a compiled IR document instead of importing code")


def _add_target_options(
    backend: Backend, parser: argparse.ArgumentParser, hook: Callable[[argparse.ArgumentParser], None] | None
) -> None:
    """Add a target's own flags; a broken target must not break the other commands."""
    if hook is None:
        return
    try:
        hook(parser)
    except Exception as exc:
        parser.set_defaults(target_error=f"target {backend.name!r} is not usable: {type(exc).__name__}: {exc}")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    backends = available()
    chosen = _target_parser(backends, argv)
    targets = ", ".join(backends) or "none"
    parser = argparse.ArgumentParser(
        prog="typedflow",
        description="Typed ML workflows: check them, compile them to a target, run them locally.",
    )
    parser.add_argument("--version", action="version", version=f"typedflow {__version__}")
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="settings from [tool.typedflow.profiles.NAME] of the nearest pyproject.toml (also $TYPEDFLOW_PROFILE; "
        "may be given anywhere on the command line; flags override it)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "check",
        help="trace every workflow in a module and report all wiring errors",
        description="Import FILE_OR_MODULE, trace every workflow and report every error as "
        "path:line: error: message, like mypy. Exit 1 on any error.",
    )
    p.add_argument(
        "targets",
        nargs="+",
        metavar="FILE_OR_MODULE",
        help="workflow files, modules, or folders (their .py files; a package folder: the package and its "
        "modules); FILE:WORKFLOW checks the whole file and fails if it has no workflow of that name",
    )
    p.add_argument("--mypy", action="store_true", help="also run mypy with the typedflow plugin")
    p.set_defaults(func=cmd_check)

    target_help = "installed targets: " + "; ".join(f"{n} ({b.description})" for n, b in backends.items())
    for name, fn, helptext in (
        ("compile", cmd_compile, "compile a workflow for a target"),
        ("deploy", cmd_deploy, "deploy a workflow to a target"),
        ("start", cmd_start, "start an execution of a deployed workflow"),
    ):
        epilog = None
        if chosen is None:  # a target's own options are added only once the target is known
            epilog = (
                f"Each target has options of its own, listed with --target: "
                f"`typedflow {name} --target TARGET --help` (TARGET: {targets})."
            )
        p = sub.add_parser(
            name,
            help=helptext,
            description=f"{helptext[0].upper()}{helptext[1:]}. {target_help}.",
            epilog=epilog,
        )
        _add_spec(p)
        p.add_argument("--target", metavar="TARGET", help=f"one of: {targets} (or the profile's target)")
        if name == "compile":
            p.add_argument("-o", "--output", metavar="OUT", help="write here (atomically) instead of stdout")
        if name in ("compile", "deploy") and (chosen is None or chosen.ships_code):
            from typedflow.shipping.cli import add_code_options

            add_code_options(p)
        if name == "start":
            p.add_argument("--input", action="append", metavar="NAME=VALUE", help="a workflow input")
            p.add_argument("--inputs-file", metavar="FILE", help="a JSON object of inputs")
            p.add_argument("--wait", action="store_true", help="wait and print the outputs like `run`")
        if chosen is not None:
            _add_target_options(chosen, p, chosen.add_options)
            if name == "deploy":
                _add_target_options(chosen, p, chosen.add_deploy_options)
            if name == "start":
                _add_target_options(chosen, p, chosen.add_start_options)
        p.set_defaults(func=fn)

    p = sub.add_parser(
        "run",
        help="run a workflow on the local interpreter",
        description="Run a workflow's IR on the local interpreter. Stdout carries only the "
        "outputs as JSON; stderr starts with the run id (what --resume takes after a "
        "crash), then shows progress. Exit 0 on success, "
        "1 when the workflow fails, 2 on bad input.",
    )
    _add_spec(p)
    p.add_argument(
        "--input",
        action="append",
        metavar="NAME=VALUE",
        help="a workflow input by its declared type: plain text for str, bytes (base64), dates and enums; "
        "a path for files; JSON otherwise; null for None",
    )
    p.add_argument("--inputs-file", metavar="FILE", help="a JSON object of inputs")
    p.add_argument(
        "--store", type=path_arg, metavar="DIR", help="state directory (default $TYPEDFLOW_HOME or ./.typedflow)"
    )
    p.add_argument(
        "--max-workers", type=_positive_int, metavar="N", help="tasks run at once (default 2 x cores, min 4)"
    )
    p.add_argument(
        "--isolation",
        choices=["thread", "process"],
        default="thread",
        help="run tasks in threads (default) or in worker processes",
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the task cache")
    p.add_argument(
        "--resume",
        metavar="RUN_ID",
        help="resume a run that was interrupted, with the inputs it started with (give no --input)",
    )
    p.add_argument(
        "--stop-grace",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, how long running tasks get to finish before they are abandoned "
        "(default 5; the run can be resumed either way)",
    )
    p.add_argument(
        "--log-format",
        choices=["auto", "plain", "json"],
        default="auto",
        help="progress on stderr: live view on a terminal, plain lines, or JSON lines",
    )
    p.set_defaults(func=cmd_run)

    workers = sorted(n for n, b in backends.items() if b.worker is not None)
    p = sub.add_parser(
        "worker",
        help="serve tasks for a cloud target (e.g. worker stepfunctions)",
        description="Serve tasks for a cloud target. "
        + ("Each target has options of its own: `typedflow worker TARGET --help`." if chosen is None else ""),
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        choices=workers or None,
        help=f"the target whose tasks to serve: {', '.join(workers) or 'none installed'}",
    )
    if chosen is not None:
        _add_target_options(chosen, p, chosen.add_worker_options)
    p.set_defaults(func=cmd_worker)

    try:
        from typedflow.cli.graph import add_subparser as add_graph
    except ImportError:
        pass
    else:
        add_graph(sub)
    from typedflow.shipping.cli import add_subparsers as add_shipping

    add_shipping(sub)
    from typedflow.cli.runs import add_subparser as add_runs

    add_runs(sub, backends, chosen.name if chosen is not None else None)
    from typedflow.cli.config import add_subparser as add_config

    add_config(sub, build_parser)
    try:
        from typedflow.lineage.cli import add_subparser as add_lineage
    except ImportError:
        pass
    else:
        add_lineage(sub)
    return parser


class _Terminated(BaseException):
    """SIGTERM outside a run (e.g. while importing the workflow's module)."""


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    """SIGTERM ends the command like Ctrl-C does (a run replaces this with its own stop, see
    ``RunOptions.signals``)."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; its exit status (0 ok, 1 failed, 2 bad usage or input, 128 + N after
    signal N)."""
    try:
        rc = _main(argv)
        sys.stdout.flush()  # a reader that has gone (`| head`) shows here, not in Python's exit
        return rc
    except BrokenPipeError:
        # Nothing more can reach the reader; Python's own flush at exit must not fail on it either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        _err("typedflow: interrupted")
        return 128 + signal.SIGINT
    except _Terminated:
        _err("typedflow: terminated")
        return 128 + signal.SIGTERM


def _unshippable(exc: Exception) -> bool:
    """A bundle or environment that cannot be shipped as given: a usage error (nothing was changed)."""
    from typedflow.dsl.environment import BadEnvironment
    from typedflow.shipping.bundle import BundleError

    return isinstance(exc, BundleError | BadEnvironment)


def _main(argv: Sequence[str] | None) -> int:
    from typedflow.cli import profiles

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, profile_name, selected_by = profiles.take_profile(argv)
        profile = profiles.load(profile_name) if profile_name else None
    except InputError as exc:
        _err(f"typedflow: {exc}")
        return EXIT_USAGE
    given = list(argv)
    if profile is not None:
        argv = profiles.with_target(argv, profile)
    if argv and argv[0] == "worker" and len(argv) > 1:
        argv_for_target = ["--target", argv[1], *argv]
    else:
        argv_for_target = argv
    parser = build_parser(argv_for_target)
    if profile is not None:
        try:
            profiles.apply(parser, argv, profile)
        except InputError as exc:
            _err(f"typedflow: {exc}")
            return EXIT_USAGE
    args = parser.parse_args(argv)
    args.profile_obj, args.profile_selected_by, args.argv = profile, selected_by, given
    profiles.apply_environment(profile, getattr(args, "target", None))
    backends = available()
    target = getattr(args, "target", None) if args.func in (cmd_compile, cmd_deploy, cmd_start, cmd_worker) else None
    if target is None and args.func in (cmd_compile, cmd_deploy, cmd_start):
        _err(f"typedflow {argv[0]}: --target is required (or a profile with a target: --profile NAME)")
        return EXIT_USAGE
    if target is not None:
        backend = backends.get(target)
        if backend is None:
            _err(f"typedflow: unknown target {target!r}; installed targets: {', '.join(backends) or 'none'}")
            return EXIT_USAGE
        args.backend_obj = backend
        if getattr(args, "target_error", None):
            _err(f"typedflow: {args.target_error}")
            return EXIT_USAGE
    try:
        with _sigterm_stops() if args.func is cmd_run else contextlib.nullcontext():
            rc: int = args.func(args)
        return rc
    except (WorkflowDefinitionError, TaskDefinitionError) as exc:
        for p in exc.problems:
            print(p.render())
        return EXIT_FAIL
    except LoadError as exc:
        _err(exc.render())
        return EXIT_USAGE
    except InputError as exc:
        _err(f"typedflow: bad input: {exc}")
        return EXIT_USAGE
    except IRValidationError as exc:
        _err(f"typedflow: {exc}")
        return EXIT_USAGE
    except TypedflowError as exc:  # e.g. a construct a target cannot express, with its source line
        _err(f"typedflow: {exc}")
        return EXIT_USAGE if _unshippable(exc) else EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
