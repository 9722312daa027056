"""`mlplat preflight ENV`: the checks that stop a deploy before it fails half-way.

Each check is a small function returning `CheckResult`s (pass / warn / fail, with the fix); AWS errors a
check cannot get past become a failed check naming the missing permission, never a traceback. Only the
credentials being absent stops the run up front (ToolMissingError), since every check needs them.

Pure parts — which AZs an instance type must be offered in, the vCPUs a pool can claim per quota
bucket — are plain functions tested without AWS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from mlops_platform.config.gpu_provisioning import CAPACITY_TYPES, capacity_types, gpu_limit
from mlops_platform.config.section_types import Capacity
from mlops_platform.config.sections import GpuPoolConfig
from mlops_platform.core import instances
from mlops_platform.core.errors import PreflightError
from mlops_platform.core.instances import QUOTA_CODES, QuotaFamily
from mlops_platform.core.versions import EKS_RELEASES
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code
from mlops_platform.ops.account_checks import (
    check_api_endpoint,
    check_autoscaling_role,
    check_github_oidc,
    check_spot_role,
)
from mlops_platform.ops.ami_checks import check_ami_releases, check_bottlerocket_rolls
from mlops_platform.ops.backend import state_backend
from mlops_platform.ops.capacity_checks import check_capacity_reservations, check_efa_support
from mlops_platform.ops.checks import CheckResult, Status
from mlops_platform.ops.live_checks import check_addon_versions, check_live_version, check_pool_sizes
from mlops_platform.ops.mirror_checks import check_mirror

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig
    from mlops_platform.config.sections import PoolConfig

#: GPU pools must be launchable in at least this many of the configured AZs (capacity is scarce; one AZ
#: is a single point of failure for training restarts and serving). The system pool needs every AZ.
MIN_GPU_AZS = 2


@dataclass(frozen=True)
class PreflightReport:
    env: str
    account_id: str
    region: str
    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.status is not Status.FAIL for r in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.FAIL]

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "account_id": self.account_id, "region": self.region, "passed": self.passed,
                "checks": [{"check": r.check, "status": r.status.value, "detail": r.detail, "fix": r.fix}
                           for r in self.results]}

    def raise_for_failures(self) -> None:
        if not self.passed:
            lines = "\n".join(f"  - {r.check}: {r.detail} — fix: {r.fix}" for r in self.failures)
            raise PreflightError(f"preflight failed for {self.env} ({len(self.failures)} check(s)):\n{lines}")


Check = Callable[["PlatformConfig", Aws], Iterable[CheckResult]]


def run_preflight(cfg: PlatformConfig, aws: Aws | None = None) -> PreflightReport:
    """Run every check and collect all results; never stops at the first failure."""
    aws = aws or Aws(cfg.environment.region)
    aws.require_credentials("mlplat preflight")
    results: list[CheckResult] = []
    for name, check, permissions in CHECKS:
        try:
            results.extend(check(cfg, aws))
        except AwsFailure as exc:
            results.append(CheckResult(name, Status.FAIL, f"AWS call failed: {describe(exc)}",
                                       f"check the endpoint/credentials and allow {', '.join(permissions)}"))
    env = cfg.environment
    return PreflightReport(env.name, env.account_id, env.region, tuple(results))


# --- account guard -------------------------------------------------------------------------------

def check_account(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    identity = aws.sts.get_caller_identity()
    expected, actual = cfg.environment.account_id, identity["Account"]
    if actual == expected:
        yield CheckResult("account", Status.PASS, f"credentials are for account {actual} ({identity['Arn']})")
    else:
        yield CheckResult("account", Status.FAIL,
                          f"credentials are for account {actual}, the {cfg.environment.name} stack deploys "
                          f"to {expected}",
                          f"switch to credentials of account {expected} (AWS_PROFILE), or correct "
                          "environment.account_id if the stack file is wrong")


# --- instance type offerings ---------------------------------------------------------------------

def pools(cfg: PlatformConfig) -> list[tuple[str, PoolConfig, bool]]:
    """(config path, pool, is_gpu) for every node pool."""
    out: list[tuple[str, PoolConfig, bool]] = [("node_pools.system", cfg.node_pools.system, False)]
    out += [(f"node_pools.gpu[{i}]", p, True) for i, p in enumerate(cfg.node_pools.gpu)]
    return out


def required_azs(is_gpu: bool, configured: int) -> int:
    return min(MIN_GPU_AZS, configured) if is_gpu else configured


def _configured_azs(cfg: PlatformConfig, aws: Aws) -> list[str]:
    net = cfg.network
    if net.existing is None:
        return list(net.availability_zones)
    subnets = aws.ec2.describe_subnets(SubnetIds=list(net.existing.private_subnet_ids))["Subnets"]
    return sorted({s["AvailabilityZone"] for s in subnets})


def _offerings(aws: Aws, types: list[str]) -> dict[str, set[str]]:
    offered: dict[str, set[str]] = {t: set() for t in types}
    pages = aws.ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": types}])
    for page in pages:
        for offer in page["InstanceTypeOfferings"]:
            offered[offer["InstanceType"]].add(offer["Location"])
    return offered


def offering_results(cfg: PlatformConfig, azs: list[str], offered: dict[str, set[str]]) -> Iterator[CheckResult]:
    """Pure: one result per pool from the AZs each instance type is offered in."""
    for path, pool, is_gpu in pools(cfg):
        need = required_azs(is_gpu, len(azs))
        short = {t: sorted(set(azs) - offered.get(t, set())) for t in pool.instance_types
                 if len(set(azs) & offered.get(t, set())) < need}
        name = f"offerings {pool.name}"
        if not short:
            yield CheckResult(name, Status.PASS,
                              f"{', '.join(pool.instance_types)} offered in ≥ {need} of {', '.join(azs)}")
            continue
        missing = "; ".join(f"{t} not offered in {', '.join(z)}" for t, z in short.items())
        yield CheckResult(name, Status.FAIL, f"{path}: {missing} (needs ≥ {need} of {len(azs)} AZs)",
                          f"in {path}.instance_types use types offered in your AZs, or pick AZs that offer "
                          f"them (`aws ec2 describe-instance-type-offerings --location-type "
                          f"availability-zone --region {cfg.environment.region}`)")


def check_offerings(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    azs = _configured_azs(cfg, aws)
    types = sorted({t for _, pool, _ in pools(cfg) for t in pool.instance_types})
    yield from offering_results(cfg, azs, _offerings(aws, types))


# --- vCPU quotas ---------------------------------------------------------------------------------

def required_vcpus(cfg: PlatformConfig) -> dict[tuple[QuotaFamily, str], int]:
    """vCPUs every pool at max_size can claim, per (quota family, capacity); a pool counts its largest type.
    A Karpenter GPU pool counts what its GPU limit can come with (`karpenter_vcpus`)."""
    need: dict[tuple[QuotaFamily, str], int] = {}
    for _, pool, is_gpu in pools(cfg):
        claims = karpenter_vcpus(pool) if is_gpu and cfg.karpenter and isinstance(pool, GpuPoolConfig) else {
            (family, pool.capacity.value): pool.max_size * max(
                _type(t).vcpus for t in pool.instance_types if _type(t).quota_family is family)
            for family in {_type(t).quota_family for t in pool.instance_types}}
        for key, vcpus in claims.items():
            need[key] = need.get(key, 0) + vcpus
    return need


def karpenter_vcpus(pool: GpuPoolConfig) -> dict[tuple[QuotaFamily, str], int]:
    """vCPUs a Karpenter pool can claim per (quota family, capacity): its GPU limit spread over the family's type
    with the most vCPUs per GPU, in each capacity it may launch (a spot pool with fallback needs both quotas)."""
    limit = gpu_limit(pool)
    capacities = [Capacity.ON_DEMAND.value if c == CAPACITY_TYPES[Capacity.ON_DEMAND] else Capacity.SPOT.value
                  for c in capacity_types(pool)]
    out: dict[tuple[QuotaFamily, str], int] = {}
    for family in {_type(t).quota_family for t in pool.instance_types}:
        vcpus = max(math.ceil(limit * _type(t).vcpus / _type(t).gpus) for t in pool.instance_types
                    if _type(t).quota_family is family)
        out |= {(family, capacity): vcpus for capacity in capacities}
    return out


def _type(name: str) -> instances.InstanceType:
    found = instances.lookup(name)
    if found is None:  # the stack rules reject unknown types; this guards direct callers
        raise PreflightError(f"instance type {name} is not in the catalog — fix: use one of the catalog types")
    return found


def _quota_value(aws: Aws, code: str) -> float:
    try:
        return float(aws.quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])
    except AwsFailure as exc:
        # An account that never touched a quota has no applied value yet: the AWS default applies.
        if error_code(exc) != "NoSuchResourceException":
            raise
        return float(aws.quotas.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"])


#: Instance families with quotas of their own (not Standard, G/VT or P): never counted against those.
_OTHER_QUOTA_FAMILIES = ("inf", "trn", "dl", "hpc", "mac", "u-", "f", "x")


def quota_family_of(instance_type: str) -> QuotaFamily | None:
    """The vCPU quota bucket an instance type counts against; None for families with quotas of their own."""
    found = instances.lookup(instance_type)
    if found is not None:
        return found.quota_family
    family = instance_type.split(".", 1)[0]
    if family.startswith(("g", "vt")):
        return QuotaFamily.G_VT
    if family.startswith("p"):
        return QuotaFamily.P
    if family.startswith(_OTHER_QUOTA_FAMILIES):
        return None
    return QuotaFamily.STANDARD if family[:1] in "acdhimrtz" else None


def _instance_vcpus(instance: Mapping[str, Any]) -> int:
    found = instances.lookup(str(instance.get("InstanceType", "")))
    if found is not None:
        return found.vcpus
    cpu = instance.get("CpuOptions") or {}
    return int(cpu.get("CoreCount", 0)) * int(cpu.get("ThreadsPerCore", 1))


def _belongs_to(instance: Mapping[str, Any], cluster_name: str) -> bool:
    """Nodes of this environment's own cluster: already inside the pools' max sizes."""
    tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags") or []}
    return tags.get("eks:cluster-name") == cluster_name or f"kubernetes.io/cluster/{cluster_name}" in tags


def vcpus_in_use(instances: Iterable[Mapping[str, Any]], cluster_name: str) -> dict[tuple[QuotaFamily, str], int]:
    """vCPUs that running or pending instances outside this environment hold, per (quota family, capacity)."""
    used: dict[tuple[QuotaFamily, str], int] = {}
    for instance in instances:
        family = quota_family_of(str(instance.get("InstanceType", "")))
        if family is None or _belongs_to(instance, cluster_name):
            continue
        key = (family, "spot" if instance.get("InstanceLifecycle") == "spot" else "on_demand")
        used[key] = used.get(key, 0) + _instance_vcpus(instance)
    return used


def _live_instances(aws: Aws) -> Iterator[Mapping[str, Any]]:
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    for page in aws.ec2.get_paginator("describe_instances").paginate(Filters=filters):  # type: ignore[arg-type]
        for reservation in page.get("Reservations", []):
            yield from reservation.get("Instances", [])


def check_quotas(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Quota minus what other instances in the account and region already hold covers the pools at max."""
    used = vcpus_in_use(_live_instances(aws), cfg.cluster_name)
    for (family, capacity), need in sorted(required_vcpus(cfg).items()):
        code = QUOTA_CODES[(family, capacity)]
        name = f"quota {family.value} {capacity}"
        have, taken = _quota_value(aws, code), used.get((family, capacity), 0)
        held = f", {taken} held by other instances" if taken else ""
        if have - taken >= need:
            yield CheckResult(name, Status.PASS, f"{code}: {have:g} vCPUs{held}; {have - taken:g} free ≥ {need} "
                                                 "needed at max pool sizes")
            continue
        desired = math.ceil(need + taken)
        yield CheckResult(name, Status.FAIL,
                          f"{code}: {have:g} vCPUs{held}; {have - taken:g} free < {need} needed with every "
                          f"{family.value} {capacity} pool at max_size",
                          f"request ≥ {desired} vCPUs: `aws service-quotas request-service-quota-increase "
                          f"--service-code ec2 --quota-code {code} --desired-value {desired} --region "
                          f"{cfg.environment.region}`, or lower the pools' max_size")


