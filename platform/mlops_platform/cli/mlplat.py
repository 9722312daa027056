"""The `mlplat` command line. Each area registers its commands from `mlops_platform.cli.commands.<area>`.

User errors are `MlplatError`s: printed as one clear message (no traceback) with the class's exit code.

A command's area is imported when the command runs (`main`), not when this module is: all areas together
import most of the platform (copier, boto3, the engine, the policy pack: about 1 CPU s), and `mlplat validate`
needs only its own. `full_app()` is the app with every area (`--help`, an unknown command, tests).
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import traceback

import typer
from rich.console import Console
from rich.markup import escape
from typer._click import ClickException, Command  # typer vendors click: its own classes

from mlops_platform import __version__
from mlops_platform.core.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, MlplatError, UsageError, error_json
from mlops_platform.core.files import finite_json

app = typer.Typer(name="mlplat", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="MLOps platform: validate, plan, graph, review, policy, new, fleet, bootstrap, preflight, cost, "
                       "upgrade, shards, platform-stack, mirror, preview, up, destroy.")
err = Console(stderr=True)
_root_app = app  # areas are registered here (`app` itself may be replaced by a test)

#: Command areas (modules of `mlops_platform.cli.commands`, each with `register(app)`) and their top-level
#: commands, in `--help` order. tests/foundation/test_cli_startup.py checks this against the areas' commands.
AREAS: dict[str, tuple[str, ...]] = {
    "stack": ("validate", "plan", "graph"),
    "review": ("review",),
    "policy": ("policy",),
    "scaffold": ("new", "fleet"),
    "ops": ("bootstrap", "preflight", "cost", "preview", "up", "destroy"),
    "upgrade": ("upgrade",),
    "shards": ("shards", "platform-stack"),
    "mirror": ("mirror",),
}
_registered: set[str] = set()
#: The click command typer last built, with the shape it was built from (`_shape`): typer builds the whole tree
#: again on every call (~4 ms with every area), and the suite runs `mlplat` in-process thousands of times.
_built: tuple[tuple[object, ...], Command] | None = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlplat {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """mlplat — the platform's command line."""


def register_areas(*areas: str) -> typer.Typer:
    """Import the command areas named (every area when none is) and register their commands, once each."""
    for area in [a for a in areas or AREAS if a not in _registered]:
        importlib.import_module(f"mlops_platform.cli.commands.{area}").register(_root_app)
        _registered.add(area)
    # `--help` lists commands as registered: keep the areas' order whichever was needed first
    order = [command for commands in AREAS.values() for command in commands]
    _root_app.registered_commands.sort(key=lambda c: order.index(c.name or ""))
    _root_app.registered_groups.sort(key=lambda g: order.index(g.name or ""))
    return _root_app


def full_app() -> typer.Typer:
    """The app with every command (what `mlplat --help` lists)."""
    return register_areas()


def _shape(typer_app: typer.Typer) -> tuple[object, ...]:
    """What typer builds a click command from, by identity: the app, its callback, each command (and the function
    it calls, which a test may replace) and each sub-app's shape, in order (registering an area changes it)."""
    return (typer_app, typer_app.registered_callback,
            *[(c, c.callback) for c in typer_app.registered_commands],
            *[(g, _shape(g.typer_instance) if g.typer_instance else None) for g in typer_app.registered_groups])


def click_command(typer_app: typer.Typer) -> Command:
    """The click command of `typer_app`, built again only when its shape changed since the last call."""
    global _built
    shape = _shape(typer_app)
    if _built is None or _built[0] != shape:
        _built = (shape, typer.main.get_command(typer_app))
    return _built[1]


def _run(args: list[str]) -> object:
    """Run `app` on `args`; a test's stand-in for `app` (any callable, not a Typer) is called as typer is."""
    if not isinstance(app, typer.Typer):
        return app(args=args, prog_name="mlplat", standalone_mode=False)
    return click_command(app).main(args=args, prog_name="mlplat", standalone_mode=False)


def area_of(args: list[str]) -> str | None:
    """The area of the command `args` run: its first word (the root takes no option with a value); None for
    `--help`, `--version` or a name no area has (typer then lists every command, or suggests one)."""
    words = [a for a in (args[:args.index("--")] if "--" in args else args) if not a.startswith("-")]
    return next((area for area, commands in AREAS.items() if words and words[0] in commands), None)


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
        area = area_of(args)
        register_areas(*([area] if area else []))
        code = _run(args)
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
            from typer import rich_utils  # rich's markdown support: imported only for an error (~0.1 CPU s)

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
