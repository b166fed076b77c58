"""The container / worker entrypoint: ``python -m typedflow.runtime TARGET ...``.

Each target's executor protocol lives in ``typedflow.backends.<TARGET>.entrypoint:main``; all of
them end in :func:`typedflow.runtime.execute.execute`, so a task computes the same on every target.
"""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m typedflow.runtime TARGET [ARGS...]  (e.g. stepfunctions, vertex)")
        return 0 if argv else 2
    target, rest = argv[0], argv[1:]
    if not target.isidentifier():
        print(f"typedflow.runtime: no runtime entrypoint for target {target[:40]!r}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"typedflow.backends.{target}.entrypoint")
    except ModuleNotFoundError:
        print(f"typedflow.runtime: no runtime entrypoint for target {target!r}", file=sys.stderr)
        return 2
    rc: int = module.main(rest)
    return rc


if __name__ == "__main__":
    sys.exit(main())
