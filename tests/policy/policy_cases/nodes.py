"""Fixtures of the policies in `mlops_platform.policy.rules.nodes`."""

from __future__ import annotations

from policy_plans import DROP, Add, Patch, U, res

from policy_cases._base import DEFERRED, LT, PASSES, SYSTEM, Case, fail, ok, on, u

CASES: dict[str, Case] = {
    "lt-imdsv2-required": Case(
        passing=(ok(), ok(Patch("nodes-lt", "metadataOptions", {"httpEndpoint": "disabled"}))),
        failing=(fail(LT, Patch("nodes-lt", "metadataOptions.httpTokens", "optional")),
                 fail(LT, Patch("nodes-lt", "metadataOptions", DROP))),
        unknown=u(DEFERRED, Patch("nodes-lt", "metadataOptions.httpTokens", U))),
    "lt-imds-hop-limit": Case(
        passing=(ok(),), failing=(fail(LT, Patch("nodes-lt", "metadataOptions.httpPutResponseHopLimit", 2)),
                                  fail(LT, Patch("nodes-lt", "metadataOptions.httpPutResponseHopLimit", DROP))),
        unknown=u(DEFERRED, Patch("nodes-lt", "metadataOptions.httpPutResponseHopLimit", U))),
    "lt-encrypted-volumes": Case(
        passing=(ok(), ok(Patch("nodes-lt", "blockDeviceMappings.0.ebs.encrypted", True))),
        failing=(fail(LT, Patch("nodes-lt", "blockDeviceMappings.0.ebs.encrypted", "false")),
                 fail(LT, Patch("nodes-lt", "blockDeviceMappings", DROP))),
        unknown=u(DEFERRED, Patch("nodes-lt", "blockDeviceMappings.0.ebs.encrypted", U))),
    "lt-no-public-ip": Case(
        passing=(ok(), ok(Patch("nodes-lt", "networkInterfaces", [{"associatePublicIpAddress": "false"}]))),
        failing=(fail(LT, Patch("nodes-lt", "networkInterfaces", [{"associatePublicIpAddress": "true"}])),),
        unknown=u(DEFERRED, Patch("nodes-lt", "networkInterfaces", [{"associatePublicIpAddress": U}]))),
    "nodegroup-launch-template": Case(
        passing=(ok(), ok(Patch("system", "launchTemplate.id", U))),
        failing=(fail(SYSTEM, Patch("system", "launchTemplate", DROP)),),
        unknown=u(PASSES, Patch("system", "launchTemplate.id", U))),
    "nodegroup-no-open-ssh": Case(
        passing=(ok(), ok(Patch("system", "remoteAccess", {"ec2SshKey": "ops", "sourceSecurityGroupIds": ["sg-1"]}))),
        failing=(fail(SYSTEM, Patch("system", "remoteAccess", {"ec2SshKey": "ops"})),),
        unknown=u(PASSES, Patch("system", "remoteAccess", {"ec2SshKey": "ops", "sourceSecurityGroupIds": U}))),
    "sg-no-open-ssh": Case(
        passing=(ok(), ok(Add(res("aws:ec2/securityGroupRule:SecurityGroupRule", "bastion-ssh", {
            "type": "ingress", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.0.0/24"]})))),
        failing=(fail(on("aws:ec2/securityGroup:SecurityGroup", "nodes-sg"), Patch("nodes-sg", "ingress", [
            {"protocol": "tcp", "fromPort": 0, "toPort": 1024, "cidrBlocks": ["0.0.0.0/0"]}])),
                 fail(on("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ssh"), Add(res(
                     "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "ssh", {
                         "ipProtocol": "-1", "cidrIpv6": "::/0", "securityGroupId": "sg-1"})))),
        unknown=u(PASSES, Patch("nodes-sg", "ingress", [{"protocol": "tcp", "fromPort": 22, "toPort": 22,
                                                         "cidrBlocks": [U]}]))),
}
