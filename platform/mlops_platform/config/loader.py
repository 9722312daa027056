"""Read stack files and Pulumi config into a validated `PlatformConfig`, or one `ConfigError` listing
every problem with file, line, dotted path, bad value and fix. Nothing is created before this passes."""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml.error import YAMLError

from mlops_platform.config import sections
from mlops_platform.config.rules import RuleViolations, check_warnings
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from mlops_platform.core.files import load_yaml, read_text
from mlops_platform.core.formats import EMAIL

NAMESPACE = "mlops-platform"
SECRET_PLACEHOLDER = "[secret]"
Loc = tuple[str | int, ...]
PATTERN_HINTS = {
    EMAIL: "an email address, e.g. team@example.com",
    sections.ACCOUNT_ID: 'the 12-digit account id as a quoted string, e.g. "123456789012"',
    sections.DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting with a letter",
    sections.REGION: "an AWS region code, e.g. us-east-1",
    sections.IAM_PRINCIPAL_ARN: "an IAM role or user ARN, e.g. arn:aws:iam::123456789012:role/admins",
}


def repo_root() -> Path:
    """The checkout holding Pulumi.yaml and stacks/ (MLPLAT_ROOT overrides, e.g. for installed use)."""
    override = os.environ.get("MLPLAT_ROOT")
    return Path(override) if override else Path(__file__).resolve().parents[3]


def stacks_dir() -> Path:
    return repo_root() / "stacks"


def check_env_name(env: str) -> str:
    """The one check of an environment name given on the command line (every command uses it).

    Names are DNS labels, as `environment.name` is, so a raw argument such as `../../etc/passwd` never
    becomes part of a path."""
    if not re.fullmatch(sections.DNS_LABEL, env):
        shown = env if len(env) <= 80 else env[:80] + "…"
        raise UsageError(f"environment {shown!r} is not an environment name (a DNS label: lowercase letters, "
                         f"digits and '-', starting with a letter) — fix: use one of "
                         f"{', '.join(shipped_envs()) or 'the shipped environments'}")
    return env


def stack_file_for(env: str) -> Path:
    """stacks/Pulumi.<env>.yaml of a checked environment name (it need not exist)."""
    return stacks_dir() / f"Pulumi.{check_env_name(env)}.yaml"


def env_stack_file(env: str) -> Path:
    """The stack file of an existing environment, or a UsageError listing the environments there are."""
    path = stack_file_for(env)
    if not path.is_file():
        raise UsageError(f"unknown environment '{env}' — fix: use one of {', '.join(shipped_envs())} "
                         f"or pass --stack-file")
    return path


def shipped_envs() -> list[str]:
    """Environments with a stack file, in promotion order (dev, staging, prod, then others)."""
    names = [p.name[len("Pulumi."):-len(".yaml")] for p in stacks_dir().glob("Pulumi.*.yaml")]
    order = {"dev": 0, "staging": 1, "prod": 2}
    return sorted(names, key=lambda n: (order.get(n, 3), n))


def _read_yaml(path: Path) -> Any:
    fix = f"pass an existing file or one of {', '.join(shipped_envs()) or 'the shipped environments'}"
    text = read_text(path, "stack file", fix)
    try:
        return load_yaml(text, path, "stack file", typ="rt")
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError([ConfigIssue("<file>", f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                       file=str(path), line=line, fix="fix the YAML syntax")]) from None


def _unsecret(value: Any) -> Any:
    """Encrypted `secure:` values cannot be decrypted offline: keep a placeholder, never the ciphertext."""
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {str(k): _unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsecret(v) for v in value]
    return value


