"""Where a run's task modules were imported from, so that a later process can resume the run.

A workflow run from a file (``typedflow run flows.py:wf``) imports ``flows`` with the file's folder on
``sys.path``; ``typedflow runs retry`` runs in another process, which finds the tasks by module name and
so needs that folder again. The run keeps it in its ``meta.json``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from typedflow import ir
from typedflow.util.boundary import BoundaryError, parse_json

__all__ = ["import_roots", "restore_import_roots"]


def import_roots(doc: ir.WorkflowIR) -> list[str]:
    """The folders the task modules of ``doc`` were imported from, as loaded in this process: for each,
    the folder its dotted name starts in."""
    roots = set()
    for name in {t.module for t in doc.tasks} - {"__main__"}:
        file = getattr(sys.modules.get(name), "__file__", None)
        if not file:
            continue
        root = os.path.dirname(os.path.abspath(file))
        for _ in range(name.count(".") + (os.path.basename(file) == "__init__.py")):
            root = os.path.dirname(root)
        roots.add(root)
    return sorted(roots)


def restore_import_roots(meta_file: Path) -> None:
    """Put a run's import roots (see :func:`import_roots`) at the end of ``sys.path``, where missing: after
    what is installed, so they never shadow it. A run without them (or with a damaged ``meta.json``) is
    resumed with ``sys.path`` as it is."""
    try:
        meta = parse_json(meta_file.read_bytes(), "the run's meta.json")
    except (OSError, BoundaryError):
        return
    roots = meta.get("import_roots") if isinstance(meta, dict) else None
    if not isinstance(roots, list):
        return
    for root in roots:
        if isinstance(root, str) and os.path.isabs(root) and os.path.isdir(root) and root not in sys.path:
            sys.path.append(root)
