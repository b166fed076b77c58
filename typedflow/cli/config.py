"""``typedflow config show``: the settings a command would use, and where each one comes from."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from typedflow.cli.runops import table

ParserFactory = Callable[[Sequence[str]], argparse.ArgumentParser]


def add_subparser(sub: Any, build_parser: ParserFactory) -> None:
    """``build_parser``: the command line's parser for given arguments (what ``config show`` reads the
    settings of a target from)."""
    p = sub.add_parser(
        "config",
        help="show the resolved settings (profile, flags, environment)",
        description="Show the settings of a target as deploy, start, worker, build and runs would use them, "
        "and where each one comes from: a flag, the profile ([tool.typedflow.profiles.NAME] of the nearest "
        "pyproject.toml, chosen with --profile or $TYPEDFLOW_PROFILE), the environment, or the default.",
    )
    cmds = p.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    q = cmds.add_parser(
        "show", help="print each setting and its source", description="Print each setting and its source."
    )
    q.add_argument("--target", metavar="TARGET", help="the target whose settings to show (default: the profile's)")
    q.set_defaults(func=cmd_config_show, build_parser=build_parser)


# Settings the SDKs read from the environment when neither flag nor profile gives them.
_ENVIRONMENT = {
    "stepfunctions": {"region": ("AWS_DEFAULT_REGION", "AWS_REGION")},
    "vertex": {"project": ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")},
}


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def cmd_config_show(args: argparse.Namespace) -> int:
    from typedflow.cli import profiles
    from typedflow.errors import InputError

    profile = getattr(args, "profile_obj", None)
    target = args.target or (profile.target if profile is not None else None)
    parser = args.build_parser(["--target", target] if target else [])
    known = profiles.known_settings(parser)
    rows: list[list[str]] = []
    if profile is not None:
        print(f"{profile.where()}, selected by {args.profile_selected_by}", file=sys.stderr)
        unknown = sorted(k for k in profile.settings if k not in known and k not in profiles.EXTRA)
        if unknown:
            raise InputError(
                f"{profile.where()}: unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            )
    else:
        print("no profile (--profile NAME or $TYPEDFLOW_PROFILE)", file=sys.stderr)
    given = any(a == "--target" or a.startswith("--target=") for a in getattr(args, "argv", []))
    source = "flag --target" if given else profile.where() if profile is not None and profile.target else ""
    rows.append(["target", target or "-", source or "default (local for runs)"])
    env_map = _ENVIRONMENT.get(target or "", {})
    settings = profile.settings if profile is not None else {}
    for dest in sorted({*known, *(k for k in settings if k == "region"), *env_map}):
        if dest == "target":
            continue
        action = known.get(dest)
        if profile is not None and dest in settings:
            value = profiles.convert(profile, dest, settings[dest], action) if action else settings[dest]
            rows.append([dest, _shown(value), profile.where()])
            continue
        env = next((e for e in env_map.get(dest, ()) if os.environ.get(e)), None)
        if env is not None:
            rows.append([dest, os.environ[env], f"environment {env}"])
            continue
        default = action.default if action is not None else None
        if default not in (None, False, [], "", argparse.SUPPRESS):
            rows.append([dest, _shown(default), "default"])
    sys.stdout.write(table(rows, ["SETTING", "VALUE", "SOURCE"]))
    return 0
