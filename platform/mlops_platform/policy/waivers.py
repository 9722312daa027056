"""Reviewed, expiring exceptions to policies.

    # stacks/waivers.yaml
    waivers:
      - policy: eks-private-endpoint
        # an exact URN, as `pulumi stack --show-urns` prints it, or a glob pattern (`*`, `?`) over URNs
        urn: "urn:pulumi:dev::mlops-platform-aws::mlops:aws:Cluster$aws:eks/cluster:Cluster::dev-cluster-eks"
        reason: Public API for the hackathon week, restricted to the office CIDR.
        approver: security@example.com
        expires: 2026-12-15

A stack-level finding (a stack policy's violation that names no resource: a missing budget, a GPU cap) is
matched on the stack's own URN, `urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack>`
(`root_stack_urn`), by the offline review and the CrossGuard pack alike, so a waiver naming it waives it in both.
Such a waiver names its stack and project: a glob that would match the stack URN of any stack or any project
(`*`, `urn:pulumi:*`, `urn:pulumi:dev::*::pulumi:pulumi:Stack::*`) is refused, since one pack config may be
shared by many projects (a Pulumi Cloud policy group) and would waive the finding for all of them.

A waived finding stays in every report, marked waived. A malformed or expired waiver is itself a failure:
exceptions that nobody renews must not silently live on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAMLError

from mlops_platform.core.errors import MlplatError, WaiverError
from mlops_platform.core.files import load_yaml, read_text
from mlops_platform.core.formats import EMAIL
from mlops_platform.engine.urns import ROOT_STACK_TYPE

#: Longest a waiver may run: exceptions get re-reviewed at least yearly.
MAX_WAIVER_DAYS = 366


def root_stack_urn(stack: str, project: str) -> str:
    """The URN the Pulumi engine gives a stack's root resource (named `<project>-<stack>`)."""
    return f"urn:pulumi:{stack}::{project}::{ROOT_STACK_TYPE}::{project}-{stack}"


def stack_urn_of(resource_urns: Iterable[str], stack: str | None = None) -> str | None:
    """The stack URN of resources: the root stack's own URN when among them, else built from the first URN's
    stack and project (`stack` overrides the stack part); None when no URN tells."""
    urns = [u for u in resource_urns if u.startswith("urn:pulumi:") and u.count("::") >= 3]
    root = next((u for u in urns if u.split("::")[2] == ROOT_STACK_TYPE), None)
    if root is not None or not urns:
        return root
    first_stack, project = urns[0].removeprefix("urn:pulumi:").split("::")[:2]
    return root_stack_urn(stack or first_stack, project)


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="Policy name (`mlplat policy list`).")
    urn: str = Field(min_length=1, description="Resource URN, or a glob pattern (`*`, `?`) over URNs.")
    reason: str = Field(min_length=10, description="Why the exception is acceptable, for the reviewer.")
    approver: str = Field(pattern=EMAIL, description="Email of whoever approved the exception.")
    expires: date = Field(description="Last day the waiver applies (ISO date).")

    def covers(self, policy: str, urn: str) -> bool:
        return policy == self.policy and (urn == self.urn or fnmatch.fnmatchcase(urn, self.urn))


class _WaiversFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


@dataclass(frozen=True)
class Waivers:
    source: str
    entries: tuple[Waiver, ...]

    def find(self, policy: str, urn: str) -> Waiver | None:
        return next((w for w in self.entries if w.covers(policy, urn)), None)


NO_WAIVERS = Waivers("", ())


def _problem(source: str, where: str, message: str, value: Any = None, fix: str = "") -> str:
    text = f"{source}: {where}: {message}"
    if value is not None:
        text += f" (got {value!r})"
    return text + (f" — fix: {fix}" if fix else "")


def _schema_problems(source: str, exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = err["loc"]
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))
        value = err.get("input") if not isinstance(err.get("input"), dict | list) else None
        out.append(_problem(source, where or "<root>", err["msg"], value, "see docs/policies.md#waivers"))
    return out


_GLOB = frozenset("*?[")


def _instance(segment: str | None, filler: str) -> str:
    """A stack or project name the glob `segment` matches and no real one is (`filler` when unknown)."""
    if segment is None:
        return filler
    return segment.replace("*", filler).replace("?", "z")


