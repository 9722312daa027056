"""The `mlplat` command line. Each area registers its commands from `mlops_platform.cli.commands.<area>`.

User errors are `MlplatError`s: printed as one clear message (no traceback) with the class's exit code.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape
from typer import rich_utils
from typer._click import ClickException  # typer vendors click: its own exception classes

from mlops_platform import __version__
from mlops_platform.cli.commands import mirror, ops, policy, review, scaffold, shards, stack, upgrade
from mlops_platform.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, MlplatError, UsageError, error_json
from mlops_platform.core.files import finite_json

app = typer.Typer(name="mlplat", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="MLOps platform: validate, plan, graph, review, policy, new, fleet, bootstrap, preflight, cost, "
                       "upgrade, shards, platform-stack, mirror, preview, up, destroy.")
err = Console(stderr=True)

#: Command areas; each module has `register(app)`.
_AREAS = (stack, review, policy, scaffold, ops, upgrade, shards, mirror)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlplat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """mlplat — the platform's command line."""


for _area in _AREAS:
    _area.register(app)


def wants_json(args: list[str]) -> bool:
    """`--json`, or review's `--format json`, before any `--`: failures are then printed as JSON too."""
    args = args[:args.index("--")] if "--" in args else args
    pairs = itertools.pairwise(args)
    return "--json" in args or "--format=json" in args or any(a == "--format" and b == "json" for a, b in pairs)


def _report(as_json: bool, payload: dict[str, object], text: str) -> None:
    """One error: the human line on stderr, and with `--json` the `{"error": ...}` object on stdout."""
    err.print(f"[bold red]error:[/] {escape(text)}", highlight=False, soft_wrap=True)
    if as_json:
        sys.stdout.write(finite_json(payload) + "\n")
        sys.stdout.flush()


def _internal(exc: Exception) -> str:
    """A defect, named by where it was raised (the deepest frame) so a report can point at it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return (f"internal error: {type(exc).__name__}: {exc}{where} — this is a bug in mlplat: please report it "
            "(MLPLAT_DEBUG=1 shows the traceback)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, map every failure to its exit code (docs/cli.md#exit-codes)."""
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = wants_json(args)
    try:
        code = app(args=args, prog_name="mlplat", standalone_mode=False)
    except KeyboardInterrupt:
        return _interrupted(as_json)
    except Exception as exc:
        return _failed(exc, as_json)
    if code == EXIT_INTERRUPTED:  # typer turns Ctrl-C inside a command into Exit(130)
        return _interrupted(as_json)
    return code if isinstance(code, int) else 0


def _failed(exc: Exception, as_json: bool) -> int:
    if isinstance(exc, MlplatError):
        _report(as_json, exc.to_json(), exc.render())
        return exc.exit_code
    if isinstance(exc, typer.Abort):  # Ctrl-C/EOF at a prompt
        return _interrupted(as_json)
    if isinstance(exc, ClickException):
        if not as_json:
            rich_utils.rich_format_error(exc)
        else:
            _report(True, error_json("usage", exc.exit_code, exc.format_message()), exc.format_message())
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):  # `mlplat policy list | head`: the reader left, nobody to tell
        sys.stdout = None  # keep the interpreter from flushing into the closed pipe
        return 1
    if isinstance(exc, OSError):  # a path given on the command line cannot be written or created
        text = f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ") + " — fix: check the path and " \
            "its permissions"
        _report(as_json, error_json("os_error", UsageError.exit_code, text), text)
        return UsageError.exit_code
    if os.environ.get("MLPLAT_DEBUG"):
        raise exc
    _report(as_json, error_json("internal", EXIT_INTERNAL, _internal(exc)), _internal(exc))
    return EXIT_INTERNAL


def _interrupted(as_json: bool) -> int:
    if as_json:
        sys.stdout.write(finite_json(error_json("interrupted", EXIT_INTERRUPTED, "interrupted")) + "\n")
    err.print("interrupted", highlight=False)
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
