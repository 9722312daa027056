"""Fixtures of the policies in `mlops_platform.policy.rules.trust`."""

from __future__ import annotations

from typing import Any

from policy_plans import ACCOUNT, REGION, Add, U, doc, res

from policy_cases._base import DEFERRED, Case, fail, ok, on, u

FLOW_ROLE = on("aws:iam/role:Role", "flow-logs-role")
NODE_ROLE = on("aws:iam/role:Role", "node-role")
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"


def flow_log_role(condition: Any = None) -> Add:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole"}
    if condition is not None:
        stmt["Condition"] = condition
    return Add(res("aws:iam/role:Role", "flow-logs-role", {"assumeRolePolicy": doc(stmt), "tags": {}}))


def attach(role: str, arn: Any) -> Add:
    return Add(res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{role}-cni",
                   {"role": role, "policyArn": arn}, [role]))


CNI_ROLE = Add(res("aws:iam/role:Role", "cni-role", {"tags": {}, "assumeRolePolicy": doc({
    "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/x"},
    "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"x:sub": "system:serviceaccount:"
                                                                              "kube-system:aws-node"}}})}))

CASES: dict[str, Case] = {
    "service-trust-confused-deputy": Case(
        passing=(ok(), ok(flow_log_role({"StringEquals": {"aws:SourceAccount": ACCOUNT}})),
                 ok(flow_log_role({"ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}}))),
        failing=(fail(FLOW_ROLE, flow_log_role()),
                 fail(FLOW_ROLE, flow_log_role({"Bool": {"aws:SecureTransport": "true"}})),
                 fail(FLOW_ROLE, flow_log_role({"StringEquals": {"aws:SourceAccount": []}}))),
        unknown=u(DEFERRED, flow_log_role({"StringEquals": {"aws:SourceAccount": U}}))),
    "node-role-no-cni-policy": Case(
        passing=(ok(), ok(CNI_ROLE, attach("cni-role", CNI_POLICY))),
        failing=(fail(NODE_ROLE, attach("node-role", CNI_POLICY)),),
        unknown=u(DEFERRED, attach("node-role", U))),
}
