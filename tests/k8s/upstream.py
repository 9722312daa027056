"""Upstream facts recorded under tests/fixtures/upstream (see its README for each file's source):
the values keys of every chart at its pinned version, and published CRD schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

UPSTREAM = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
VALUES_DIR = UPSTREAM / "values"
#: Values of charts the platform does not install yet, recorded for the features that will (README).
NEXT_VALUES_DIR = VALUES_DIR / "next"
CRDS_DIR = UPSTREAM / "crds"


@dataclass(frozen=True)
class UpstreamValues:
    """A chart's values.yaml at one version, flattened: dotted path → kind of its default
    (`map`, `list`, `scalar` or `null`), with the keys of bundled subcharts under their prefix."""

    chart: str
    version: str
    keys: Mapping[str, str]
    source: Mapping[str, str]
    #: Chart.yaml `kubeVersion` of the chart and of each subchart (Helm refuses a cluster outside them).
    kube_versions: tuple[str, ...] = ()


def chart_basename(chart: str) -> str:
    """`oci://ghcr.io/kserve/charts/kserve` → `kserve`; a repository chart name stays as it is."""
    return chart.rstrip("/").rsplit("/", 1)[-1]


@cache
def upstream_values(chart: str, version: str) -> UpstreamValues:
    """The recorded values keys of `chart` at `version` (a missing fixture is a KeyError naming the file)."""
    name = f"{chart_basename(chart)}-{version}.json"
    path = VALUES_DIR / name if (VALUES_DIR / name).is_file() else NEXT_VALUES_DIR / name
    if not path.is_file():
        raise KeyError(f"no upstream values fixture {path.name}: record it (tests/fixtures/upstream/README.md)")
    doc = json.loads(path.read_text())
    keys = dict(doc["keys"])
    constraints = [doc.get("kube_version")]
    for prefix, fixture in doc.get("subcharts", {}).items():
        sub = json.loads((VALUES_DIR / f"{fixture}.json").read_text())
        keys.update({f"{prefix}.{k}": kind for k, kind in sub["keys"].items()})
        constraints.append(sub.get("kube_version"))
    return UpstreamValues(doc["chart"], doc["version"], keys, doc["source"], tuple(c for c in constraints if c))


def _semver(text: str) -> tuple[int, int, int]:
    major, minor, patch = [*text.strip().lstrip("v").split("-")[0].split("."), "0", "0"][:3]
    return int(major), int(minor), int(patch)


def admits(constraint: str, minor: str) -> bool:
    """Whether a Chart.yaml `kubeVersion` (Helm semver constraints: `>=`, `>`, `<=`, `<`, `^`, AND-ed by
    spaces or commas) admits every patch of a Kubernetes minor such as `1.35`."""
    low, high = _semver(minor + ".0"), _semver(minor + ".999")
    tokens = constraint.replace(",", " ").replace(">= ", ">=").replace("<= ", "<=").replace("> ", ">").replace(
        "< ", "<").split()
    for token in tokens:
        op = next(o for o in (">=", "<=", ">", "<", "^", "=", "") if token.startswith(o))
        bound = _semver(token[len(op):])
        ok = {">=": low >= bound, ">": low > bound, "<=": high <= bound, "<": high < bound,
              "^": low >= bound and high < (bound[0] + 1, 0, 0), "=": low[:2] == bound[:2], "": low[:2] == bound[:2]}
        if not ok[op]:
            return False
    return True


def _set_paths(values: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        yield path, value


def all_paths(values: Mapping[str, Any]) -> set[str]:
    """Every dotted path of a nested values map (maps only; lists are leaves)."""
    out: set[str] = set()
    pending = list(_set_paths(values))
    while pending:
        path, value = pending.pop()
        out.add(path)
        if isinstance(value, dict):
            pending.extend(_set_paths(value, path))
    return out


def unknown_values(values: Mapping[str, Any], upstream: UpstreamValues,
                   free_form: Mapping[str, str]) -> list[str]:
    """Every path the platform sets that the chart does not declare, walking maps the chart declares.

    Below a path listed in `free_form` (a map the chart passes through verbatim) anything goes; a map
    set where the chart declares a list or scalar is a mismatch too.
    """
    problems: list[str] = []
    pending = list(_set_paths(values))
    while pending:
        path, value = pending.pop()
        if path in free_form:
            continue
        kind = upstream.keys.get(path)
        if kind is None:
            problems.append(f"{path}: not a value of {upstream.chart} {upstream.version}")
        elif isinstance(value, dict):
            if kind in ("map", "null"):
                pending.extend(_set_paths(value, path))
            else:
                problems.append(f"{path}: {upstream.chart} {upstream.version} declares a {kind}, not a map")
    return sorted(problems)


def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    """The published schema of one CRD version (crds/<group>/<kind>_<version>.json), its patterns in Python's
    regex dialect (`python_patterns`)."""
    return dict(python_patterns(json.loads((CRDS_DIR / group / f"{kind.lower()}_{version}.json").read_text())))


def _group_end(pattern: str, start: int) -> int:
    """Index of the `)` closing the group that is open at `start` (len(pattern) at top level)."""
    depth, i, in_class = 0, start, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class or char == "[":
            in_class = char != "]" if in_class else True
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    return len(pattern)


def go_to_python_regex(pattern: str) -> str:
    """Go's RE2 (what the API server checks CRD patterns with) lets `(?i)` switch case-insensitivity on mid-pattern,
    up to the end of its group; Python 3.11 refuses global flags that are not at the start. Same meaning:
    `(?i)rest` → `(?i:rest)` (prometheus-operator's AlertmanagerConfig month/weekday patterns use it)."""
    while (at := pattern.find("(?i)", 1)) > 0:
        end = _group_end(pattern, at + 4)
        pattern = f"{pattern[:at]}(?i:{pattern[at + 4:end]}){pattern[end:]}"
    return pattern


def python_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: go_to_python_regex(v) if k == "pattern" and isinstance(v, str) else python_patterns(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [python_patterns(v) for v in node]
    return node


@cache
def crd_validator(group: str, kind: str, version: str) -> Any:
    """A validator for one kind. A CRD's openAPIV3Schema is OpenAPI 3.0, whose keywords are JSON Schema
    draft 4's (boolean `exclusiveMaximum`); the JSON-schema closures name their own draft in `$schema`.

    Built (and its schema checked against the draft's metaschema) once per kind per process: checking a large
    CRD schema costs up to 0.15 s, and the k8s tests ask for the same few kinds hundreds of times. A validator
    holds no state between `iter_errors` calls; treat its `.schema` as read-only."""
    schema = crd_schema(group, kind, version)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft4Validator)
    cls.check_schema(schema)
    return cls(schema)


def as_sent(value: Any) -> Any:
    """Plan numbers are protobuf doubles (80.0); the provider's JSON carries an integral one as 80."""
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value
