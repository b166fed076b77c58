"""``typedflow.backends`` when typedflow is imported from a source checkout rather than installed.

The wheel installs the top-level ``backends/`` folder as ``typedflow.backends``. A checkout on
``sys.path`` (an editable install, or the working directory of ``python -m pytest`` in the
repository) has ``typedflow/`` without it: load it from ``backends/``
under its installed name, so the same imports work from a checkout and from an installation.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def attach(package_file: str) -> None:
    here = os.path.dirname(os.path.abspath(package_file))
    if os.path.isdir(os.path.join(here, "backends")) or "typedflow.backends" in sys.modules:
        return  # installed (or already attached)
    init = os.path.join(os.path.dirname(here), "backends", "__init__.py")
    if not os.path.isfile(init):
        return
    spec = importlib.util.spec_from_file_location(
        "typedflow.backends", init, submodule_search_locations=[os.path.dirname(init)]
    )
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["typedflow.backends"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["typedflow.backends"]
        raise
    parent = sys.modules.get("typedflow")
    if parent is not None:
        parent.backends = module  # type: ignore[attr-defined]  # what the import system does for a submodule
