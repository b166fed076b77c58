"""Profiles: named settings in ``[tool.typedflow.profiles.NAME]`` of the nearest ``pyproject.toml``.

```toml
[tool.typedflow.profiles.prod]
target = "stepfunctions"
bucket = "s3://ml-artifacts/typedflow"
queue-url = "https://sqs.eu-west-1.amazonaws.com/123456789012/typedflow-tasks"
role-arn = "arn:aws:iam::123456789012:role/typedflow-sfn"
region = "eu-west-1"
```

``--profile NAME`` (anywhere on the command line) or ``TYPEDFLOW_PROFILE`` selects one. A setting is
named like the flag it stands for (``queue-url`` or ``queue_url``); it becomes that flag's default in
``compile``, ``deploy``, ``start``, ``worker``, ``build`` and ``runs``, so a flag given on the command
line wins. ``target`` is the ``--target`` of those commands; ``region`` for Step Functions is boto3's
region. ``typedflow config show`` prints the resolved settings and where each came from.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from typedflow.errors import InputError

ENV: Final = "TYPEDFLOW_PROFILE"
# The commands a profile's settings apply to.
COMMANDS: Final = ("compile", "deploy", "start", "worker", "build", "runs")
_ALIASES: Final = {"subnets": "subnet", "security_groups": "security_group", "task_executors": "task_executor"}
# Settings that are no flag of a command: what they do is done by apply_environment().
EXTRA: Final = ("target", "region")


@attrs.frozen
class Profile:
    name: str
    path: Path
    settings: dict[str, Any]  # normalized keys (flag destinations)

    @property
    def target(self) -> str | None:
        t = self.settings.get("target")
        return t if isinstance(t, str) else None

    def where(self) -> str:
        return f"profile {self.name} ({self.path})"


def nearest_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        p = d / "pyproject.toml"
        if p.is_file():
            return p
    return None


def take_profile(argv: Sequence[str]) -> tuple[list[str], str | None, str]:
    """``argv`` without ``--profile NAME``, the name, and where it came from (flag or environment)."""
    out: list[str] = []
    name: str | None = None
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        if a == "--":
            out += argv[i:]
            break
        if a == "--profile":
            if i + 1 >= len(argv):
                raise InputError("--profile needs a NAME")
            name = argv[i + 1]
            next(it, None)
        elif a.startswith("--profile="):
            name = a.split("=", 1)[1]
        else:
            out.append(a)
    if name is not None:
        return out, name, "--profile"
    env = os.environ.get(ENV)
    return out, env or None, ENV if env else ""


def load(name: str, start: Path | None = None) -> Profile:
    path = nearest_pyproject(start)
    if path is None:
        raise InputError(f"profile {name!r}: no pyproject.toml here or in a parent folder")
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"profile {name!r}: cannot read {path}: {exc}") from None
    profiles = data.get("tool", {}).get("typedflow", {}).get("profiles", {})
    if not isinstance(profiles, dict) or name not in profiles:
        known = ", ".join(sorted(profiles)) if isinstance(profiles, dict) and profiles else "none"
        raise InputError(f"no profile {name!r} in {path} ([tool.typedflow.profiles.{name}]; defined: {known})")
    raw = profiles[name]
    if not isinstance(raw, dict):
        raise InputError(f"profile {name!r} in {path}: expected a table of settings")
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        k = key.replace("-", "_")
        settings[_ALIASES.get(k, k)] = value
    for k in EXTRA:  # not flags, so not checked by a flag's type: a number here was silently ignored
        if k in settings and not isinstance(settings[k], str):
            raise InputError(f"profile {name!r} in {path}: {k}: expected a string, got {settings[k]!r}"[:300])
    return Profile(name, path, settings)


def with_target(argv: list[str], profile: Profile) -> list[str]:
    """``argv`` with the profile's target where the command takes one and none was given."""
    target = profile.target
    if target is None or not argv:
        return argv
    cmd = argv[0]
    if cmd == "worker":
        return argv if len(argv) > 1 and not argv[1].startswith("-") else ["worker", target, *argv[1:]]
    if cmd in ("compile", "deploy", "start", "build", "runs", "config") and not any(
        a == "--target" or a.startswith("--target=") for a in argv
    ):
        return [*argv, "--target", target]
    return argv


