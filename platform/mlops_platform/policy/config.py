"""Per-environment policy configuration: enforcement levels and the settings policies read.

One document per environment (see `presets/*.yaml` and `config.schema.json`):

    default: mandatory          # every policy, unless overridden below
    severity: {low: advisory}   # per-severity level
    policies: {eks-private-endpoint: advisory}   # per-policy level (wins over both)
    settings: {max_total_gpus: 48, monthly_budget_usd: 60000, ...}

`config_files.to_pulumi_config()` turns it into the `--policy-pack-config` JSON a real `pulumi preview` takes, and the
offline evaluator sends that same structure through the analyzer's `Configure` call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from mlops_platform.core.strict import StrictNumbers
from mlops_platform.policy.waivers import Waiver

SCHEMA_FILE = Path(__file__).with_name("config.schema.json")
PRESETS = ("dev", "staging", "prod")


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Enforcement(StrEnum):
    ADVISORY = "advisory"  # reported, never blocks
    MANDATORY = "mandatory"  # blocks `pulumi up` and fails `mlplat review`
    DISABLED = "disabled"  # not evaluated (shows in the report header)


class EksSupport(StrEnum):
    STANDARD = "standard"  # only versions in standard support pass
    EXTENDED = "extended"  # extended support (6x control-plane price) also passes


class StackKind(StrEnum):
    """What a reviewed stack is: it decides which environment-level policies apply to it."""

    AUTO = "auto"  # platform when the stack creates an EKS cluster, else project
    PLATFORM = "platform"  # creates an environment: its budget, node pools and GPU cap are judged here
    PROJECT = "project"  # deploys onto a platform environment, whose budget and GPU pools live elsewhere


class _Model(StrictNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class GpuPoolSetting(_Model):
    """A GPU node pool of the platform environment a project deploys onto (from its `gpu_pools` output)."""

    gpu_type: str = Field(min_length=1, description="Value of the pool's mlops.io/gpu-type node label (l4, a10g).")
    gpus_per_node: int = Field(ge=0, description="GPUs of the pool's largest instance type.")
    resources: dict[str, int] | None = Field(
        default=None, description="GPU resources one node advertises (nvidia.com/gpu, nvidia.com/gpu.shared or "
                                  "nvidia.com/mig-<profile> -> count). Unset: gpus_per_node whole GPUs "
                                  "(nvidia.com/gpu).")


class PolicySettings(_Model):
    """Values policies read. Each policy declares the names it uses; a real pack gets them per policy."""

    # Descriptions never restate a default: the schema carries each field's `default`. List defaults are plain
    # values, not factories, so they reach the schema too (pydantic copies them per instance).

    required_tags: list[str] = Field(
        default=["environment", "owner", "cost-center", "managed-by"],
        description="Tags every taggable AWS resource must carry.")
    allowed_registries: list[str] = Field(
        default=["*.dkr.ecr.*.amazonaws.com", "public.ecr.aws"],
        description="Glob patterns of registries (or registry/path prefixes) containers may pull from.")
    max_total_gpus: int | None = Field(
        default=None, ge=0,
        description="Cap on the sum over GPU node groups of max size x GPUs per instance. Unset: the policy is "
                    "not applicable; `mlplat review ENV` takes it from the stack's gpu section.")
    monthly_budget_usd: float | None = Field(
        default=None, gt=0, description="The environment's monthly budget. Unset: taken from the stack.")
    estimated_monthly_p90_usd: float | None = Field(
        default=None, ge=0, description="p90 monthly cost estimate of the environment. Unset: no estimate.")
    min_log_retention_days: int = Field(default=90, ge=1, description="CloudWatch log retention floor.")
    min_backup_retention_days: int = Field(default=7, ge=1, description="RDS backup retention floor.")
    require_rds_deletion_protection: bool = Field(
        default=True, description="RDS instances need deletion protection (the dev preset turns it off).")
    min_serving_replicas: int = Field(default=2, ge=1, description="Replicas of serving Deployments.")
    allow_unauthenticated_inference: bool = Field(
        default=False, description="Inference routes may answer without authentication (the dev preset allows "
                                   "it, like the platform's `serving.auth.allow_unauthenticated_inference`).")
    allow_instant_delivery: bool = Field(
        default=False, description="Serving workloads may ship new versions without a Flagger Canary with "
                                   "analysis (an instant 100 % switch); the dev preset allows it.")
    allow_external_webhooks: bool = Field(
        default=False, description="Flagger Canary webhooks may call external https URLs (DNS names), not only "
                                   "Services of the Canary's namespace (the platform's "
                                   "`serving.delivery.allow_external_webhooks`).")
    metrics_server_url: str = Field(
        default="http://kps-prometheus.monitoring.svc.cluster.local:9090",
        description="The platform Prometheus, the only server a project's Flagger MetricTemplates may query "
                    "(the cluster's `mlops-flagger-metrics` admission policy pins the same address).")
    allow_serving_scale_to_zero: bool = Field(
        default=False, description="Serving autoscalers may scale to zero replicas; the dev preset allows it.")
    eks_log_types: list[str] = Field(
        default=["api", "audit", "authenticator"], description="Control-plane log types that must be enabled.")
    eks_support: EksSupport = Field(
        default=EksSupport.STANDARD,
        description="EKS support window versions must be in: standard, or extended (6x control-plane price).")
    as_of: date | None = Field(
        default=None, description="Date support windows are judged on. Unset: today.")
    wildcard_resource_actions: list[str] = Field(
        default=["ecr:GetAuthorizationToken", "sts:GetCallerIdentity", "*:Describe*", "*:List*", "*:Get*",
                 "kms:ListAliases", "cloudwatch:PutMetricData", "logs:DescribeLogGroups"],
        description="Action patterns allowed on Resource \"*\" (AWS offers no resource-level scope for them).")
    project_label: str = Field(default="mlops.io/project", description="Namespace label marking a project (tenant).")
    stack_kind: StackKind = Field(
        default=StackKind.AUTO,
        description="platform: the stack creates an environment (environment budget and p90 estimate are "
                    "judged here); project: it deploys onto one (those policies do not apply, GPU workloads "
                    "are checked against gpu_pools); auto: platform when the stack has an EKS cluster.")
    gpu_pools: dict[str, GpuPoolSetting] | None = Field(
        default=None,
        description="GPU pools (name -> pool) of the platform environment a project stack deploys onto; "
                    "`mlplat policy config --platform-outputs` fills it from the platform's stack outputs. "
                    "Unset: GPU workloads of a project stack are deferred (pools unknown).")

    @field_validator("required_tags", "eks_log_types")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("entries must be non-empty")
        return value


class PolicyPackConfig(_Model):
    """Enforcement levels and settings of one environment."""

    schema_: str | None = Field(default=None, alias="$schema", description="Editor hint; ignored.")
    default: Enforcement = Field(default=Enforcement.MANDATORY,
                                 description="Level of every policy (mandatory by default: secure by default).")
    severity: dict[Severity, Enforcement] = Field(
        default_factory=dict, description="Level per severity, over `default`.")
    policies: dict[str, Enforcement] = Field(
        default_factory=dict, description="Level per policy name, over `severity`.")
    settings: PolicySettings = Field(default_factory=PolicySettings)
    waivers: list[Waiver] = Field(
        default_factory=list,
        description="Live waivers (stacks/waivers.yaml entries) the real pack honours: a violation a waiver covers "
                    "(its policy, and the resource URN matching its URN or glob) is not reported. `mlplat up` and "
                    "`mlplat policy config ENV` fill it; an expired or malformed waiver is itself a violation. "
                    "The offline review (`mlplat review`) applies the waivers file instead, marking findings waived.")

    def level(self, policy: str, severity: Severity) -> Enforcement:
        """The enforcement level of one policy in this environment."""
        return self.policies.get(policy) or self.severity.get(severity) or self.default

    def with_settings(self, **overrides: Any) -> PolicyPackConfig:
        merged = {**self.settings.model_dump(exclude_unset=True), **overrides}
        return self.model_copy(update={"settings": PolicySettings.model_validate(merged)})


def schema_document() -> dict[str, Any]:
    """JSON schema of the configuration document (committed as config.schema.json)."""
    schema = PolicyPackConfig.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://mlops-platform.dev/schemas/policy-config.schema.json"
    return schema


def schema_text() -> str:
    """config.schema.json as committed (`mlplat policy docs` writes it)."""
    return json.dumps(schema_document(), indent=2, sort_keys=True) + "\n"


@cache
def settings_schema(names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """JSON schemas of the named settings (a policy's `config_schema` in the real pack)."""
    schema = PolicySettings.model_json_schema()
    defs = schema.get("$defs", {})
    return {name: _inline_refs(schema["properties"][name], defs) for name in names}


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    # A policy's config schema stands alone in the engine: no shared $defs to point into.
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node
