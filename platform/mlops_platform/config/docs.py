"""Render docs/configuration.md and docs/outputs-contract.md from the code, so the reference cannot drift.

Field tables come from the pydantic models (type, default, constraints, description), the rules list from
the `issue(...)` calls in `config/rules.py` (path, message, condition, fix), reference values from the
modules that own them. `python -m mlops_platform.config.docs` rewrites both files;
tests/foundation/test_docs.py fails when a committed file differs from what this module renders.
"""

from __future__ import annotations

import ast
import enum
import inspect
import json
import types
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from mlops_platform.config import rules, sections
from mlops_platform.config.loader import NAMESPACE, PATTERN_HINTS, repo_root
from mlops_platform.config.rule_docs import cell, rules_section
from mlops_platform.core import contract, instances, versions

CONFIGURATION_MD = "docs/configuration.md"
OUTPUTS_CONTRACT_MD = "docs/outputs-contract.md"
_MARKER = "<!-- Generated from {source} by `python -m mlops_platform.config.docs`. Do not edit by hand. -->"
#: PlatformConfig properties that are names or facts, not defaults resolved per tier.
_NOT_DEFAULTS = frozenset({"tier", "is_prod", "cluster_name", "base_tags", "karpenter"})
_TOGGLES = ("monitoring", "serving", "tracking", "training", "pipelines")


# --- shared: cells, types, defaults, constraints -----------------------------------------------------------------

