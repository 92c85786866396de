"""``convviz check``: run ``convviz.check`` on functions named on the command line, for scripts
and autograders. Exit 0 when every tensor is right, 1 when something is wrong, 2 on a usage error
(a module that does not import, a function that is not there)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from .checker import check
from .runner import STYLES, summarise_exception


class UsageError(Exception):
    """Something about the command line itself: said on stderr, exit code 2."""


def load_function(spec: str):
    """``module:function`` (imported from the current directory first) or ``path/to/file.py:function``."""
    module_part, sep, name = spec.rpartition(":")
    if not sep or not module_part or not name:
        raise UsageError(f"expected MODULE:FUNCTION or path/to/file.py:FUNCTION, got {spec!r}")
    try:
        if module_part.endswith(".py") or os.sep in module_part or "/" in module_part:
            path = Path(module_part)
            if not path.is_file():
                raise UsageError(f"no such file: {module_part} (from {spec!r})")
            sys.path.insert(0, str(path.resolve().parent))  # so the file's own imports of its neighbours work
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_part)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to import is the user's to fix
        raise UsageError(f"could not import {module_part!r}: {summarise_exception(exc)}") from None
    fn = getattr(module, name, None)
    if fn is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UsageError(f"{module_part!r} has no function {name!r}" + (f"; it has: {', '.join(public)}" if public else ""))
    if not callable(fn):
        raise UsageError(f"{module_part}:{name} is a {type(fn).__name__}, not a function")
    return fn


def add_parser(sub) -> None:
    """The ``check`` subcommand, added to the CLI's subparsers."""
    p = sub.add_parser("check", help="check your own forward/backward: the first wrong number, and the mistake",
                       description="Run your convolution on a battery of small problems and report every wrong "
                       "tensor, naming the known mistake behind it when the numbers prove it.")
    p.add_argument("--forward", metavar="MODULE:FUNCTION", help="forward(x, w, b, stride=, padding=) -> out")
    p.add_argument("--backward", metavar="MODULE:FUNCTION",
                   help="backward(x, w, grad_out, stride=, padding=) -> (grad_x, grad_w, grad_b)")
    p.add_argument("--style", choices=list(STYLES), default="plain",
                   help="calling convention: plain (default) or cs231n (conv_param and cache)")
    p.add_argument("--per-axis", action="store_true", help="also run per-axis configurations (functions get pairs)")
    p.add_argument("--rtol", type=float, default=1e-6, help="relative tolerance (default 1e-6)")
    p.add_argument("--atol", type=float, default=1e-9, help="absolute tolerance (default 1e-9)")
    p.add_argument("--json", action="store_true", help="print the report as JSON (for autograders)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        if not args.forward and not args.backward:
            raise UsageError("give --forward MODULE:FUNCTION, --backward MODULE:FUNCTION, or both")
        forward = load_function(args.forward) if args.forward else None
        backward = load_function(args.backward) if args.backward else None
        report = check(forward=forward, backward=backward, style=args.style, per_axis=args.per_axis,
                       rtol=args.rtol, atol=args.atol)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"convviz check: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dict(), indent=1) if args.json else report)
    return 0 if report.ok else 1