# --- EKS version ---------------------------------------------------------------------------------

def _eks_api_status(aws: Aws, version: str) -> str | None:
    """`STANDARD_SUPPORT` / `EXTENDED_SUPPORT` / `UNSUPPORTED` from the EKS API; None when it can't tell."""
    if not hasattr(aws.eks, "describe_cluster_versions"):  # botocore older than the API
        return None
    try:
        found = aws.eks.describe_cluster_versions(clusterVersions=[version], includeAll=True)["clusterVersions"]
    except AwsFailure:
        return None  # endpoint without the API (or no permission): the reviewed table decides
    return str(found[0].get("versionStatus") or "UNSUPPORTED") if found else "UNSUPPORTED"


def table_status(version: str, today: date) -> str:
    """Support status from the reviewed release calendar in `mlops_platform.core.versions`."""
    release = EKS_RELEASES.get(version)
    if release is None or today > release.end_of_extended_support:
        return "UNSUPPORTED"
    return "STANDARD_SUPPORT" if today <= release.end_of_standard_support else "EXTENDED_SUPPORT"


def check_eks_version(cfg: PlatformConfig, aws: Aws, today: date | None = None) -> Iterator[CheckResult]:
    version = cfg.cluster.version
    status = _eks_api_status(aws, version)
    source = "EKS API"
    if status is None:
        status, source = table_status(version, today or datetime.now(UTC).date()), "reviewed table"
    newest = max(EKS_RELEASES, key=lambda v: tuple(int(x) for x in v.split(".")))
    if status == "STANDARD_SUPPORT":
        yield CheckResult("eks version", Status.PASS, f"{version} in standard support ({source})")
    elif status == "EXTENDED_SUPPORT":
        yield CheckResult("eks version", Status.WARN,
                          f"{version} in extended support ({source}): the control plane costs 6× more",
                          f"plan an upgrade: set cluster.version to {newest}")
    else:
        yield CheckResult("eks version", Status.FAIL, f"{version} is not supported by EKS ({source})",
                          f"set cluster.version to a supported version, e.g. {newest}")