def _model_of(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return next((m for a in typing.get_args(tp) if (m := _model_of(a)) is not None), None)


def _type(tp: Any, path: str | None = None) -> str:
    """Readable type; nested models show their section path (config) or class name (outputs)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _type(args[0], path)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type(a, path) for a in args)
    if origin is list:
        return f"list of {_type(args[0], path)}"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1], path)}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"object, see `{path}`" if path else f"`{tp.__name__}`"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", SecretStr: "secret string",
             type(None): "null"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def default_cell(info: FieldInfo) -> str:
    """The default column: generated from the field, so descriptions never restate it."""
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see its fields"
    if value is None:
        return "unset"
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    return f"`{value}`" if isinstance(value, str) and value else f"`{json.dumps(value)}`"


def _constraint(meta: Any) -> str:
    pattern = getattr(meta, "pattern", None)
    if pattern:
        return PATTERN_HINTS.get(pattern, f"matches `{pattern}`")
    bounds = {annotated_types.Ge: ("≥", "ge"), annotated_types.Gt: (">", "gt"), annotated_types.Le: ("≤", "le"),
              annotated_types.Lt: ("<", "lt"), annotated_types.MinLen: ("length ≥", "min_length"),
              annotated_types.MaxLen: ("length ≤", "max_length")}
    for kind, (sign, attr) in bounds.items():
        if isinstance(meta, kind):
            return f"{sign} {getattr(meta, attr)}"
    return ""


def _inner_constraints(tp: Any) -> Iterator[str]:
    """Constraints on list items and map keys/values (`list[Annotated[str, Field(pattern=...)]]`)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        yield from (c for m in args[1:] for c in _metadata_constraints(m))
    elif origin in (list, dict, typing.Union, types.UnionType):
        role = {list: "items", dict: "keys"}.get(origin)
        for i, arg in enumerate(args):
            label = role if (role and i == 0) else ("values" if origin is dict else "")
            yield from (f"{label}: {c}" if label else c for c in _inner_constraints(arg))


def _metadata_constraints(meta: Any) -> Iterator[str]:
    items = meta.metadata if isinstance(meta, FieldInfo) else [meta]
    yield from (c for m in items if (c := _constraint(m)))


def _constraints(info: FieldInfo) -> str:
    notes = [c for m in info.metadata if (c := _constraint(m))] + list(_inner_constraints(info.annotation))
    return "; ".join(notes)


def _own_doc(model: type) -> str:
    """A class's own docstring (not one inherited from BaseModel)."""
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _model_tables(model: type[BaseModel], path: str, *, nested_paths: bool = True) -> list[str]:
    """The field table of `model` (at dotted `path`), then one sub-section per nested model."""
    rows = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    nested: list[tuple[type[BaseModel], str]] = []
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        sub_path = f"{path}.{name}" + ("[]" if typing.get_origin(info.annotation) is list else "")
        shown = _type(info.annotation, sub_path if nested_paths else None)
        rows.append(f"| `{name}` | {shown} | {default_cell(info)} | {cell(_constraints(info))} "
                    f"| {cell(info.description or '')} |")
        if sub is not None and nested_paths:
            nested.append((sub, sub_path))
    out = ["\n".join(rows), ""]
    for sub, sub_path in nested:
        out += [f"### `{sub_path}`", "", *([_own_doc(sub), ""] if _own_doc(sub) else [])]
        out += _model_tables(sub, sub_path)
    return out


def _skeleton(tier: sections.Tier) -> sections.PlatformSections:
    """A config of the tier with every optional field at its default (not validated: only defaults are read)."""
    env = sections.EnvironmentConfig.model_construct(name=tier.value, tier=tier, account_id="123456789012",
                                                   region="us-east-1", owners=["owner@example.com"],
                                                   cost_center="docs")
    return sections.PlatformSections.model_construct(environment=env,
                                                 cluster=sections.ClusterConfig.model_construct(version="1.34"),
                                                 budget=sections.BudgetConfig.model_construct(monthly_usd=1.0))


def _shown(value: Any) -> str:
    return f"`{json.dumps(value)}`" if isinstance(value, bool | int | float) else f"`{value}`"


def _tier_defaults() -> list[str]:
    cfgs = [_skeleton(t) for t in sections.Tier]
    props = [n for n, v in vars(sections.PlatformSections).items()
             if isinstance(v, property) and n not in _NOT_DEFAULTS]
    lines = ["## Defaults that depend on the tier", "",
             "Fields documented as `unset` resolve per tier; this is what an unset field becomes.", "",
             "| setting | " + " | ".join(t.value for t in sections.Tier) + " |", "|---|" + "---|" * len(cfgs)]
    lines += [f"| `{p}` | " + " | ".join(_shown(getattr(c, p)) for c in cfgs) + " |" for p in props]
    lines += [f"| `{s}.enabled` | " + " | ".join(_shown(c.component_enabled(getattr(c, s))) for c in cfgs) + " |"
              for s in _TOGGLES]
    return [*lines, ""]


def _sections() -> list[str]:
    lines: list[str] = []
    for name, info in sections.PlatformSections.model_fields.items():
        model = _model_of(info.annotation)
        if model is None:
            continue
        listed = typing.get_origin(info.annotation) is list
        required = "required" if info.is_required() else "optional"
        lines += [f"## `{NAMESPACE}:{name}`", "", f"*{required}{', a list' if listed else ''}.*", ""]
        lines += [d + "\n" for d in (_own_doc(model), info.description or "") if d]
        lines += _model_tables(model, f"{name}[]" if listed else name)
    return lines


def _instance_table() -> list[str]:
    rows = ["| instance type | vCPU | memory GiB | GPUs | GPU model | arch |", "|---|---|---|---|---|---|"]
    for t in instances.INSTANCE_TYPES.values():
        gpu = t.gpu_type.value if t.gpu_type else ""
        rows.append(f"| `{t.name}` | {t.vcpus} | {t.memory_gib} | {t.gpus} | {gpu} | {t.arch.value} |")
    return [*rows, ""]


def _codes(items: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def _amis(table: dict[str, instances.Arch]) -> str:
    return ", ".join(f"`{ami}` ({arch.value})" for ami, arch in table.items())


def _reference_values() -> list[str]:
    eks = ", ".join(f"`{r.version}` (standard support to {r.end_of_standard_support})"
                    for r in versions.EKS_RELEASES.values())
    return ["## Reference values", "",
            f"- Supported EKS versions: {eks}.",
            f"- CloudWatch log retention days: {', '.join(str(d) for d in rules.LOG_RETENTION_DAYS)}.",
            f"- Availability zones per environment: at most {rules.MAX_AZS}.",
            f"- Tags set by the platform (not allowed in `environment.tags`): "
            f"{_codes(rules.RESERVED_TAGS)}.",
            f"- Reserved node-label prefixes: {_codes(rules.RESERVED_LABEL_PREFIXES)}.",
            f"- Reserved namespaces (not project names): {_codes(sorted(rules.RESERVED_NAMESPACES))}.",
            f"- System-pool AMI types: {_amis(instances.CPU_AMI_ARCH)}.",
            f"- GPU-pool AMI types: {_amis(instances.GPU_AMI_ARCH)}.", "",
            "### Instance catalog", "", "Pools may use these types (the GPU model becomes the "
            f"`{contract.GPU_TYPE_LABEL}` node label):", "", *_instance_table()]


def render_configuration_md() -> str:
    """docs/configuration.md: every section and field of the stack schema, tier defaults, rules, references."""
    toc = [f"- [`{NAMESPACE}:{n}`](#{NAMESPACE}{n})" for n in sections.PlatformSections.model_fields]
    head = [_MARKER.format(source="`config/sections.py` and `config/rules.py`"), "",
            "# Stack configuration reference", "",
            f"Each environment is one stack file, `stacks/Pulumi.<env>.yaml`, whose `config:` holds one "
            f"`{NAMESPACE}:<section>` key per section below (see `stacks/Pulumi.dev.yaml`). `mlplat validate` "
            "checks types first, then the rules, and reports every problem at once as "
            "`file:line: dotted.path: problem (got value) — fix: ...`; nothing is created until it passes. "
            "Unknown keys are errors. Keep secrets encrypted (`pulumi config set --secret`).", "",
            "## Sections", "", *toc, ""]
    lines = [*head, *_sections(), *_tier_defaults(), *rules_section(), *_reference_values()]
    return "\n".join(lines).rstrip() + "\n"


# --- outputs-contract.md -----------------------------------------------------------------------------------------

def _comment_above(lines: list[str], lineno: int) -> str:
    """The `#:` comment lines directly above 1-based line `lineno` (Sphinx's attribute-doc convention)."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return " ".join(found)


def _constant_docs(module: ModuleType) -> list[tuple[str, Any, str]]:
    """(name, value, `#:` comment) of a module's UPPER_CASE constants, in source order."""
    source = inspect.getsource(module)
    lines = source.splitlines()
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.isupper():
                out.append((name, getattr(module, name), _comment_above(lines, node.lineno)))
    return out


def render_outputs_contract_md() -> str:
    """docs/outputs-contract.md: every stack output of `contract.PlatformOutputs`, nested types, constants."""
    model = contract.PlatformOutputs
    consts = ["| constant | value | meaning |", "|---|---|---|"]
    consts += [f"| `{n}` | `{cell(json.dumps(v))}` | {cell(doc)} |" for n, v, doc in _constant_docs(contract)]
    lines = [_MARKER.format(source="`mlops_platform/core/contract.py`"), "", "# Platform outputs contract", "",
             inspect.getdoc(contract) or "", "",
             "Read them with `mlplat plan <env> --json` (key `outputs`) offline, `pulumi stack output --json` "
             "after a deployment, or `pulumi.StackReference(\"<org>/mlops-platform/<env>\")` from another "
             "program — in an environment with `tenants.shards` > 1, the stack of the project's shard, "
             "`<org>/mlops-platform/<env>-tenants-<k>` (`programs.project_platform.platform_reference`, "
             "`mlplat platform-stack`; docs/scale-out.md); validate with "
             "`contract.PlatformOutputs.model_validate(outputs)`.", "",
             f"## `{model.__name__}`", "", _own_doc(model), "",
             *_model_tables(model, "outputs", nested_paths=False)]
    for nested in (contract.BucketOutput, contract.ProjectOutput):
        lines += [f"## `{nested.__name__}`", "", *([_own_doc(nested), ""] if _own_doc(nested) else []),
                  *_model_tables(nested, nested.__name__, nested_paths=False)]
    lines += ["## Constants", "", "Shared by the platform, project templates and policies.", "", *consts, "",
              "## JSON Schema", "", "<details><summary>PlatformOutputs as JSON Schema</summary>", "", "```json",
              json.dumps(model.model_json_schema(), indent=2), "```", "", "</details>"]
    return "\n".join(lines).rstrip() + "\n"


RENDERERS = {CONFIGURATION_MD: render_configuration_md, OUTPUTS_CONTRACT_MD: render_outputs_contract_md}


def write_docs(root: Path | None = None) -> list[Path]:
    """Rewrite every generated doc under `root` (the repository by default); returns the paths written."""
    base = root or repo_root()
    written = []
    for rel, render in RENDERERS.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_docs():
        print(f"wrote {p}")
