"""Where typedflow keeps its local state."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def home() -> Path:
    """``$TYPEDFLOW_HOME``, else ``.typedflow/`` under the current directory."""
    env = os.environ.get("TYPEDFLOW_HOME")
    return Path(env) if env else Path.cwd() / ".typedflow"


def path_arg(text: str) -> str:
    """An argparse ``type`` for a path option: an empty one (an unset shell variable) is refused, not taken
    for the default, so a script never quietly uses ``./.typedflow``."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path (leave the option out to use the default)")
    return text
