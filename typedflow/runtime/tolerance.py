"""``map_over(..., tolerated_failure=share)``: how many failed items a map of ``n`` items tolerates, one rule
for every target.

Step Functions fails a Distributed Map when the percentage of failed items is above its
``ToleratedFailurePercentage`` P, i.e. when ``failed * 100 > P * n``. typedflow gives it
``P = share * 100`` with ``share`` read as the decimal the user wrote (``0.29`` is 29, not the binary float
28.999999999999996), and counts the same way everywhere else with exact decimal arithmetic: at most
``floor(share * n)`` items may fail.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

# The error a map fails with when more of its items failed than it tolerates (a cloud target's step applying the
# rule after the items ran; locally the map fails with its first failed item's error)
TOLERANCE_ERROR: Final = "typedflow.ToleratedFailureExceeded"


def _exact(share: float) -> Decimal:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"tolerated_failure must be a share from 0 to 1, got {share!r}")
    return Decimal(repr(float(share)))  # the shortest decimal that reads back as this float


def tolerated_failures(share: float, n: int) -> int:
    """How many of ``n`` items may fail without failing the map."""
    return int(_exact(share) * n)  # int() of a non-negative Decimal is its floor


def tolerated_percentage(share: float) -> float:
    """``ToleratedFailurePercentage`` for ``share``. Always a float (JSON ``10.0``, not ``10``): the ASL parser of
    LocalStack and moto takes only a number with a fraction there; Step Functions takes both."""
    return float(_exact(share) * 100)


def exceeds(share: float, failed: int, n: int) -> bool:
    """Whether ``failed`` of ``n`` items is more than tolerated."""
    return failed > tolerated_failures(share, n)
