"""Where typedflow keeps its local state."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """``$TYPEDFLOW_HOME``, else ``.typedflow/`` under the current directory."""
    env = os.environ.get("TYPEDFLOW_HOME")
    return Path(env) if env else Path.cwd() / ".typedflow"
