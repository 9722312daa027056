"""Who may assume a role on a service's behalf, and what the node role may do.

- A service that assumes a role *for a resource* (a VPC flow log, …) can be pointed at that role by
  any account's resource unless the trust names the account or resource (confused deputy).
- The node role is reachable from every pod that reaches the instance profile; the VPC CNI's rights
  (create, attach and delete ENIs, assign IPs) belong on the CNI's own IRSA or Pod Identity role.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy, stack_policy
from mlops_platform.policy.rules.irsa import role_policy_links
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res, StackView
from mlops_platform.policy.sdk.iam import Statement, trust_findings, trust_statements
from mlops_platform.policy.sdk.values import Defer, Violation, as_list, fmt, is_unknown

#: Service principals that act for a resource of a caller's choosing (they need a confused-deputy
#: condition); docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html.
RESOURCE_ACTING_SERVICES = ("vpc-flow-logs.amazonaws.com", "delivery.logs.amazonaws.com",
                            "cloudtrail.amazonaws.com", "config.amazonaws.com", "sns.amazonaws.com")
_SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID", "aws:SourceOrgPaths")
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
_NODE_SERVICE = "ec2.amazonaws.com"


def _services(stmt: Statement) -> tuple[str, ...]:
    return tuple(str(s) for s in stmt.principals.get("Service", ()))


def _deputy_problems(stmt: Statement) -> Iterator[str | Defer]:
    services = [s for s in _services(stmt) if s in RESOURCE_ACTING_SERVICES]
    if not stmt.allows or not services:
        return
    tests = [v for key in _SOURCE_KEYS for _, v in stmt.condition_values(key)]
    if any(is_unknown(v) for v in tests):
        yield Defer("assumeRolePolicy.Condition")
    elif not [v for v in tests if as_list(v)]:
        yield (f"{stmt.label()} lets {fmt(services)} assume the role with no aws:SourceAccount / aws:SourceArn "
               "condition: any account's resource can use it")


@resource_policy(
    name="service-trust-confused-deputy", area=Area.IAM, resource_types=(t.IAM_ROLE,), severity=Severity.HIGH,
    description="Roles that services assume on behalf of a resource (VPC flow logs, log delivery, …) trust them "
                "only for this account's resources (aws:SourceAccount / aws:SourceArn).",
    remediation="Add Condition {\"StringEquals\": {\"aws:SourceAccount\": \"<account>\"}, \"ArnLike\": "
                "{\"aws:SourceArn\": \"arn:aws:ec2:<region>:<account>:vpc-flow-log/*\"}} to the trust statement "
                "(`iam.service_trust(..., source_account=, source_arn=)`).",
    url="https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the trust document or its source condition is unknown.",
)
def service_trust_confused_deputy(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    yield from trust_findings(res, _deputy_problems)


def _node_roles(stack: StackView) -> Iterator[Res | Defer]:
    for role in stack.of_type(t.IAM_ROLE):
        stmts = list(trust_statements(role, role.urn))
        deferred = [s for s in stmts if isinstance(s, Defer)]
        if deferred:
            yield from deferred
        elif any(_NODE_SERVICE in _services(s) for s in stmts if isinstance(s, Statement)):
            yield role


@stack_policy(
    name="node-role-no-cni-policy", area=Area.NODES,
    resource_types=(t.IAM_ROLE, t.IAM_ROLE_POLICY_ATTACHMENT), severity=Severity.HIGH,
    description="The node role does not hold AmazonEKS_CNI_Policy: the VPC CNI has its own IRSA or Pod "
                "Identity role, so pods that reach the instance profile cannot manage ENIs and IPs.",
    remediation="Give the vpc-cni add-on a service_account_role_arn (IRSA role trusting kube-system:aws-node "
                "with AmazonEKS_CNI_Policy) and detach the policy from the node role.",
    url="https://docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when a node role's trust or an attachment's ARN is unknown.",
)
def node_role_no_cni_policy(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    links = role_policy_links(stack)
    for role in _node_roles(stack):
        if isinstance(role, Defer):
            yield role
            continue
        arns = [(f"attachment {a.name!r}", a.get("policyArn")) for a in links.attached.of(role)]
        arns += [("managedPolicyArns", arn) for arn in as_list(role.get("managedPolicyArns"))]
        for where, arn in arns:
            if is_unknown(arn):
                yield Defer(where, role.urn)
            elif arn == CNI_POLICY:
                yield Violation(f"node role {role.name!r} holds AmazonEKS_CNI_Policy ({where}): every pod that "
                                "reaches the instance profile can manage the VPC's ENIs", role.urn)
