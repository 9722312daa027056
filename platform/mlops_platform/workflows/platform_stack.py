"""`mlplat platform-stack`: the tenants stack a project's CI reads its platform outputs from.

A project's stack config names its environment (`platformStack: ORG/mlops-platform/ENV`); its program reads
the tenants stack of its shard (programs/project_platform.py). CI steps outside the program (the policy
config of a preview) need the same stack name: the shard count comes from the environment's aws-layer stack
(`tenant_shards`), read with the Pulumi CLI the project's CI is already logged in with, or from `--shards`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from mlops_platform.config.section_types import DNS_LABEL
from mlops_platform.core.errors import EngineError, ToolMissingError, UsageError
from mlops_platform.core.shards import aws_layer_stack, project_platform_stack, shard_count
from mlops_platform.workflows.automation import PULUMI_INSTALL_HINT


def live_shard_count(aws_stack: str) -> int:
    """`tenant_shards` of the aws-layer stack `aws_stack` (ORG/mlops-platform-aws/ENV), via `pulumi stack output`."""
    cli = shutil.which("pulumi")
    if cli is None:
        raise ToolMissingError(f"the Pulumi CLI is not on PATH — fix: {PULUMI_INSTALL_HINT}, or pass --shards")
    done = subprocess.run([cli, "stack", "output", "--json", "--stack", aws_stack], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise EngineError(f"`pulumi stack output --stack {aws_stack}` failed: {done.stderr.strip()[-400:]} — fix: "
                          "log in to the platform's state backend (`pulumi login`), or pass --shards")
    try:
        outputs = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        raise EngineError(f"`pulumi stack output --json --stack {aws_stack}` printed no JSON — fix: pass --shards") \
            from None
    return shard_count(outputs.get("tenant_shards") if isinstance(outputs, dict) else None, aws_stack)


def platform_stack(environment_stack: str, project: str, shards: int | None = None) -> str:
    """The fully qualified tenants stack holding `project` in the environment `environment_stack` names; the
    shard count from `shards`, else read live from the environment's aws-layer stack."""
    if not re.fullmatch(DNS_LABEL, project):
        raise UsageError(f"--project {project!r}: not a project name (a DNS label: lowercase letters, digits and "
                         "'-', starting with a letter) — fix: pass the project's slug, its `project_slug` answer")
    try:
        aws_stack = aws_layer_stack(environment_stack)
        return project_platform_stack(environment_stack, project, shards or live_shard_count(aws_stack))
    except ValueError as exc:
        raise UsageError(f"{exc} — fix: pass the project's `platformStack` config (ORG/mlops-platform/ENV) and a "
                         "shard count the platform has") from None
