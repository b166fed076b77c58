"""Choice: the first rule that matches picks the next state; ``default`` otherwise."""

from __future__ import annotations

import attrs

from . import JSON, State


@attrs.define
class ChoiceState(State):
    rules: list[tuple[JSON, str]] = attrs.Factory(list)  # (rule without Next, target)
    default: str | None = None

    @property
    def can_chain(self) -> bool:
        return False  # wired through its rules and default, never through Next

    def successors(self) -> list[str]:
        return [t for _, t in self.rules] + ([self.default] if self.default else [])

    def to_json(self) -> JSON:
        out: JSON = {"Type": "Choice", "Choices": [{**rule, "Next": target} for rule, target in self.rules]}
        if self.default is not None:
            out["Default"] = self.default
        if self.comment:
            out["Comment"] = self.comment
        return out