def read_stack_config(path: Path) -> tuple[dict[str, Any], Any]:
    """(plain `mlops-platform:*` sections, the ruamel document for line numbers)."""
    doc = _read_yaml(path)
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if not isinstance(config, Mapping):
        raise ConfigError([ConfigIssue("config", "the file has no `config:` mapping", file=str(path),
                                       fix=f"write `config:` with `{NAMESPACE}:<section>` keys (see stacks/)")])
    sections = {k.split(":", 1)[1]: _unsecret(v) for k, v in config.items()
                if isinstance(k, str) and k.startswith(f"{NAMESPACE}:")}
    region = config.get("aws:region")
    if region is not None:
        sections["__aws_region__"] = str(region)
    return sections, doc


def load_stack_file(path: Path) -> PlatformConfig:
    """Validate one stack file; raises ConfigError with every issue."""
    return load_stack_document(path)[0]


def load_stack_document(path: Path) -> tuple[PlatformConfig, Any]:
    """`load_stack_file` and the ruamel document it read (its `config` as written, secure values included),
    for callers that need both without parsing the file twice."""
    sections, doc = read_stack_config(path)
    return validate_sections(sections, source=str(path), doc=doc, stack=_stack_name(path)), doc


def stack_warnings(path: Path, cfg: PlatformConfig) -> list[ConfigIssue]:
    """Warnings of a valid stack file, located like errors (file, line, dotted path)."""
    _, doc = read_stack_config(path)
    return [_located(issue, str(path), doc) for issue in check_warnings(cfg)]


def load_env(env: str) -> PlatformConfig:
    return load_stack_file(env_stack_file(env))


def _stack_name(path: Path) -> str | None:
    name = path.name
    return name[len("Pulumi."):-len(".yaml")] if name.startswith("Pulumi.") and name.endswith(".yaml") else None


def load_from_pulumi_config(values: Mapping[str, Any], stack: str) -> PlatformConfig:
    """In a real `pulumi up`: config arrives as `mlops-platform:<section>` → JSON strings."""
    sections: dict[str, Any] = {}
    for key, raw in values.items():
        if key.startswith(f"{NAMESPACE}:"):
            sections[key.split(":", 1)[1]] = _parse_value(raw)
    if "aws:region" in values:
        sections["__aws_region__"] = str(values["aws:region"])
    path = stacks_dir() / f"Pulumi.{stack}.yaml"  # the engine's stack name, not user input
    doc = _read_yaml(path) if path.is_file() else None
    return validate_sections(sections, source=str(path), doc=doc, stack=stack)


def _parse_value(raw: Any) -> Any:
    if isinstance(raw, str) and raw[:1] in "[{":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def validate_sections(sections: dict[str, Any], source: str, doc: Any = None,
                      stack: str | None = None) -> PlatformConfig:
    data = dict(sections)
    aws_region = data.pop("__aws_region__", None)
    if not data:
        raise ConfigError([ConfigIssue(f"{NAMESPACE}:*", "no platform configuration in this file", file=source,
                                       fix=f"add `{NAMESPACE}:environment`, `:cluster` and `:budget` (see stacks/)")])
    raw_env = data.get("environment")
    env: Mapping[str, Any] = raw_env if isinstance(raw_env, Mapping) else {}
    # Checked from the raw values so they are reported together with any schema error.
    extra = [_located(i, source, doc) for i in _stack_level_issues(env.get("region"), env.get("name"),
                                                                   aws_region, stack)]
    try:
        cfg = PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_issues_from(exc, source, doc) + extra, source) from None
    if extra:
        raise ConfigError(extra, source)
    return cfg


def _stack_level_issues(region: Any, env_name: Any, aws_region: str | None, stack: str | None) -> list[ConfigIssue]:
    issues = []
    # A value that is itself malformed is reported by the schema; a mismatch on top would be noise.
    if aws_region is not None and isinstance(region, str) and re.fullmatch(sections.REGION, region) \
            and aws_region != region:
        issues.append(ConfigIssue("aws:region", "differs from environment.region", aws_region,
                                  f"set aws:region to {region} (or drop it)"))
    if stack is not None and isinstance(env_name, str) and re.fullmatch(sections.DNS_LABEL, env_name) \
            and stack != env_name:
        issues.append(ConfigIssue("environment.name", f"does not match the stack name '{stack}'",
                                  env_name, f"set environment.name: {stack}"))
    return issues


