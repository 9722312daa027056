"""Renders share compiled Jinja code (scaffold/_copier_internals.compile_once): a hit is exactly what compiling
again would give, a source whose compiling runs a filter (an impure one gives every render its own value) is
compiled in every render, and a render with shared code is byte for byte copier's own."""

from __future__ import annotations

import filecmp
import traceback
from functools import partial
from pathlib import Path
from types import CodeType
from typing import Any

import copier
import pytest
from copier._jinja_ext import SandboxedEnvironment, YieldExtension, get_yield_context
from jinja2 import FileSystemLoader
from jinja2_ansible_filters import AnsibleCoreFiltersExtension
from mlops_platform.scaffold._copier_internals import compile_once
from mlops_platform.scaffold.templating import copy_project

from .support import BASE_ANSWERS


def _env(loader: Path | None = None, **options: Any) -> SandboxedEnvironment:
    """An environment as copier's with compile_once (what `Render.jinja_env` installs)."""
    env = SandboxedEnvironment(extensions=[YieldExtension, AnsibleCoreFiltersExtension],
                               loader=loader and FileSystemLoader(loader), **options)
    env.__dict__["compile"] = partial(compile_once, env)
    return env


def _files(code: CodeType) -> set[str]:
    return {code.co_filename} | {f for c in code.co_consts if isinstance(c, CodeType) for f in _files(c)}


def test_a_source_is_compiled_once_for_every_environment_alike() -> None:
    source = "{% for x in xs %}{{ x | upper }}{% if not loop.last %}, {% endif %}{% endfor %}"
    first, second = _env(), _env()
    assert second.compile(source) is first.compile(source)
    assert second.from_string(source).render(xs=["a", "b"]) == "A, B"
    assert SandboxedEnvironment().from_string(source).render(xs=["a", "b"]) == "A, B"  # copier's, uncached


def test_an_impure_filter_on_constants_gives_every_render_its_own_value() -> None:
    """Jinja runs a filter on constants while compiling and copier's ansible filters include impure ones:
    shared code would give every render the first render's "random" secret or order, where copier's own
    renders (compiling again) differ. A pure one still renders what it did."""
    numbers = list(range(20))
    for source in ("{{ 1000000000000 | ans_random }}", f"{{{{ {numbers} | shuffle }}}}",
                   "{% set secret = 1000000000000 | ans_random | hash('sha512') %}{{ secret }}"):
        first, second = _env().from_string(source).render(), _env().from_string(source).render()
        assert first != second, source
        assert _env().compile(source) is not _env().compile(source)
    copier_own = SandboxedEnvironment(extensions=[AnsibleCoreFiltersExtension])  # compiles in every render
    assert copier_own.from_string(source).render() != copier_own.from_string(source).render()
    assert _env().from_string("{{ 'ab' | upper }}{{ x | lower }}").render(x="C") == "ABc"
    # compiled while the filters were recorded: each is still called as it declares (environment, context)
    shared = "{{ n | ans_random(seed=7) }} {{ xs | map('upper') | join }}"
    env = _env()
    assert env.compile(shared) is _env().compile(shared)
    assert env.from_string(shared).render(n=10**12, xs="ab") == copier_own.from_string(shared).render(n=10**12,
                                                                                                       xs="ab")
    assert env.filters["ans_random"] is copier_own.filters["ans_random"]


def test_an_environment_with_another_syntax_compiles_its_own() -> None:
    source = "[[ a ]]{{ a }}"
    assert _env().from_string(source).render(a=1) == "[[ a ]]1"
    assert _env(variable_start_string="[[", variable_end_string="]]").from_string(source).render(a=1) == "1{{ a }}"
    assert _env(trim_blocks=True).compile("{% if a %}\nx{% endif %}") is not _env().compile("{% if a %}\nx{% endif %}")


def test_a_template_file_shared_by_two_clones_names_its_own_clone(tmp_path: Path) -> None:
    """The code is shared across clones of a template (same file, same content); tracebacks point at the file
    of the render that failed, in the template's nested functions too."""
    for clone in ("old", "new"):
        (tmp_path / clone).mkdir()
        (tmp_path / clone / "f.jinja").write_text("{% macro m() %}{{ 1 // zero }}{% endmacro %}{{ m() }}")
    old, new = _env(tmp_path / "old").get_template("f.jinja"), _env(tmp_path / "new").get_template("f.jinja")
    assert old.filename == str(tmp_path / "old" / "f.jinja") and new.filename == str(tmp_path / "new" / "f.jinja")
    with pytest.raises(ZeroDivisionError) as failed:
        new.render(zero=0)
    frames = [frame.filename for frame in traceback.extract_tb(failed.value.__traceback__)]
    assert str(tmp_path / "new" / "f.jinja") in frames and str(tmp_path / "old" / "f.jinja") not in frames
    source = (tmp_path / "new" / "f.jinja").read_text()
    assert _files(compile_once(_env(), source, "f.jinja", str(tmp_path / "x.jinja"))) == {str(tmp_path / "x.jinja")}


def test_the_yield_tag_starts_afresh_for_each_path_part() -> None:
    """copier's `yield` extension resets its state when a source is compiled (preprocess): a shared compilation
    still resets it, or the next path part with a yield would fail as a second yield."""
    env, source = _env(), "{% yield name from names %}{{ name }}{% endyield %}"
    env.from_string(source).render(names=["a"])
    assert get_yield_context(env).yield_name == "name"
    again = env.from_string(source)
    assert get_yield_context(env).yield_name is None
    again.render(names=["b"])
    assert get_yield_context(env).yield_name == "name"


def test_a_render_with_shared_code_is_copier_s_own(template_dir: Path, tmp_path: Path) -> None:
    """`copy_project` (NewRender: shared compiled code, no git index sync) after another render warmed the code,
    against copier's `run_copy` with its own Worker: the same files, byte for byte, executable bits included."""
    copy_project(tmp_path / "warm", {**BASE_ANSWERS, "gpu_count": 1}, template_dir)
    copy_project(tmp_path / "ours", BASE_ANSWERS, template_dir)
    copier.run_copy(str(template_dir), tmp_path / "copier", data=dict(BASE_ANSWERS), defaults=True, quiet=True)
    ours = sorted(p.relative_to(tmp_path / "ours") for p in (tmp_path / "ours").rglob("*"))
    assert ours == sorted(p.relative_to(tmp_path / "copier") for p in (tmp_path / "copier").rglob("*"))
    files = [rel for rel in ours if (tmp_path / "ours" / rel).is_file()]
    assert filecmp.cmpfiles(tmp_path / "ours", tmp_path / "copier", files, shallow=False)[0] == files
    assert [(tmp_path / "ours" / rel).stat().st_mode for rel in files] == \
        [(tmp_path / "copier" / rel).stat().st_mode for rel in files]
