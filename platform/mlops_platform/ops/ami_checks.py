"""Preflight: the node groups' pinned AMI release (core/versions.py VERSION_MATRIX `node_release`) is published for
the cluster minor in this region.

EKS accepts a node group `releaseVersion` only when that EKS-optimized AMI release exists for the group's
Kubernetes version and AMI type (CreateNodegroup/UpdateNodegroupVersion fail otherwise). AWS publishes the
newest release per minor and AMI type as the public SSM parameter
`/aws/service/eks/optimized-ami/<minor>/<ami-path>/recommended/release_version`
(https://docs.aws.amazon.com/eks/latest/userguide/retrieve-ami-id.html). From it:
- no parameter: that minor / AMI type is not published in the region — fail;
- the pinned release is newer than the newest published one (a release rolls out region by region) — fail;
- same release date but another kubelet patch: the pinned release does not exist — fail;
- an older pinned release still launches (only the newest is named here, so it is reported, not proven).

Bottlerocket node groups pin a release whose own parameter
`/aws/service/bottlerocket/aws-k8s-<minor>[-nvidia]/<arch>/<release>/image_version` the aws layer reads
(versions.bottlerocket_release_parameter): it must be published in the region, or the plan fails there.
A live Bottlerocket group on another release is rolled by the next `up` (UpdateNodegroupVersion replaces every
node), and one on a newer release would be asked to go back: `check_bottlerocket_rolls` says which, before `up`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops_platform.core import contract
from mlops_platform.core.versions import BOTTLEROCKET_SSM_ARCH, bottlerocket_release_parameter, node_release_version
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code
from mlops_platform.ops.checks import CheckResult, Status
from mlops_platform.ops.live_checks import live_cluster, live_groups
from mlops_platform.ops.upgrade import control_plane_command, managed_groups, nodegroup_command

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: EKS AMI type → the path segment of its public SSM parameters (retrieve-ami-id.html lists them).
AMI_PATHS = {
    "AL2023_x86_64_STANDARD": "amazon-linux-2023/x86_64/standard",
    "AL2023_ARM_64_STANDARD": "amazon-linux-2023/arm64/standard",
    "AL2023_x86_64_NVIDIA": "amazon-linux-2023/x86_64/nvidia",
    "AL2023_ARM_64_NVIDIA": "amazon-linux-2023/arm64/nvidia",
    "AL2023_x86_64_NEURON": "amazon-linux-2023/x86_64/neuron",
}


def parameter_name(version: str, ami_type: str) -> str:
    return f"/aws/service/eks/optimized-ami/{version}/{AMI_PATHS[ami_type]}/recommended/release_version"


def _parts(release: str) -> tuple[str, str]:
    """`1.34.9-20260714` → (kubelet `1.34.9`, date `20260714`)."""
    kubelet, _, day = release.partition("-")
    return kubelet, day


def release_result(name: str, pinned: str, published: str | None, where: str) -> CheckResult:
    """Pure: the pinned release against the newest published one (None: no parameter)."""
    fix = "pin a published release in core/versions.py VERSION_MATRIX (node_release), or pick another region"
    if published is None:
        return CheckResult(name, Status.FAIL, f"no EKS-optimized AMI is published for {where}", fix)
    (kubelet, day), (new_kubelet, new_day) = _parts(pinned), _parts(published)
    if pinned == published:
        return CheckResult(name, Status.PASS, f"{pinned} is the newest release for {where}")
    if day > new_day:
        return CheckResult(name, Status.FAIL, f"pinned release {pinned} is newer than the newest published for "
                                              f"{where} ({published}): not rolled out to this region yet", fix)
    if day == new_day:
        return CheckResult(name, Status.FAIL, f"pinned release {pinned} does not exist for {where}: release "
                                              f"{day} ships kubelet {new_kubelet}, not {kubelet}",
                           f"pin {published} in core/versions.py VERSION_MATRIX (node_release)")
    return CheckResult(name, Status.PASS, f"{pinned} is an older release for {where} (newest: {published}; "
                                          "bump VERSION_MATRIX node_release to move the nodes)")


def _published(aws: Aws, parameter: str) -> str | None:
    try:
        return str(aws.ssm_public.get_parameter(Name=parameter)["Parameter"]["Value"])
    except AwsFailure as exc:
        if error_code(exc) != "ParameterNotFound":
            raise
        return None


def bottlerocket_result(name: str, parameter: str, published: str | None, where: str) -> CheckResult:
    """Pure: the pinned Bottlerocket release's parameter, published (its value) or not (None)."""
    if published is None:
        return CheckResult(name, Status.FAIL, f"{parameter} is not published for {where}: the pinned Bottlerocket "
                                              "release is not available there",
                           "pin a published release in core/versions.py BOTTLEROCKET_NVIDIA_RELEASES, or use an "
                           "AL2023 AMI type")
    return CheckResult(name, Status.PASS, f"node groups pin release {published} for {where}")