def _issues_from(exc: ValidationError, source: str, doc: Any) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for err in exc.errors(include_url=False):
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, RuleViolations):
            issues.extend(_located(i, source, doc) for i in ctx_error.issues)
            continue
        loc = tuple(err["loc"])
        issue = ConfigIssue(path=dotted(loc), message=_message(err), value=_shown(err.get("input"), err["type"]),
                            fix=_fix(err, loc))
        issues.append(_located(issue, source, doc))
    return issues


def dotted(loc: Loc) -> str:
    out = ""
    for part in (p for p in loc if p != "[key]"):  # pydantic marks dict-key errors with a "[key]" part
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"]).removeprefix("Value error, ")


def _shown(value: Any, kind: str) -> Any:
    if kind == "missing" or isinstance(value, Mapping):
        return None
    return value


def _fix(err: Any, loc: Loc) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}remove it; allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return "add it (see docs/configuration.md for the field and its meaning)"
    if kind == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        return f"use {PATTERN_HINTS.get(pattern, 'a value matching ' + pattern)}"
    if kind == "enum":
        return f"use one of {err['ctx']['expected']}"
    if kind == "string_type" and isinstance(err.get("input"), int | float) and not isinstance(err["input"], bool):
        fits = PATTERN_HINTS.get(_pattern_at(loc) or "")
        return ("quote it: YAML reads unquoted digits as a number (and drops leading zeros)"
                + (f"; use {fits}" if fits else ""))
    if kind == "finite_number":
        return "write a finite number (.inf and .nan are not amounts)"
    return "correct the value (see docs/configuration.md)"


def _pattern_at(loc: Loc) -> str | None:
    """The regex a string field at `loc` must match, for a hint that fits the field."""
    model: Any = PlatformConfig
    field = None
    for part in (p for p in loc if isinstance(p, str)):
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return None
        model = _model_of(field.annotation)
    patterns = [getattr(m, "pattern", None) for m in (field.metadata if field is not None else [])]
    return next((p for p in patterns if isinstance(p, str)), None)


def _fields_at(loc: Loc) -> list[str]:
    """Field names allowed at a location of the schema, for 'did you mean' hints."""
    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _located(issue: ConfigIssue, source: str, doc: Any) -> ConfigIssue:
    return ConfigIssue(issue.path, issue.message, issue.value, issue.fix, source, _line_of(doc, issue.path))


def _line_of(doc: Any, path: str) -> int | None:
    """1-based line of the deepest existing node on a dotted path in the ruamel document."""
    config = doc.get("config") if isinstance(doc, Mapping) else None
    if config is None or path.startswith("<"):
        return None
    parts = _split_path(path)
    if not parts:
        return None
    key = parts[0] if str(parts[0]).count(":") else f"{NAMESPACE}:{parts[0]}"
    node, line = config, _key_line(config, key)
    node = config.get(key) if line is not None else None
    for part in parts[1:]:
        sub_line = _key_line(node, part)
        if sub_line is None:
            break
        line, node = sub_line, node[part]  # type: ignore[index]  # _key_line proved the key exists
    return line


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for chunk in path.replace("]", "").split("."):
        head, *idx = chunk.split("[")
        if head:
            parts.append(head)
        parts.extend(int(i) for i in idx if i.isdigit())
    return parts


def _key_line(node: Any, key: str | int) -> int | None:
    lc = getattr(node, "lc", None)
    try:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            return int(lc.item(key)[0]) + 1 if lc else None
        if isinstance(key, str) and isinstance(node, Mapping) and key in node:
            return int(lc.key(key)[0]) + 1 if lc else None
    except (KeyError, TypeError, AttributeError):
        return None
    return None