# --- state backend -------------------------------------------------------------------------------

def check_state_backend(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    backend = state_backend(cfg)
    fix = f"run `mlplat bootstrap {cfg.environment.name}`"
    try:
        aws.s3.head_bucket(Bucket=backend.bucket)
    except AwsFailure as exc:
        yield CheckResult("state backend", Status.FAIL, f"s3://{backend.bucket}: {error_code(exc)}", fix)
        return
    status = aws.s3.get_bucket_versioning(Bucket=backend.bucket).get("Status")
    if status == "Enabled":
        yield CheckResult("state backend", Status.PASS, f"s3://{backend.bucket} exists and is versioned")
    else:
        yield CheckResult("state backend", Status.FAIL,
                          f"s3://{backend.bucket} versioning is {status or 'off'}: a bad update could not be "
                          "rolled back", fix)


#: (name, check, the IAM actions it needs — named in the fix when AWS refuses).
CHECKS: tuple[tuple[str, Check, tuple[str, ...]], ...] = (
    ("account", check_account, ("sts:GetCallerIdentity",)),
    ("offerings", check_offerings, ("ec2:DescribeInstanceTypeOfferings", "ec2:DescribeSubnets")),
    ("quotas", check_quotas, ("ec2:DescribeInstances", "servicequotas:GetServiceQuota",
                              "servicequotas:GetAWSDefaultServiceQuota")),
    ("eks version", check_eks_version, ("eks:DescribeClusterVersions",)),
    ("state backend", check_state_backend, ("s3:ListBucket", "s3:GetBucketVersioning")),
    ("github oidc provider", check_github_oidc, ("iam:ListOpenIDConnectProviders", "iam:GetOpenIDConnectProvider")),
    ("autoscaling role", check_autoscaling_role, ("iam:GetRole",)),
    ("spot role", check_spot_role, ("iam:GetRole",)),
    ("api endpoint", check_api_endpoint, ("eks:DescribeCluster",)),
    ("cluster version", check_live_version, ("eks:DescribeCluster",)),
    ("node pool sizes", check_pool_sizes, ("eks:ListNodegroups", "eks:DescribeNodegroup")),
    ("addon versions", check_addon_versions, ("eks:DescribeAddonVersions",)),
    ("ami releases", check_ami_releases, ("ssm:GetParameter",)),
    ("bottlerocket releases", check_bottlerocket_rolls, ("eks:DescribeCluster", "eks:ListNodegroups",
                                                         "eks:DescribeNodegroup", "ssm:GetParameter")),
    ("capacity reservations", check_capacity_reservations, ("ec2:DescribeCapacityReservations",
                                                            "ec2:DescribeSubnets")),
    ("efa", check_efa_support, ("ec2:DescribeInstanceTypes",)),
    ("mirror", check_mirror, ("secretsmanager:DescribeSecret", "ecr:DescribeImages")),
)
