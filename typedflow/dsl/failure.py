"""What an ``on_failure`` task receives about the failure."""

from __future__ import annotations

import attrs


@attrs.frozen
class Failure:
    workflow: str
    run_id: str
    node: str
    error_type: str
    message: str
    traceback: str = ""
