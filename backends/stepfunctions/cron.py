"""Unix cron (5 fields) → the ``cron(...)`` expression of EventBridge Scheduler (6 fields)."""

from __future__ import annotations

import re

_DOW_NAMES = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}


class CronError(ValueError):
    pass


def _dow(field: str) -> str:
    """Unix day-of-week (0 or 7 = Sunday) → AWS (1 = Sunday … 7 = Saturday)."""

    def one(tok: str) -> str:
        if tok.upper()[:3] in _DOW_NAMES and not tok.isdigit():
            return tok.upper()
        if not tok.isdigit() or int(tok) > 7:
            raise CronError(f"day of week {tok!r}")
        return str(int(tok) % 7 + 1)

    out = []
    for part in field.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if part == "*":
            out.append("*" + step)
        elif "-" in part:
            lo, hi = part.split("-", 1)
            a, b = one(lo), one(hi)
            if a.isdigit() and b.isdigit() and int(a) > int(b):  # e.g. 5-0 (Fri-Sun) wraps in AWS numbering
                out.append(f"{a}-7,1-{b}")
            else:
                out.append(f"{a}-{b}{step}")
        else:
            out.append(one(part) + step)
    return ",".join(out)


def to_aws(expr: str) -> str:
    """``"0 3 * * *"`` → ``"cron(0 3 * * ? *)"``; an AWS ``cron(...)``/``rate(...)`` passes through."""
    text = expr.strip()
    if re.match(r"^(cron|rate|at)\(.*\)$", text):
        return text
    aliases = {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
    }
    text = aliases.get(text, text)
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f"schedule {expr!r}: expected 5 cron fields (minute hour day month weekday)")
    minute, hour, dom, month, dow = fields
    if dow == "*":
        dow = "?"
    elif dom == "*":
        dom, dow = "?", _dow(dow)
    else:
        raise CronError(f"schedule {expr!r}: EventBridge cannot restrict both day of month and day of week")
    return f"cron({minute} {hour} {dom} {month} {dow} *)"
