"""Worker nodes: launch templates (IMDSv2, hop limit, encrypted disks, no public IP), node groups, SSH."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, cis_eks, resource_policy
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.types import LAUNCH_TEMPLATE, NODE_GROUP, SECURITY_GROUP, SG_INGRESS_RULE, SG_RULE
from mlops_platform.policy.sdk.values import Defer, as_int, as_list, fmt, is_true, is_unknown
from mlops_platform.policy.value_policy import value_policy

_EC2_DOCS = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide"
_OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})


@resource_policy(
    name="lt-imdsv2-required", area=Area.NODES, resource_types=(LAUNCH_TEMPLATE,), severity=Severity.HIGH,
    description="Instances require IMDSv2 session tokens (no IMDSv1).",
    remediation="Set metadataOptions.httpTokens=\"required\" on the node launch template (the platform's "
                "node pool component does).",
    url=f"{_EC2_DOCS}/configuring-IMDS-new-instances.html", compliance=checkov("CKV_AWS_79") + cis_eks("3.2.1"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when httpTokens is unknown.",
)
def lt_imdsv2_required(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    tokens, endpoint = res.get("metadataOptions.httpTokens"), res.get("metadataOptions.httpEndpoint")
    if is_unknown(tokens) or is_unknown(endpoint):
        yield Defer("metadataOptions")
    elif endpoint != "disabled" and tokens != "required":
        yield f"metadataOptions.httpTokens is {fmt(tokens)}: IMDSv1 lets any SSRF read node credentials"


value_policy(
    name="lt-imds-hop-limit", area=Area.NODES, resource_types=(LAUNCH_TEMPLATE,), severity=Severity.HIGH,
    description="The IMDS response hop limit is 1, so pods cannot borrow the node's IAM role.",
    remediation="Set metadataOptions.httpPutResponseHopLimit=1 explicitly (AL2023 AMIs default to 2); pods get "
                "AWS access through IRSA instead.",
    url=f"{_EC2_DOCS}/configuring-IMDS-new-instances.html", compliance=checkov("CKV_AWS_341"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the hop limit is unknown.",
    path="metadataOptions.httpPutResponseHopLimit", expected=1, problem=": containers can reach node credentials",
)


@resource_policy(
    name="lt-encrypted-volumes", area=Area.NODES, resource_types=(LAUNCH_TEMPLATE,), severity=Severity.HIGH,
    description="Every EBS volume of the node launch template is encrypted.",
    remediation="Declare the root volume in blockDeviceMappings with ebs {encrypted: \"true\", volumeType: "
                "\"gp3\", kmsKeyId: <key>} instead of relying on the AMI or the account default.",
    url=f"{_EC2_DOCS}/ebs-encryption.html", compliance=checkov("CKV_AWS_8", "CKV_AWS_3", "CKV_AWS_189"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when a mapping's encrypted flag is unknown.",
)
def lt_encrypted_volumes(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    mappings = res.get("blockDeviceMappings")
    if is_unknown(mappings):
        yield Defer("blockDeviceMappings")
        return
    if not mappings:
        yield "blockDeviceMappings is empty: the root volume's encryption depends on the AMI and account default"
    for i, mapping in enumerate(as_list(mappings)):
        encrypted = mapping.get("ebs", {}).get("encrypted") if isinstance(mapping, dict) else None
        if is_unknown(encrypted):
            yield Defer(f"blockDeviceMappings.{i}.ebs.encrypted")
        elif not is_true(encrypted) and not (isinstance(mapping, dict) and mapping.get("noDevice")):
            yield f"blockDeviceMappings[{i}] ({fmt(mapping.get('deviceName'))}) is not encrypted"


@resource_policy(
    name="lt-no-public-ip", area=Area.NODES, resource_types=(LAUNCH_TEMPLATE,), severity=Severity.HIGH,
    description="Nodes get no public IP address; they live in private subnets.",
    remediation="Remove associatePublicIpAddress (or set it to \"false\") in networkInterfaces; egress goes "
                "through NAT or VPC endpoints.",
    url=f"{_EC2_DOCS}/using-instance-addressing.html", compliance=checkov("CKV_AWS_88"),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the flag is unknown.",
)
def lt_no_public_ip(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    interfaces = res.get("networkInterfaces")
    if is_unknown(interfaces):
        yield Defer("networkInterfaces")
        return
    for i, nic in enumerate(as_list(interfaces)):
        flag = nic.get("associatePublicIpAddress") if isinstance(nic, dict) else None
        if is_unknown(flag):
            yield Defer(f"networkInterfaces.{i}.associatePublicIpAddress")
        elif is_true(flag):
            yield f"networkInterfaces[{i}].associatePublicIpAddress is {fmt(flag)}"


@resource_policy(
    name="nodegroup-launch-template", area=Area.NODES, resource_types=(NODE_GROUP,), severity=Severity.MEDIUM,
    description="Managed node groups use a launch template, so node hardening is explicit and reviewed.",
    remediation="Give the node group launchTemplate {id, version} of a hardened template (IMDSv2, hop limit 1, "
                "encrypted gp3 root volume) instead of diskSize/remoteAccess defaults.",
    url="https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html",
    on_unknown=OnUnknown.PASS, unknown_note="An unknown template id (created in the same update) passes.",
)
def nodegroup_launch_template(res: Res, _: PolicySettings) -> Iterator[str]:
    template = res.get("launchTemplate")
    refs = [template.get(k) for k in ("id", "name")] if isinstance(template, dict) else []
    if template is None or (isinstance(template, dict) and not any(is_unknown(r) or r for r in refs)):
        yield "launchTemplate is not set: nodes run EKS's default template (IMDS hop limit 2, no explicit encryption)"


@resource_policy(
    name="nodegroup-no-open-ssh", area=Area.NODES, resource_types=(NODE_GROUP,), severity=Severity.HIGH,
    description="Node groups allow no SSH remote access from anywhere.",
    remediation="Drop remoteAccess (use SSM Session Manager), or restrict it with sourceSecurityGroupIds.",
    url="https://docs.aws.amazon.com/eks/latest/APIReference/API_RemoteAccessConfig.html",
    compliance=checkov("CKV_AWS_100"), on_unknown=OnUnknown.PASS,
    unknown_note="Unknown source security group ids (created in the same update) count as a restriction.",
)
def nodegroup_no_open_ssh(res: Res, _: PolicySettings) -> Iterator[str]:
    remote = res.get("remoteAccess")
    if not isinstance(remote, dict):
        return
    key, groups = remote.get("ec2SshKey"), remote.get("sourceSecurityGroupIds")
    if (is_unknown(key) or key) and not is_unknown(groups) and not groups:
        yield f"remoteAccess.ec2SshKey {fmt(remote.get('ec2SshKey'))} without sourceSecurityGroupIds opens " \
              "port 22 to 0.0.0.0/0"


def _covers_ssh(protocol: Any, from_port: Any, to_port: Any) -> bool:
    if str(protocol) in ("-1", "all"):
        return True
    low, high = as_int(from_port), as_int(to_port)
    return str(protocol) in ("tcp", "6") and low is not None and high is not None and low <= 22 <= high


def _open_ingress(res: Res) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, rule) for each ingress rule of any of the three security-group rule shapes."""
    if res.type == SECURITY_GROUP:
        for i, rule in enumerate(as_list(res.get("ingress"))):
            if isinstance(rule, dict):
                yield f"ingress[{i}]", {**rule, "cidrs": as_list(rule.get("cidrBlocks")) +
                                        as_list(rule.get("ipv6CidrBlocks"))}
    elif res.type == SG_RULE and res.get("type") == "ingress":
        yield "rule", {**res.props, "cidrs": as_list(res.get("cidrBlocks")) + as_list(res.get("ipv6CidrBlocks"))}
    elif res.type == SG_INGRESS_RULE:
        yield "rule", {**res.props, "protocol": res.get("ipProtocol"),
                       "cidrs": [c for c in (res.get("cidrIpv4"), res.get("cidrIpv6")) if c]}


@resource_policy(
    name="sg-no-open-ssh", area=Area.NODES, resource_types=(SECURITY_GROUP, SG_RULE, SG_INGRESS_RULE),
    severity=Severity.HIGH, description="No security group admits SSH (port 22) from 0.0.0.0/0 or ::/0.",
    remediation="Remove the rule; reach nodes with SSM Session Manager, or admit SSH only from a bastion's "
                "security group.",
    url="https://docs.aws.amazon.com/vpc/latest/userguide/vpc-security-group-rules.html",
    compliance=checkov("CKV_AWS_24"), on_unknown=OnUnknown.PASS,
    unknown_note="Unknown CIDRs or ports are not the literal world-open CIDR; they pass.",
)
def sg_no_open_ssh(res: Res, _: PolicySettings) -> Iterator[str]:
    for label, rule in _open_ingress(res):
        open_cidrs = [c for c in rule["cidrs"] if c in _OPEN_CIDRS]
        if open_cidrs and _covers_ssh(rule.get("protocol"), rule.get("fromPort"), rule.get("toPort")):
            yield f"{label} admits port 22 from {fmt(open_cidrs)}"