def _too_broad(pattern: str) -> bool:
    """Whether the glob `pattern` matches stack URNs of more than one named stack and project: its stack or
    project segment is a glob (or missing), and a stack URN with a made-up name there matches it."""
    if not _GLOB & set(pattern):
        return False
    parts = pattern.removeprefix("urn:pulumi:").split("::")[:2] if pattern.startswith("urn:pulumi:") else []
    stack, project = [*parts, None, None][:2]
    if not any(p is None or _GLOB & set(p) for p in (stack, project)):
        return False
    if any("[" in p for p in (stack, project) if p):  # a character class over stacks or projects: never precise
        return True
    return fnmatch.fnmatchcase(root_stack_urn(_instance(stack, "zz-any-stack"), _instance(project, "zz-any-project")),
                               pattern)


def _rule_problems(source: str, entries: Iterable[Waiver], known: set[str], today: date) -> list[str]:
    out = []
    for i, w in enumerate(entries):
        where = f"waivers[{i}]"
        if _too_broad(w.urn):
            out.append(_problem(source, f"{where}.urn", "matches the stack URN of any stack or project it does not "
                                "name (one pack config can serve many projects: it would waive them all)", w.urn,
                                "name one stack of one project, urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::"
                                "<project>-<stack> (one waiver per stack)"))
        if known and w.policy not in known:
            out.append(_problem(source, f"{where}.policy", "no such policy", w.policy, "run `mlplat policy list`"))
        if w.expires < today:
            out.append(_problem(source, f"{where}.expires", f"expired on {w.expires.isoformat()}", None,
                                "fix the finding, or renew the waiver with a new approval"))
        elif w.expires > today + timedelta(days=MAX_WAIVER_DAYS):
            out.append(_problem(source, f"{where}.expires", f"more than {MAX_WAIVER_DAYS} days ahead",
                                w.expires.isoformat(), "waivers are re-reviewed at least yearly"))
    return out


def _duplicate_problems(source: str, entries: list[Waiver]) -> list[str]:
    """A second waiver for the same policy and URN is never used (the first matches): one reviewed entry
    must be the only one, or a renewal could silently be shadowed by the old expiry."""
    first: dict[tuple[str, str], int] = {}
    out = []
    for i, w in enumerate(entries):
        seen = first.setdefault((w.policy, w.urn), i)
        if seen != i:
            out.append(_problem(source, f"waivers[{i}]", f"duplicates waivers[{seen}] (same policy and urn)",
                                f"{w.policy} {w.urn}", "keep one entry per policy and urn"))
    return out


def parse_waivers(data: Any, source: str, known_policies: Iterable[str] = (), today: date | None = None) -> Waivers:
    """Validate a waivers document; every problem (file, entry index, field) in one WaiverError."""
    if data is None:
        return Waivers(source, ())
    if not isinstance(data, Mapping):
        raise WaiverError(_problem(source, "<root>", "expected a mapping with a `waivers` list",
                                   type(data).__name__))
    try:
        parsed = _WaiversFile.model_validate(data)
    except ValidationError as exc:
        raise WaiverError("\n".join(_schema_problems(source, exc))) from None
    problems = _rule_problems(source, parsed.waivers, set(known_policies), today or date.today()) \
        + _duplicate_problems(source, parsed.waivers)
    if problems:
        raise WaiverError("\n".join(problems))
    return Waivers(source, tuple(parsed.waivers))


def load_waivers(path: Path, known_policies: Iterable[str] = (), today: date | None = None) -> Waivers:
    """Read and validate a waivers file; a file that cannot be read or parsed is a WaiverError too."""
    try:
        data = load_yaml(read_text(path, "waivers file", "pass an existing waivers YAML file or drop --waivers"),
                         path, "waivers file")
    except YAMLError as exc:
        raise WaiverError(f"{path}: not valid YAML: {exc}") from None
    except MlplatError as exc:  # unreadable, not UTF-8, too large: the review cannot trust its waivers
        raise WaiverError(exc.render()) from None
    return parse_waivers(data, str(path), known_policies, today)
