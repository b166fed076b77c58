"""A state graph that is validated before it is rendered, and chains (fragments) to build it."""

from __future__ import annotations

import hashlib
from typing import Any

import attrs

from typedflow.errors import TypedflowError

from .protocol import NAME_LIMIT
from .states import ALL_ERRORS, JSON, State, render_graph
from .states.choice import ChoiceState


class DefinitionError(TypedflowError, ValueError):
    """The workflow cannot be expressed as a valid state machine; lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("cannot compile for Step Functions:\n  " + "\n  ".join(problems))
        self.problems = problems


class Names:
    """State names, unique across the whole definition (nested graphs included), ≤ 80 characters."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def unique(self, base: str) -> str:
        name = _fit(base)
        n = 1
        while name in self.used:
            n += 1
            name = _fit(f"{base}#{n}")
        self.used.add(name)
        return name


def _fit(name: str) -> str:
    if len(name) <= NAME_LIMIT:
        return name
    # keep the readable head; a digest of the whole name keeps it unique
    return name[: NAME_LIMIT - 9] + "~" + hashlib.sha256(name.encode()).hexdigest()[:8]


@attrs.define
class Fragment:
    """A chain piece: entered at ``start``; ``ends`` are the states whose Next is still open."""

    start: str
    ends: list[State]


class Graph:
    """The states of one (sub-)graph: the top level, a Parallel branch or a Map item processor."""

    def __init__(self, names: Names, failure: str | None = None) -> None:
        self.names = names
        self.states: dict[str, State] = {}
        # where a failure in this graph goes, with the error at ``$.err`` (None: the graph itself fails)
        self.failure = failure

    def add(self, state: State) -> Fragment:
        self.states[state.name] = state
        return Fragment(state.name, [state] if state.can_chain else [])

    def name(self, base: str) -> str:
        return self.names.unique(base)

    def render(self, body: Fragment | None, terminal: State) -> JSON:
        """Close the open ends of ``body`` on ``terminal`` (or make them End), validate, render."""
        if body is None:
            body = self.add(terminal)
        elif body.ends:  # (a body that always fails, ending in fail(...), has no terminal to reach)
            self.add(terminal)
            connect(body, Fragment(terminal.name, [terminal] if terminal.can_chain else []))
        for s in self.states.values():
            if s.can_chain and s.next is None:
                s.end = True
        problems = validate(body.start, self.states)
        if problems:
            raise DefinitionError(problems)
        return render_graph(body.start, list(self.states.values()))


def connect(a: Fragment, b: Fragment) -> Fragment:
    for s in a.ends:
        s.next = b.start
    return Fragment(a.start, b.ends)


def sequence(frags: list[Fragment]) -> Fragment | None:
    out: Fragment | None = None
    for f in frags:
        out = f if out is None else connect(out, f)
    return out


def validate(start: str, states: dict[str, State]) -> list[str]:
    """Structural checks of one graph (nested graphs are validated when they are rendered)."""
    problems = []
    if start not in states:
        problems.append(f"StartAt {start!r} is not a state")
    for s in states.values():
        for target in s.successors():
            if target not in states:
                problems.append(f"state {s.name!r} goes to {target!r}, which is not in the same graph")
        if s.can_chain and s.next is None and not s.end:
            problems.append(f"state {s.name!r} has neither Next nor End")
        if isinstance(s, ChoiceState) and not s.rules:
            problems.append(f"choice {s.name!r} has no rules")
        for kind in ("retry", "catch"):
            entries = getattr(s, kind, [])
            for i, e in enumerate(entries):
                if ALL_ERRORS in e.errors and (i != len(entries) - 1 or len(e.errors) != 1):
                    problems.append(f"state {s.name!r}: {ALL_ERRORS} must be alone and last in {kind.title()}")
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        stack.extend(states[name].successors())
    for name in states:
        if name not in seen:
            problems.append(f"state {name!r} is unreachable")
    return problems


def check_names(definition: JSON) -> list[str]:
    """Every state name in the definition (nested graphs too) is unique and ≤ 80 characters."""
    problems: list[str] = []
    seen: set[str] = set()

    def visit(graph: Any) -> None:
        for name, state in graph["States"].items():
            if name in seen:
                problems.append(f"state name {name!r} is used twice")
            seen.add(name)
            if len(name) > NAME_LIMIT:
                problems.append(f"state name {name!r} is longer than {NAME_LIMIT} characters")
            for branch in state.get("Branches", []):
                visit(branch)
            if "ItemProcessor" in state:
                visit(state["ItemProcessor"])

    visit(definition)
    return problems
