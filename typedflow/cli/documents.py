"""What commands read and write: the workflow or IR document they name, their output, and stdout
kept for that output while user code runs."""

from __future__ import annotations

import argparse
import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typedflow.cli.loader import LoadError, load_workflow
from typedflow.ir.codec import IR_MAX_BYTES, loads
from typedflow.runtime.atomic import write_text

__all__ = ["load_ir", "stdout_to_stderr", "write_output"]


def load_ir(args: argparse.Namespace) -> tuple[Any, Any]:
    """(IR, Workflow or None) from ``SPEC`` or ``--ir FILE``."""
    if getattr(args, "ir", None):
        try:
            mode = os.stat(args.ir).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode):  # it could be read forever
                raise LoadError(f"--ir: {args.ir} is not a regular file")
            with open(args.ir, "rb") as f:
                data = f.read(IR_MAX_BYTES + 1)  # loads refuses what is longer, without reading it all
        except OSError as exc:
            raise LoadError(f"cannot read the IR document {args.ir}: {exc.strerror or exc}") from None
        return loads(data), None
    if not args.spec:
        raise LoadError("name a workflow as FILE_OR_MODULE:WORKFLOW, or pass --ir FILE")
    with stdout_to_stderr():  # stdout carries the command's output, not what the module prints
        wf = load_workflow(args.spec)
    return wf.ir, wf


def write_output(text: str, output: str | None) -> None:
    """``text`` to stdout (``output`` None or ``-``) or atomically to the file ``output``."""
    if output is None or output == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    write_text(Path(output), text)


@contextlib.contextmanager
def stdout_to_stderr(text: Any = None) -> Iterator[None]:
    """File descriptor 1 points at stderr inside the block, and ``sys.stdout`` at ``text`` (default
    ``sys.stderr``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    before, sys.stdout = sys.stdout, (text if text is not None else sys.stderr)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)
        sys.stdout = before
