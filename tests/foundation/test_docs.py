"""Generated reference docs: the committed files equal what the code renders, and the schema documents
every field with its (true) default."""

from __future__ import annotations

import ast
import enum
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlops_platform.config import schema
from mlops_platform.config.docs import (
    CONFIGURATION_MD,
    OUTPUTS_CONTRACT_MD,
    RENDERERS,
    default_cell,
    render_configuration_md,
    render_outputs_contract_md,
    write_docs,
)
from mlops_platform.config.loader import repo_root
from mlops_platform.config.rule_docs import RULE_MODULES, rule_docs
from mlops_platform.core.versions import SUPPORTED_EKS_VERSIONS
from pydantic import BaseModel
from pydantic.fields import FieldInfo

REGENERATE = "run `python -m mlops_platform.config.docs` and commit the result"


@pytest.fixture(scope="module")
def configuration_md() -> str:
    return render_configuration_md()


@pytest.mark.parametrize("rel", sorted(RENDERERS))
def test_committed_doc_is_fresh(rel: str) -> None:
    committed = (repo_root() / rel).read_text(encoding="utf-8")
    assert committed == RENDERERS[rel](), f"{rel} is stale: {REGENERATE}"


def test_write_docs_writes_every_generated_file(tmp_path: Path) -> None:
    written = write_docs(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted([CONFIGURATION_MD,
                                                                                  OUTPUTS_CONTRACT_MD])
    assert (tmp_path / OUTPUTS_CONTRACT_MD).read_text(encoding="utf-8") == render_outputs_contract_md()


def _fields(model: type[BaseModel], path: str) -> Iterator[tuple[str, str, FieldInfo]]:
    """(dotted section path, field name, field) for a model and every model nested in it."""
    for name, info in model.model_fields.items():
        yield path, name, info
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            nested = arg if isinstance(arg, type) and issubclass(arg, BaseModel) else None
            if nested is not None:
                suffix = "[]" if getattr(info.annotation, "__origin__", None) is list else ""
                yield from _fields(nested, f"{path}.{name}{suffix}")


def _all_config_fields() -> list[tuple[str, str, FieldInfo]]:
    out = []
    for section, info in schema.PlatformConfig.model_fields.items():
        listed = getattr(info.annotation, "__origin__", None) is list
        model = info.annotation.__args__[0] if listed else info.annotation
        out += list(_fields(model, f"{section}[]" if listed else section))
    return out


def _chunks(markdown: str) -> dict[str, str]:
    """Section path (`environment`, `network.existing`, `projects[]`) → the text under its heading."""
    parts = re.split(r"^#{2,3} `(?:mlops-platform:)?([^`]+)`.*$", markdown, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_section_and_field_is_documented_in_its_own_table(configuration_md: str) -> None:
    chunks = _chunks(configuration_md)
    fields = _all_config_fields()
    assert len(fields) > 80
    for path, name, info in fields:
        section = path if path in chunks else path.removesuffix("[]")
        row = next((ln for ln in chunks[section].splitlines() if ln.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{path}.{name} missing"
        description = " ".join((info.description or "").split()).replace("|", "\\|")
        assert row.endswith(f"| {description} |"), row


@pytest.mark.parametrize(("path", "name", "info"), _all_config_fields(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_field_says_required_or_what_unset_means_and_never_restates_a_default(
        path: str, name: str, info: FieldInfo) -> None:
    text = info.description or ""
    if info.is_required():
        assert "Required" in text, f"{path}.{name}: say 'Required.'"
        return
    # the default column is generated from the field itself; a restated default could only drift from it
    assert "Default:" not in text, f"{path}.{name}: drop the restated default"
    if info.get_default(call_default_factory=True) is None:
        assert "Unset:" in text or "Required when" in text, f"{path}.{name}: say what unset means"


@pytest.mark.parametrize(("path", "name", "info"), [f for f in _all_config_fields() if not f[2].is_required()],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_default_column_shows_the_real_default(configuration_md: str, path: str, name: str,
                                                    info: FieldInfo) -> None:
    chunks = _chunks(configuration_md)
    section = path if path in chunks else path.removesuffix("[]")
    row = next(ln for ln in chunks[section].splitlines() if ln.startswith(f"| `{name}` |"))
    assert f"| {default_cell(info)} |" in row, row
    value = info.get_default(call_default_factory=True)
    if isinstance(value, bool | int | float) and not isinstance(value, enum.Enum):
        assert f"`{json.dumps(value)}`" in row, row


def test_tier_defaults_table_shows_resolved_values(configuration_md: str) -> None:
    assert "| `deletion_protection` | `false` | `false` | `true` |" in configuration_md
    assert "| `monitoring_retention` | `24h` | `7d` | `30d` |" in configuration_md
    assert "| `tracking_backup_days` | `7` | `7` | `14` |" in configuration_md


def _issue_calls() -> list[ast.Call]:
    trees = [ast.parse(inspect.getsource(module)) for module in RULE_MODULES]
    return [n for tree in trees for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "issue"]


def test_every_rule_message_is_listed(configuration_md: str) -> None:
    calls = _issue_calls()
    assert len(calls) >= 30
    literal = [c.args[1].value for c in calls if isinstance(c.args[1], ast.Constant)]
    assert len(literal) >= 25
    for message in literal:
        assert f"| {message.replace('|', chr(92) + '|')} |" in configuration_md, message
    listed = sum(len(docs) for docs in rule_docs().values())
    assert listed >= len(calls)  # helpers shared by the system and GPU pools are listed once per pool kind


def test_rule_rows_name_resolved_paths_conditions_and_fixes() -> None:
    docs = {(d.path, d.message): d for ds in rule_docs().values() for d in ds}
    nat = docs[("network.nat", "prod may not depend on a single NAT gateway")]
    assert nat.when == "cfg.is_prod and net.nat == 'single'"
    assert nat.fix == "use nat: one_per_az (or none for an air-gapped VPC)"
    assert ("node_pools.gpu[n].min_size", "dev GPU pools must scale to zero") in docs
    assert ("projects[n].gpu_quota", "no GPU pool exists to serve this quota") in docs
    version = next(d for (p, _), d in docs.items() if p == "cluster.version")
    assert version.fix == f"use one of {', '.join(SUPPORTED_EKS_VERSIONS)}"  # constants are resolved
    assert all(not re.search(r"\{(path|i)\}", d.path) for d in docs.values())


def test_outputs_contract_lists_every_output_and_constant() -> None:
    from mlops_platform.core import contract

    text = render_outputs_contract_md()
    for model in (contract.PlatformOutputs, contract.BucketOutput, contract.ProjectOutput):
        assert f"## `{model.__name__}`" in text
        for name in model.model_fields:
            assert f"| `{name}` |" in text, f"{model.__name__}.{name}"
    assert "| `GPU_TAINT_KEY` | `\"nvidia.com/gpu\"` | Taint every GPU node carries" in text
    assert '"title": "PlatformOutputs"' in text
