"""EKS control plane: private endpoint, secrets encryption, control-plane logs, supported version, access."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from mlops_platform.core.versions import EKS_RELEASES
from mlops_platform.policy.config import EksSupport, PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, cis_eks, resource_policy
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.types import EKS_ADDON, EKS_CLUSTER, NODE_GROUP
from mlops_platform.policy.sdk.values import Defer, as_list, fmt, is_unknown

_EKS_DOCS = "https://docs.aws.amazon.com/eks/latest/userguide"


@resource_policy(
    name="eks-private-endpoint", area=Area.EKS, resource_types=(EKS_CLUSTER,), severity=Severity.HIGH,
    description="The EKS API endpoint is private: no public access, private access on.",
    remediation="Keep `cluster.endpoint_access: private` in the stack file (pulumi: "
                "vpcConfig.endpointPublicAccess=False, endpointPrivateAccess=True). Reach the API through the "
                "VPC (VPN, bastion, SSM). A deliberate public endpoint needs a reviewed waiver.",
    url=f"{_EKS_DOCS}/cluster-endpoint.html", compliance=checkov("CKV_AWS_39", "CKV_AWS_38") + cis_eks("5.4.2"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when either access flag is unknown.",
)
def eks_private_endpoint(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    public, private = res.get("vpcConfig.endpointPublicAccess"), res.get("vpcConfig.endpointPrivateAccess")
    # The provider defaults a missing endpointPublicAccess to true and endpointPrivateAccess to false.
    if is_unknown(public):
        yield Defer("vpcConfig.endpointPublicAccess")
    elif public is not False:
        cidrs = res.get("vpcConfig.publicAccessCidrs") or ["0.0.0.0/0 (default)"]
        yield f"vpcConfig.endpointPublicAccess is {fmt(public)}: the API is reachable from {fmt(cidrs)}"
    if is_unknown(private):
        yield Defer("vpcConfig.endpointPrivateAccess")
    elif private is not True:
        yield f"vpcConfig.endpointPrivateAccess is {fmt(private)}: nodes reach the API over the internet"


@resource_policy(
    name="eks-secrets-encryption", area=Area.EKS, resource_types=(EKS_CLUSTER,), severity=Severity.HIGH,
    description="Kubernetes secrets are envelope-encrypted with a customer-managed KMS key.",
    remediation="Set encryptionConfig {resources: [\"secrets\"], provider.keyArn: <KMS key ARN with rotation>}; "
                "the platform's Cluster component does this with its own key.",
    url=f"{_EKS_DOCS}/enable-kms.html", compliance=checkov("CKV_AWS_58") + cis_eks("5.3.1"),
    on_unknown=OnUnknown.PASS, unknown_note="An unknown keyArn (a key created in the same update) passes.",
)
def eks_secrets_encryption(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    resources = res.get("encryptionConfig.resources")
    if is_unknown(resources):
        yield Defer("encryptionConfig.resources")
        return
    if "secrets" not in as_list(resources):
        yield f"encryptionConfig.resources is {fmt(resources)}: secrets are not envelope-encrypted"
        return
    key = res.get("encryptionConfig.provider.keyArn")
    if not is_unknown(key) and not key:
        yield "encryptionConfig.provider.keyArn is empty"


@resource_policy(
    name="eks-control-plane-logging", area=Area.EKS, resource_types=(EKS_CLUSTER,), severity=Severity.MEDIUM,
    description="Control-plane audit, API and authenticator logs go to CloudWatch.",
    remediation="Set enabledClusterLogTypes to include the configured types (default api, audit, "
                "authenticator); the log group retention is checked by logs-retention.",
    url=f"{_EKS_DOCS}/control-plane-logs.html", compliance=checkov("CKV_AWS_37") + cis_eks("2.1.1"),
    settings=("eks_log_types",), on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the list is unknown.",
)
def eks_control_plane_logging(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    enabled = res.get("enabledClusterLogTypes")
    if is_unknown(enabled):
        yield Defer("enabledClusterLogTypes")
        return
    missing = [t for t in settings.eks_log_types if t not in as_list(enabled)]
    if missing:
        yield f"enabledClusterLogTypes lacks {fmt(missing)} (has {fmt(as_list(enabled))})"


def _support_end(version: str, support: EksSupport) -> date | None:
    release = EKS_RELEASES.get(version)
    if release is None:
        return None
    if support is EksSupport.EXTENDED:
        return release.end_of_extended_support
    return release.end_of_standard_support


@resource_policy(
    name="eks-supported-version", area=Area.EKS, resource_types=(EKS_CLUSTER,), severity=Severity.MEDIUM,
    description="The Kubernetes version is pinned and inside its EKS support window.",
    remediation="Pin `cluster.version` to a release listed in mlops_platform/core/versions.py that is still in "
                "standard support, and upgrade one minor version at a time before support ends.",
    url=f"{_EKS_DOCS}/kubernetes-versions.html", compliance=checkov("CKV_AWS_339"),
    settings=("eks_support", "as_of"), on_unknown=OnUnknown.DEFER, unknown_note="Deferred when version is unknown.",
)
def eks_supported_version(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    version = res.get("version")
    if is_unknown(version):
        yield Defer("version")
        return
    if not version:
        yield "version is not pinned: EKS picks the newest release and upgrades surprise the node groups"
        return
    end = _support_end(str(version), settings.eks_support)
    today = settings.as_of or date.today()
    if end is None:
        yield f"version {fmt(version)} is not a release the platform supports ({', '.join(EKS_RELEASES)})"
    elif today > end:
        yield f"version {fmt(version)} left {settings.eks_support.value} support on {end.isoformat()}"


@resource_policy(
    name="eks-access-entries", area=Area.EKS, resource_types=(EKS_CLUSTER,), severity=Severity.MEDIUM,
    description="Cluster access is managed by EKS access entries; the creator is not an implicit admin.",
    remediation="Set accessConfig {authenticationMode: \"API\", bootstrapClusterCreatorAdminPermissions: false} "
                "and grant admins through access entries (`cluster.admin_principal_arns`).",
    url=f"{_EKS_DOCS}/access-entries.html", compliance=cis_eks("5.5.1"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when either accessConfig value is unknown.",
)
def eks_access_entries(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    mode = res.get("accessConfig.authenticationMode")
    bootstrap = res.get("accessConfig.bootstrapClusterCreatorAdminPermissions")
    if is_unknown(mode) or is_unknown(bootstrap):
        yield Defer("accessConfig")
        return
    if mode != "API":
        yield f"accessConfig.authenticationMode is {fmt(mode)}: the aws-auth ConfigMap can still grant access"
    if bootstrap is not False:
        yield "accessConfig.bootstrapClusterCreatorAdminPermissions is not false: the deployer becomes cluster-admin"


@resource_policy(
    name="eks-versions-pinned", area=Area.EKS, resource_types=(NODE_GROUP, EKS_ADDON), severity=Severity.MEDIUM,
    description="Node groups pin their Kubernetes version and EKS add-ons their add-on version.",
    remediation="Set the node group's `version` (the cluster's minor; the platform also pins the AMI "
                "`releaseVersion`) and the add-on's `addonVersion` from mlops_platform/core/versions.py "
                "VERSION_MATRIX; move them with `mlplat upgrade ENV --to X.Y`, never by drift.",
    url=f"{_EKS_DOCS}/update-cluster.html",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the version is unknown.",
)
def eks_versions_pinned(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    # Unpinned, a node group takes the control plane's version when created and an add-on EKS's default:
    # the next control-plane upgrade or add-on release then changes nodes and add-ons outside any review.
    field = "addonVersion" if res.type == EKS_ADDON else "version"
    value = res.get(field)
    if is_unknown(value):
        yield Defer(field)
    elif not value:
        yield f"{field} is not pinned: it follows whatever EKS picks at creation and drifts from the matrix"