def _actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in ("help", "target")}


def _subparser(parser: argparse.ArgumentParser, path: Sequence[str]) -> argparse.ArgumentParser | None:
    current = parser
    for name in path:
        subs = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or name not in subs[0].choices:
            return None
        current = subs[0].choices[name]
    return current


def command_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every command a profile applies to (``runs``: each of its subcommands)."""
    out = []
    for cmd in COMMANDS:
        p = _subparser(parser, [cmd])
        if p is None:
            continue
        if cmd == "runs":
            subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
            out += list(subs[0].choices.values()) if subs else []
        else:
            out.append(p)
    return out


def known_settings(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    found: dict[str, argparse.Action] = {}
    for p in command_parsers(parser):
        for dest, action in _actions(p).items():
            found.setdefault(dest, action)
    return found


def convert(profile: Profile, key: str, value: Any, action: argparse.Action) -> Any:
    """A profile's value as the flag's parsed value (TOML types checked, the flag's own type applied)."""
    what = f"{profile.where()}: {key}"
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction | argparse.BooleanOptionalAction):
        if not isinstance(value, bool):
            raise InputError(f"{what}: expected true or false, got {value!r}")
        return value
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in items):
            raise InputError(f"{what}: expected a list of strings")
        return list(items)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{what}: expected a string or a number, got {type(value).__name__}")
    if action.type is not None and callable(action.type):
        try:
            value = (
                action.type(str(value)) if not isinstance(value, int | float) or action.type in (int, float) else value
            )
        except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
            kind = {int: "an integer", float: "a number"}.get(action.type)  # type: ignore[call-overload]
            raise InputError(f"{what}: expected {kind}, got {value!r}" if kind else f"{what}: {exc}") from None
    if action.choices is not None and value not in action.choices:
        raise InputError(f"{what}: {value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def apply(parser: argparse.ArgumentParser, argv: Sequence[str], profile: Profile) -> None:
    """Make the profile's settings the defaults of the command in ``argv`` (flags still win); every
    setting must be one some command of the target knows."""
    known = known_settings(parser)
    unknown = sorted(k for k in profile.settings if k not in known and k not in EXTRA)
    if unknown:
        raise InputError(
            f"{profile.where()}: unknown setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)} (known: {', '.join(sorted({*known, *EXTRA}))}"
            + ("; a target's own settings need the profile's target or --target" if profile.target is None else "")
            + ")"
        )
    values = {k: convert(profile, k, v, known[k]) for k, v in profile.settings.items() if k in known}
    path = [argv[0], argv[1]] if argv and argv[0] == "runs" and len(argv) > 1 else list(argv[:1])
    target = _subparser(parser, path)
    if target is None or (argv and argv[0] not in COMMANDS):
        return
    actions = _actions(target)
    mine = {k: v for k, v in values.items() if k in actions}
    for k in mine:
        actions[k].required = False  # given by the profile: the command checks what is still missing
    target.set_defaults(**mine)


def apply_environment(profile: Profile | None, target: str | None) -> None:
    """Settings that are not flags: ``region`` for Step Functions is boto3's default region."""
    if profile is None:
        return
    region = profile.settings.get("region")
    if target == "stepfunctions" and isinstance(region, str) and region:
        os.environ["AWS_DEFAULT_REGION"] = region


def given_on_command_line(parser: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """The destinations of the flags ``argv`` gives."""
    flags = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    return {a.dest for a in parser._actions if any(o in flags for o in a.option_strings)}


__all__ = [
    "ENV",
    "Profile",
    "apply",
    "apply_environment",
    "command_parsers",
    "known_settings",
    "load",
    "nearest_pyproject",
    "take_profile",
    "with_target",
]
