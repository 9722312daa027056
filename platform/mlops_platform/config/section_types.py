"""The building blocks of the stack configuration's sections (`config/sections.py`): the formats fields
are checked against, the strict frozen base every section extends, and the named choices (enums).
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from mlops_platform.core.formats import EMAIL
from mlops_platform.core.strict import StrictNumbers

DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
ACCOUNT_ID = r"^\d{12}$"
REGION = r"^[a-z]{2}(-gov)?-[a-z]+-\d$"
IAM_PRINCIPAL_ARN = r"^arn:aws(-[a-z]+)?:iam::\d{12}:(role|user)/[\w+=,.@/-]+$"
TAG_KEY = r"^[\w .:/=+@-]{1,128}$"

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
Email = Annotated[str, Field(pattern=EMAIL)]


def _ipv4_network(value: str) -> str:
    ipaddress.IPv4Network(value, strict=True)  # raises ValueError naming the problem
    return value


Cidr = Annotated[str, AfterValidator(_ipv4_network)]

#: A branch name as `git check-ref-format --branch` accepts it, minus wildcards: the name lands in an IAM
#: `StringLike` subject (`repo:R:ref:refs/heads/<branch>`), where `*`/`?` widen the trust and `:` adds a segment.
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9._/+-]+$")


def _branch_name(value: str) -> str:
    bad = (not _BRANCH_CHARS.match(value) or value.startswith(("-", "/", ".")) or value.endswith(("/", ".", ".lock"))
           or ".." in value or "//" in value or "/." in value)
    if bad:
        raise ValueError(f"{value!r} is not a plain branch name (letters, digits, `._/+-`, no wildcards, no `:`, "
                         "no `..`); name each branch CI may deploy from exactly, e.g. main")
    return value


BranchName = Annotated[str, AfterValidator(_branch_name)]


class _Section(StrictNumbers):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False)


class Tier(StrEnum):
    """Environment tier; tier decides defaults and which rules are strict."""

    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class NetworkMode(StrEnum):
    MANAGED = "managed"  # the platform creates VPC, subnets, NAT, endpoints
    EXISTING = "existing"  # bring your own VPC and subnets


class NatStrategy(StrEnum):
    ONE_PER_AZ = "one_per_az"  # highest availability: an AZ outage never cuts egress elsewhere
    SINGLE = "single"  # cheapest with egress; one AZ is a single point of failure
    NONE = "none"  # no internet egress: needs VPC endpoints for everything nodes pull


class EndpointAccess(StrEnum):
    PRIVATE = "private"
    PUBLIC_AND_PRIVATE = "public_and_private"


class UpgradePolicy(StrEnum):
    """EKS support policy at the end of a version's standard support (EKS `upgradePolicy.supportType`).

    STANDARD: when standard support ends, EKS upgrades the control plane to the next minor on its own
    schedule (node groups, add-ons and charts stay behind until `mlplat upgrade`). EXTENDED: the cluster
    stays on its version for up to 12 more months, billed at the extended-support price (6x the standard
    control-plane hourly price), then is upgraded the same way.
    """

    STANDARD = "STANDARD"
    EXTENDED = "EXTENDED"


class Capacity(StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"


class GpuProvisioner(StrEnum):
    """Who launches GPU nodes: one EKS managed node group per pool scaled by cluster-autoscaler, or Karpenter
    (one NodePool + EC2NodeClass per pool; the system pool stays a managed node group either way)."""

    MANAGED_NODE_GROUPS = "managed_node_groups"
    KARPENTER = "karpenter"


class Consolidation(StrEnum):
    """Karpenter NodePool `disruption.consolidationPolicy` (karpenter.sh/v1): remove only empty nodes, or
    also replace under-used ones (which evicts their pods: a training job restarts from its checkpoint)."""

    WHEN_EMPTY = "WhenEmpty"
    WHEN_EMPTY_OR_UNDERUTILIZED = "WhenEmptyOrUnderutilized"
