"""Command-line parts of shipping: the code options of ``compile``/``deploy``, ``typedflow bundle``
and ``typedflow build``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import attrs

from typedflow import ir
from typedflow.cli.documents import load_ir

from . import plan as plans
from .bundle import Bundle, BundleError, build, check_tasks, detect_root, listing


@attrs.frozen
class Shipment:
    """What a deployment ships: the code bundle (None: tasks import code from their environment) and
    the plan of images."""

    bundle: Bundle | None
    plan: plans.Plan
    code_root: Path | None


def add_code_options(p: argparse.ArgumentParser, registry: bool = True) -> None:
    g = p.add_argument_group("code and environment")
    g.add_argument(
        "--code-root",
        metavar="DIR",
        help="the folder whose code is bundled (default: the folder the workflow's module is imported from)",
    )
    g.add_argument(
        "--no-bundle",
        action="store_true",
        help="ship no code bundle: tasks import their modules from the environment they run in",
    )
    if registry:
        g.add_argument(
            "--registry",
            metavar="URI",
            help="container registry of the images `typedflow build` made (tasks run in "
            "URI/typedflow-env:TAG); without it, containers start from a stock Python image",
        )


def _root(args: argparse.Namespace, doc: ir.WorkflowIR) -> Path:
    given = getattr(args, "code_root", None)
    if given:
        root = Path(given)
        if not root.is_dir():
            raise BundleError(f"--code-root {given}: not a folder")
        return root.resolve()
    if getattr(args, "ir", None):
        raise BundleError(
            "a workflow given as --ir has no source to bundle: give --code-root DIR (or --no-bundle when its "
            "code is installed where tasks run)"
        )
    return detect_root(doc)


def _project_root(args: argparse.Namespace, doc: ir.WorkflowIR) -> Path | None:
    """Where the project's declared dependencies are looked for when no bundle is made."""
    try:
        return _root(args, doc)
    except BundleError:
        return None


def bundle_of(args: argparse.Namespace, doc: ir.WorkflowIR) -> Bundle:
    """The checked bundle of the workflow: every task's module is in it (or installed)."""
    bundle = build(_root(args, doc))
    problems = check_tasks(bundle, doc)
    if problems:
        raise BundleError("; ".join(problems))
    return bundle


def shipment(args: argparse.Namespace, doc: ir.WorkflowIR) -> Shipment:
    """The bundle and plan ``compile``/``deploy`` use, from their options."""
    bundle = None if getattr(args, "no_bundle", False) else bundle_of(args, doc)
    root = bundle.root if bundle is not None else _project_root(args, doc)
    plan = plans.make(
        doc, code=bundle.digest if bundle else None, code_root=root, registry=getattr(args, "registry", None)
    )
    return Shipment(bundle, plan, root)


# ----------------------------------------------------------------------------- typedflow bundle


def cmd_bundle(args: argparse.Namespace) -> int:

    doc, _ = load_ir(args)
    try:
        bundle = build(_root(args, doc))
    except BundleError as exc:
        print(f"typedflow bundle: {exc}", file=sys.stderr)
        return 2
    problems = check_tasks(bundle, doc)
    if args.output:
        from typedflow.runtime.atomic import write_bytes

        try:
            write_bytes(Path(args.output), bundle.zip_bytes())
        except OSError as exc:  # a folder, a place nothing can be written: nothing was written
            print(f"typedflow bundle: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
    if args.json:
        out: dict[str, Any] = {
            "digest": bundle.digest,
            "root": str(bundle.root),
            "size": bundle.size,
            "files": listing(bundle),
            "skipped": [{"path": s.path, "why": s.why} for s in bundle.skipped],
            "problems": problems,
        }
        print(json.dumps(out, indent=2))
    else:
        if args.list:
            for f in listing(bundle):
                print(f"{f['size']:>10,}  {f['path']}")
            for s in bundle.skipped:
                print(f"{'skipped':>10}  {s.path}  ({s.why})")
        print(
            f"{bundle.digest}  {len(bundle.files)} files, {bundle.size / 1024:,.1f} KiB from {bundle.root}"
            f" ({len(bundle.skipped)} skipped{'' if args.list else '; --list shows them'})"
        )
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


def add_subparsers(sub: Any) -> None:
    """Register ``typedflow bundle`` and ``typedflow build``."""
    p = sub.add_parser(
        "bundle",
        help="show (or write) the code bundle that deploy uploads for a workflow",
        description="Show what goes into the workflow's code bundle: the folder its module is imported from "
        "(or --code-root), less what .gitignore files, the built-in rules (tests, data, virtual "
        "environments, caches) and .typedflowignore exclude. The digest is over normalized file contents. "
        "Exit 1 when a task's module would not be in it.",
    )
    p.add_argument("spec", nargs="?", metavar="FILE_OR_MODULE:WORKFLOW", help="the workflow, e.g. flows.py:training")
    p.add_argument("--ir", metavar="FILE", help="a compiled IR document (needs --code-root)")
    p.add_argument("--code-root", metavar="DIR", help="the folder to bundle (default: detected)")
    p.add_argument("--list", action="store_true", help="list every file and every skipped path with the reason")
    p.add_argument("--json", action="store_true", help="print the bundle as JSON (digest, files, skipped)")
    p.add_argument("-o", "--output", metavar="ZIP", help="also write the bundle's zip here")
    p.set_defaults(func=cmd_bundle)
    from .image import add_build_parser

    add_build_parser(sub)


__all__ = ["Shipment", "add_code_options", "add_subparsers", "bundle_of", "shipment"]
