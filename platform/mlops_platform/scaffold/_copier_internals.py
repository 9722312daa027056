"""Every use of copier's internals, in one place. copier's public API is `run_copy`/`run_update`; a batch
(`templating.render_version`) needs to clone a template version once and render it many times, which only
its internal `Worker` and `Template` allow, and every render wastes most of its CPU in ways only a `Worker`
subclass can avoid (`Render`).

Checked against copier 9.19.1 (`pyproject.toml` requires >=9.19,<10) and Jinja 3.1. `SEAMS` names each
internal this module relies on; tests/template/test_update.py fails when one disappears or changes kind, so a
copier bump that renames one is caught instead of silently cloning again or losing a saving.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cached_property, partial, wraps
from inspect import iscoroutinefunction
from pathlib import Path
from types import CodeType
from typing import Any

from copier._jinja_ext import SandboxedEnvironment
from copier._main import Worker
from copier._template import Template
from copier._vcs import get_git
from jinja2 import Environment, nodes
from plumbum import ProcessExecutionError

#: The copier release these seams were read in.
CHECKED_AGAINST = "9.19.1"
#: (class, attribute, what it must be): the internals this module overrides, sets or calls.
SEAMS: tuple[tuple[type, str, type], ...] = (
    (Worker, "_sync_git_index_executable_bit", type(lambda: None)),  # overridden by Render and NewRender
    (Worker, "template", cached_property),  # set through the instance __dict__ by use_clone, extended by Render
    (Worker, "jinja_env", cached_property),  # extended by Render
    (Worker, "subproject", cached_property),  # read by Render (where the destination's git repository is)
    (Template, "_cleanup", type(lambda: None)),  # called by release
    (Template, "local_abspath", cached_property),  # where a Template clones its version, once
    (Environment, "compile", type(lambda: None)),  # replaced per environment by Render (compile_once)
    (Environment, "preprocess", type(lambda: None)),  # called by compile_once
)

#: The copier `Worker` field holding what it removes when it ends (a shared clone is taken off it).
CLEANUP_HOOKS = "_cleanup_hooks"

__all__ = ["CHECKED_AGAINST", "CLEANUP_HOOKS", "SEAMS", "NewRender", "Render", "Template", "compile_once", "release",
           "shared_versions", "use_clone"]

#: Compiled Jinja code shared by every render of this process, least recently used first (see `compile_once`);
#: None for a source compiled again in every render.
_COMPILED: OrderedDict[Hashable, CodeType | None] = OrderedDict()
_MISSING: Any = object()
#: A few template versions' files and templated strings; a code object is a few kB.
_COMPILED_MAX = 4096


def _compiling(env: Environment) -> Hashable:
    """What an environment's compiled code depends on besides the source: its class (sandboxing), syntax,
    whitespace handling, extensions, optimizer and the filters and tests it knows by name."""
    syntax = (env.block_start_string, env.block_end_string, env.variable_start_string, env.variable_end_string,
              env.comment_start_string, env.comment_end_string, env.line_statement_prefix, env.line_comment_prefix,
              env.trim_blocks, env.lstrip_blocks, env.newline_sequence, env.keep_trailing_newline)
    return (type(env), syntax, tuple(sorted(env.extensions)), env.optimized, env.autoescape, env.finalize,
            env.is_async, tuple(sorted(env.filters)), tuple(sorted(env.tests)))


def compile_once(env: Environment, source: str | nodes.Template, name: str | None = None,
                 filename: str | None = None, raw: bool = False, defer_init: bool = False) -> Any:
    """`env.compile`, compiling each source once per process: copier compiles every file of the template and
    every templated string (question defaults and validators, each path part, the answers file's name once per
    path part) again in every render, and compiling was about 60 % of a render's CPU. The key holds everything
    compiling reads, so a hit is the code compiling would give, bar the file it names (the template's path in
    this render's clone), which is set to this render's. Jinja folds a filter or test on constants while
    compiling (`{{ 10**12 | ans_random }}`), and some of copier's filters are impure (`ans_random`, `shuffle`,
    `random_mac`): a source whose compiling ran one is compiled again in every render, as copier does, or
    every render would get the first one's "random" value. The environment's preprocess hooks still run, as
    compiling runs them (copier's `yield` tag resets its state there)."""
    if raw:
        return Environment.compile(env, source, name, filename, True, defer_init)
    if not isinstance(source, str):  # a parsed template: nothing to key on
        return Environment.compile(env, source, name, filename, False, defer_init)
    key = (source, name, defer_init, _compiling(env))
    code = _COMPILED.get(key, _MISSING)
    if code is _MISSING:
        with _recording_calls(env) as ran:
            made = Environment.compile(env, source, name, filename, False, defer_init)
        _COMPILED[key] = None if ran else made
        if len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.popitem(last=False)
        return made
    _COMPILED.move_to_end(key)
    if code is None:  # compiling runs a filter or test: this render's own compilation
        return Environment.compile(env, source, name, filename, False, defer_init)
    env.preprocess(source, name, filename)
    return _refiled(code, filename or "<template>")  # jinja's own default name for a string


@contextmanager
def _recording_calls(env: Environment) -> Iterator[list[str]]:
    """Inside, `env`'s filters and tests note their name in the list yielded when called (so when compiling
    folds one). A wrapper keeps how Jinja calls the filter (`jinja_pass_arg`); an async one is left as it is,
    as Jinja never folds it."""
    ran: list[str] = []

    def recorded(name: str, func: Any) -> Any:
        if not callable(func) or getattr(func, "jinja_async_variant", False) or iscoroutinefunction(func):
            return func

        @wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            ran.append(name)
            return func(*args, **kwargs)
        if hasattr(func, "jinja_pass_arg"):
            call.jinja_pass_arg = func.jinja_pass_arg  # type: ignore[attr-defined]
        return call

    filters, tests = env.filters, env.tests
    env.filters = {name: recorded(name, func) for name, func in filters.items()}
    env.tests = {name: recorded(name, func) for name, func in tests.items()}
    try:
        yield ran
    finally:
        env.filters, env.tests = filters, tests


def _refiled(code: CodeType, filename: str) -> CodeType:
    """`code` naming `filename` (where tracebacks of a template point), its nested functions included."""
    if code.co_filename == filename:
        return code
    consts = tuple(_refiled(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


#: The template versions the renders of a batch share (`shared_versions`), by (url, ref, prereleases).
_SHARED: ContextVar[dict[tuple[str, str | None, bool], Template] | None] = ContextVar("shared_versions",
                                                                                     default=None)


@contextmanager
def shared_versions() -> Iterator[None]:
    """Inside, the `Render`s of one template version share one clone of it, removed on leaving (nested: the
    outermost owns them). A `copier update` alone cloned the new version three times (its checks, the render
    in place, the fresh render it diffs against); a batch of updates cloned every project's versions again."""
    if _SHARED.get() is not None:
        yield
        return
    versions: dict[tuple[str, str | None, bool], Template] = {}
    token = _SHARED.set(versions)
    try:
        yield
    finally:
        _SHARED.reset(token)
        for version in versions.values():
            release(version)


class Render(Worker):
    """A copier `Worker` without its per-render waste; behaves as copier's own (`run_update` uses it too).

    - Its Jinja environment compiles each source once per process (`compile_once`).
    - After writing each file copier asks git whether the destination's repository ignores file modes
      (`core.fileMode`), spawning `git config` once per file; a render asks once.
    - Inside `shared_versions`, it renders from the batch's clone of its template version."""

    @cached_property
    def template(self) -> Template:
        made = super().template  # nothing is cloned before first use
        versions = _SHARED.get()
        if versions is None:
            return made
        getattr(self, CLEANUP_HOOKS).remove(made._cleanup)  # the batch removes the clones it shares
        return versions.setdefault((made.url, made.ref, made.use_prereleases), made)

    @cached_property
    def jinja_env(self) -> SandboxedEnvironment:
        env = super().jinja_env
        env.__dict__["compile"] = partial(compile_once, env)
        return env

    @cached_property
    def _file_modes_ignored(self) -> bool:
        """copier's own test: `core.fileMode` is false in the repository around the destination."""
        try:
            setting = get_git(context_dir=self.subproject.local_abspath)("config", "--type=bool", "--get",
                                                                          "core.fileMode")
        except ProcessExecutionError:
            return False  # no repository, or the setting unset (git's default: modes count)
        return setting.strip() == "false"

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        if self._file_modes_ignored:
            super()._sync_git_index_executable_bit(dst_relpath, src_mode)


class NewRender(Render):
    """copier's `run_copy` into a new directory. Syncing file modes into the git index of a repository around
    the destination is a no-op there by copier's own rule (no repository, or files no index tracks yet)."""

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        return None


def use_clone(worker: Worker, version: Template) -> None:
    """Make `worker` render from `version`'s clone: `template` is copier's cached property, so setting it
    before first use skips the clone; the worker leaves removing it to the owner (copier only cleans up the
    templates it made itself)."""
    worker.__dict__["template"] = version


def release(version: Template) -> None:
    """Remove `version`'s clone (copier's own cleanup of a Template)."""
    version._cleanup()