def _pinned(version: str, ami_type: str) -> tuple[str, str] | None:
    """(check name, parameter) of a pinned AMI type; None when the type is not pinned here."""
    if ami_type in AMI_PATHS and node_release_version(version, ami_type) is not None:
        return f"ami {AMI_PATHS[ami_type].split('/', 1)[1]}", parameter_name(version, ami_type)
    parameter = bottlerocket_release_parameter(version, ami_type)
    if parameter is None:
        return None
    kind = "nvidia" if ami_type.endswith("_NVIDIA") else "standard"
    return f"ami bottlerocket {BOTTLEROCKET_SSM_ARCH[ami_type]}/{kind}", parameter


def check_ami_releases(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """One result per pinned AMI type of the node pools."""
    version = cfg.cluster.version
    ami_types = sorted({cfg.node_pools.system.ami_type, *(p.ami_type for p in cfg.node_pools.gpu)})
    for ami_type in ami_types:
        pinned = _pinned(version, ami_type)
        if pinned is None:
            continue  # Karpenter-only or unpinnable types are refused by config validation
        name, parameter = pinned
        try:
            published = _published(aws, parameter)
        except AwsFailure as exc:
            yield CheckResult(name, Status.WARN, f"could not read {parameter} ({describe(exc)}): the pinned release "
                                                 "is unchecked",
                              f"allow ssm:GetParameter on it, or check with `aws ssm get-parameter --name {parameter} "
                              f"--region {cfg.environment.region}` before `up`")
            continue
        where = f"Kubernetes {version} {ami_type} in {cfg.environment.region}"
        release = node_release_version(version, ami_type)
        yield release_result(name, release, published, where) if release else \
            bottlerocket_result(name, parameter, published, where)


def _release_key(release: str) -> tuple[int, ...]:
    """`1.62.0-0a1b2c3d` → (1, 62, 0): a Bottlerocket release's number (the build commit does not order)."""
    number = release.partition("-")[0]
    return tuple(int(part) for part in number.split(".") if part.isdigit())


def roll_result(group: str, live: str, pinned: str) -> CheckResult:
    """Pure: a live Bottlerocket node group's `releaseVersion` against the pinned parameter's value."""
    name = f"bottlerocket release {group}"
    if live == pinned:
        return CheckResult(name, Status.PASS, f"{group} runs the pinned release {pinned}")
    if _release_key(live) > _release_key(pinned):
        return CheckResult(name, Status.FAIL, f"{group} runs {live}, newer than the pinned {pinned}: `up` would "
                                              "ask EKS to downgrade its nodes",
                           f"bump the matrix release in core/versions.py BOTTLEROCKET_NVIDIA_RELEASES to "
                           f"{live.partition('-')[0]} (or newer), then rerun")
    return CheckResult(name, Status.WARN, f"up will roll {group}: {live} → {pinned} (UpdateNodegroupVersion "
                                          "replaces every node of the group)",
                       "expected once after the platform upgrade that pins Bottlerocket releases, or after a "
                       "matrix bump; run `up` when the group's GPU jobs can be drained")


def minor_result(group: str, live: str, wanted: str, commands: str) -> CheckResult | None:
    """Pure: a live Bottlerocket group on another minor than the stack's. `up` would send only the version
    (hashicorp/terraform-provider-aws#40902, ops/upgrade.py), EKS would pick that minor's newest release, and the
    next `up` would roll the nodes again back to the pin; `commands` move minor and pin in one update."""
    if not live or live == wanted:
        return None
    return CheckResult(f"bottlerocket minor {group}", Status.WARN,
                       f"{group} runs Kubernetes {live}, the stack pins {wanted}: `up` would move it without its "
                       "pinned release (the provider sends only the version), and the next `up` would roll it again",
                       f"before `up`, run: {commands}")


def check_bottlerocket_rolls(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Per live Bottlerocket node group of a configured pool whose release is pinned: its release against the
    pin, and its minor against the stack's."""
    if live_cluster(cfg, aws) is None:
        return
    wanted = cfg.cluster.version
    pools = {p.name: p for p in managed_groups(cfg)}  # with Karpenter, `up` deletes the GPU groups: no roll
    values: dict[str, str | None] = {}  # one read per parameter, however many groups pin it
    for group in live_groups(cfg, aws):
        pool = pools.get((group.get("labels") or {}).get(contract.POOL_LABEL, ""))
        parameter = None if pool is None else bottlerocket_release_parameter(wanted, pool.ami_type)
        if pool is None or parameter is None or not group.get("releaseVersion"):
            continue
        name = str(group.get("nodegroupName", ""))
        moved = minor_result(name, str(group.get("version") or ""), wanted,
                             f"{control_plane_command(cfg, wanted)} (unless it runs {wanted} already); "
                             f"{nodegroup_command(cfg, pool, wanted)}")
        if moved is not None:
            yield moved
        if parameter not in values:
            values[parameter] = _published(aws, parameter)
        pinned = values[parameter]
        if pinned is not None:  # an unpublished pin fails `ami bottlerocket ...` already
            yield roll_result(name, str(group["releaseVersion"]), pinned)
