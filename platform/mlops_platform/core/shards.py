"""Tenant shards: which stack of an environment's tenants layer holds which project.

When one machine cannot plan and apply every tenant of an environment in time, the tenants layer is split
into `tenants.shards` stacks that CI runs in parallel (docs/scale-out.md). A project's shard is chosen by
rendezvous (highest-random-weight) hashing of its name: stable across runs, machines and Python versions
(SHA-256, not `hash()`), independent of the order of `projects`, and when the count grows from N to N+1
only the ~1/(N+1) of projects that land on the new shard move — each move is a `pulumi state move`
between two stacks, so few moves matter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from mlops_platform.core.errors import UsageError
from mlops_platform.core.layers import Layer, reference_name

#: Upper bound of `tenants.shards` (a CI matrix of this size is already far beyond one team's runners).
MAX_SHARDS = 64


def _weight(project: str, shard: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{project}\0{shard}".encode()).digest()[:8], "big")


def shard_of(project: str, shards: int) -> int:
    """The shard (0-based) that holds `project` when the tenants layer has `shards` stacks."""
    if not 1 <= shards <= MAX_SHARDS:
        raise ValueError(f"shards must be 1..{MAX_SHARDS}, got {shards}")
    return max(range(shards), key=lambda shard: _weight(project, shard))


def shard_stack(env: str, shard: int, shards: int) -> str:
    """Stack name of one shard of `env`'s tenants layer: the environment's own name when unsharded."""
    return env if shards == 1 else f"{env}-tenants-{shard}"


_SHARD_STACK = re.compile(r"(?P<env>.+)-tenants-(?P<index>0|[1-9][0-9]*)")


def split_stack(stack: str) -> tuple[str, int | None]:
    """(environment, shard index) a tenants-layer stack name stands for: `prod-tenants-3` → ("prod", 3);
    any other name is an environment's own stack → (name, None). The inverse of `shard_stack`."""
    match = _SHARD_STACK.fullmatch(stack)
    return (match["env"], int(match["index"])) if match else (stack, None)


def shard_problem(stack: str, env: str, shards: int) -> str | None:
    """Why `stack` cannot run the tenants layer of `env` split into `shards` stacks, or None when it can.
    An unsharded environment runs as its own stack; a sharded one only as `<env>-tenants-<k>`, k < shards,
    so a stack named after the environment never plans every project beside the shard stacks."""
    _, index = split_stack(stack)
    if shards == 1 and index is not None:
        return f"stack {stack} is a tenant shard but tenants.shards is 1 — fix: use stack {env}, or set tenants.shards"
    if shards > 1 and (index is None or index >= shards):
        return (f"tenants.shards is {shards}: the tenants layer runs as stacks {shard_stack(env, 0, shards)} .. "
                f"{shard_stack(env, shards - 1, shards)}, not {stack} — fix: select one of them (the stack file "
                f"stays stacks/Pulumi.{env}.yaml: pass it with --config-file)")
    return None


def in_shard(projects: Iterable[str], shard: int | None, shards: int) -> list[str]:
    """The projects one tenants stack holds: all of them unsharded (`shard` None), else shard `shard`'s."""
    return [p for p in projects if shard is None or shard_of(p, shards) == shard]


@dataclass(frozen=True)
class Shard:
    index: int
    stack: str
    projects: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {"shard": self.index, "stack": self.stack, "projects": list(self.projects)}


def assign(env: str, projects: Iterable[str], shards: int) -> list[Shard]:
    """Every shard of `env` (empty ones too: a CI matrix needs a stable shape) with its projects, sorted."""
    members: dict[int, list[str]] = {i: [] for i in range(shards)}
    for project in projects:
        members[shard_of(project, shards)].append(project)
    return [Shard(i, shard_stack(env, i, shards), tuple(sorted(names))) for i, names in members.items()]


def _environment_of(environment_stack: str) -> tuple[str, str]:
    """(`ORG/PROJECT`, environment) of a fully qualified platform stack `ORG/mlops-platform/ENV` (a shard's
    `ENV-tenants-K` names its environment too)."""
    parts = environment_stack.split("/")
    if len(parts) != 3 or not all(parts):
        raise UsageError(f"platformStack {environment_stack!r}: not a fully qualified platform stack — fix: set "
                         "the project's `platformStack` config to ORG/PROJECT/ENV, e.g. "
                         "organization/mlops-platform/dev (`pulumi config set platformStack ...`)")
    return f"{parts[0]}/{parts[1]}", split_stack(parts[2])[0]


def aws_layer_stack(environment_stack: str) -> str:
    """The aws-layer stack of the environment `environment_stack` (`ORG/mlops-platform/ENV`) names: it
    exports `tenant_shards`, and exists whatever the count (the tenants stack `ENV` only when unsharded)."""
    org_project, env = _environment_of(environment_stack)
    return reference_name(org_project.split("/")[0], Layer.AWS, env)


def project_platform_stack(environment_stack: str, project: str, shards: int) -> str:
    """The tenants stack holding `project` in the environment `environment_stack` names, split into `shards`:
    the stack a project's own stacks read their platform outputs from (`ORG/mlops-platform/ENV`, or the
    shard's `ORG/mlops-platform/ENV-tenants-K`). The platform places projects with the same `shard_of`."""
    org_project, env = _environment_of(environment_stack)
    return f"{org_project}/{shard_stack(env, shard_of(project, shards), shards)}"


def shard_count(exported: object, aws_stack: str = "the aws-layer stack") -> int:
    """`tenant_shards` as `aws_stack` exports it; 1 from platforms older than that output. Anything but a whole
    number in 1..MAX_SHARDS is a UsageError naming the output and the stack."""
    if exported is None or exported == "":
        return 1
    try:
        count = int(str(exported).removesuffix(".0")) if isinstance(exported, int | float | str) else 0
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_SHARDS:
        raise UsageError(f"output tenant_shards of {aws_stack} is {exported!r}, not a shard count 1..{MAX_SHARDS} "
                         "— fix: run `mlplat up` for the aws layer of that environment so it exports its "
                         "tenants.shards again")
    return count
