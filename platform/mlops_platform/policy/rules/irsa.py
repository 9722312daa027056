"""IRSA end to end: a role trusted through the cluster's OIDC provider is pinned to one ServiceAccount
(`sub`) and audience (`aud`), is used by exactly that ServiceAccount, and reaches S3 only under prefixes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, checkov, stack_policy
from mlops_platform.policy.rules.iam import permission_documents
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Referrers, Res, StackView
from mlops_platform.policy.sdk.iam import Statement, grants, statements, trust_statements
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_list, fmt, is_unknown

ROLE_ANNOTATION = "eks.amazonaws.com/role-arn"
#: ServiceAccounts EKS add-ons create and bind to their `serviceAccountRoleArn`.
ADDON_SERVICE_ACCOUNTS = {
    "aws-ebs-csi-driver": ("kube-system", "ebs-csi-controller-sa"),
    "aws-efs-csi-driver": ("kube-system", "efs-csi-controller-sa"),
    "vpc-cni": ("kube-system", "aws-node"),
    "amazon-cloudwatch-observability": ("amazon-cloudwatch", "cloudwatch-agent"),
}
_WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
_DOCS = "https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html"
_NOTE = ("Deferred when a trust document is unknown; role references in annotations, RolePolicy and "
         "attachments are resolved by name/ARN, or through the dependency graph while unknown.")
_EXACT_OPS = ("StringEquals", "ForAnyValue:StringEquals")
#: What a policy over a role's permissions must see: the role and every way a policy reaches it.
ROLE_PERMISSION_TYPES = (t.IAM_ROLE, t.IAM_ROLE_POLICY, t.IAM_ROLE_POLICY_ATTACHMENT, t.IAM_POLICY)


@dataclass(frozen=True)
class Trust:
    """The web-identity trust of one IRSA role through an EKS OIDC provider."""

    role: Res
    stmt: Statement
    issuer: str  # oidc.eks.<region>.amazonaws.com/id/<ID>

    def tests(self, claim: str) -> list[tuple[str, Any]]:
        return self.stmt.condition_values(f"{self.issuer}:{claim}")

    def subjects(self) -> list[tuple[str, str]]:
        """(namespace, service account) pinned by exact `sub` tests."""
        out = []
        for op, values in self.tests("sub"):
            for value in as_list(values) if op in _EXACT_OPS else []:
                parts = str(value).split(":")
                if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
                    out.append((parts[2], parts[3]))
        return out


def _issuer(federated: str) -> str | None:
    _, sep, issuer = federated.partition(":oidc-provider/")
    return issuer if sep and issuer.startswith("oidc.eks.") else None


def web_identity_trusts(stack: StackView, issuer_of: Callable[[str], str | None]
                        ) -> Iterator[tuple[Res, Statement, str] | Defer]:
    """(role, statement, issuer) of every trust statement that lets an OIDC provider assume a role with a web
    identity, the issuer being what `issuer_of` makes of a Federated principal (None: not this kind of
    provider); a Defer per role whose trust document is unknown."""
    for role in stack.of_type(t.IAM_ROLE):
        for stmt in trust_statements(role, role.urn):
            if isinstance(stmt, Defer):
                yield stmt
            elif (issuers := [i for f in stmt.principals.get("Federated", ()) if (i := issuer_of(f))]) and \
                    grants(stmt, _WEB_IDENTITY):
                yield role, stmt, issuers[0]


def irsa_trusts(stack: StackView) -> Iterator[Trust | Defer]:
    """Every (role, statement) that trusts an EKS OIDC provider for AssumeRoleWithWebIdentity."""
    for found in web_identity_trusts(stack, _issuer):
        yield found if isinstance(found, Defer) else Trust(*found)


def _trust_problems(trust: Trust) -> Iterator[str]:
    subs, auds = trust.tests("sub"), trust.tests("aud")
    if not subs:
        yield f"trusts {trust.issuer} with no `{trust.issuer}:sub` condition: every pod of the cluster can assume it"
    for op, values in subs:
        loose = [v for v in as_list(values) if op not in _EXACT_OPS or any(ch in str(v) for ch in "*?")]
        if loose:
            yield f"`sub` is tested with {op} {fmt(loose)}: pin exact system:serviceaccount:<ns>:<name> values"
    if not any(op in _EXACT_OPS and as_list(v) == ["sts.amazonaws.com"] for op, v in auds):
        yield f"`aud` is not pinned with StringEquals to sts.amazonaws.com (got {fmt(auds or None)})"
    foreign = [k for tests in trust.stmt.conditions.values() for k in (tests or {})
               if str(k).startswith("oidc.") and not str(k).startswith(f"{trust.issuer}:")]
    if foreign:
        yield f"conditions test another issuer's claims {fmt(foreign)}: they constrain nothing"


@stack_policy(
    name="irsa-trust-pinned", area=Area.IRSA, resource_types=(t.IAM_ROLE,), severity=Severity.CRITICAL,
    description="IRSA roles trust the cluster's OIDC provider only for exact `sub` (one ServiceAccount) and "
                "`aud` = sts.amazonaws.com.",
    remediation="Trust policy condition: StringEquals {\"<issuer>:sub\": \"system:serviceaccount:<ns>:<sa>\", "
                "\"<issuer>:aud\": \"sts.amazonaws.com\"} — mlops_platform.core.iam builds it for project roles.",
    url=_DOCS, compliance=checkov("CKV_AWS_61"), on_unknown=OnUnknown.DEFER, unknown_note=_NOTE,
)
def irsa_trust_pinned(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    for trust in irsa_trusts(stack):
        if isinstance(trust, Defer):
            yield trust
            continue
        for problem in _trust_problems(trust):
            yield Violation(f"role {trust.role.name!r} {problem}", trust.role.urn)


def arn_name(value: Any) -> Any:
    """`arn:aws:iam::1:role/path/name` → `name` (roles and policies are looked up by name)."""
    return value.rsplit("/", 1)[-1] if isinstance(value, str) and value.startswith("arn:") else value


def iam_keys(res: Res) -> tuple[Any, ...]:
    return res.get("name"), res.name, arn_name(res.get("arn"))


def _namespace(stack: StackView, res: Res) -> Any:
    ns = res.get("metadata.namespace")
    if not is_unknown(ns):
        return ns or "default"
    found = stack.dependencies(res, (t.K8S_NAMESPACE,))
    return (found[0].get("metadata.name") or found[0].name) if len(found) == 1 else UNKNOWN


@dataclass(frozen=True)
class Binding:
    """A ServiceAccount, or what creates one (EKS add-on, Helm release), that names an IRSA role."""

    res: Res
    namespace: Any
    name: Any  # None when the creator (a Helm chart, an unknown add-on) names the ServiceAccount
    roles: tuple[Res, ...]


def _helm_role_values(values: Any) -> Iterator[Any]:
    """Values of every `eks.amazonaws.com/role-arn` key inside Helm values (ARNs, or UNKNOWN)."""
    if isinstance(values, dict):
        for key, val in values.items():
            if key == ROLE_ANNOTATION:
                yield val
            else:
                yield from _helm_role_values(val)
    elif isinstance(values, list):
        for val in values:
            yield from _helm_role_values(val)


def bindings(stack: StackView) -> Iterator[Binding | Defer]:
    for sa in stack.of_type(t.K8S_SERVICE_ACCOUNT):
        annotations = sa.get("metadata.annotations")
        if not is_unknown(annotations) and ROLE_ANNOTATION not in (annotations or {}):
            continue
        roles = _annotated_roles(stack, sa)
        ns = _namespace(stack, sa)
        if is_unknown(ns):
            yield Defer("metadata.namespace", sa.urn)
        else:
            yield Binding(sa, ns, sa.get("metadata.name") or sa.name, tuple(roles))
    for addon in stack.of_type(t.EKS_ADDON):
        if addon.get("serviceAccountRoleArn") is not None:
            ns, name = ADDON_SERVICE_ACCOUNTS.get(str(addon.get("addonName")), ("kube-system", None))
            yield Binding(addon, ns, name, tuple(_roles_by_arn(stack, addon, addon.get("serviceAccountRoleArn"))))
    for release in stack.of_type(t.HELM_RELEASE):
        roles = [r for value in _helm_role_values(release.get("values"))
                 for r in _roles_by_arn(stack, release, value)]
        if roles:
            yield Binding(release, release.get("namespace") or "default", None, tuple(roles))


def _annotated_roles(stack: StackView, sa: Res) -> list[Res]:
    annotations = sa.get("metadata.annotations")
    return _roles_by_arn(stack, sa, UNKNOWN if is_unknown(annotations) else annotations.get(ROLE_ANNOTATION))


def _roles_by_arn(stack: StackView, holder: Res, value: Any) -> list[Res]:
    """Roles a role-ARN value names: by name when known, through `holder`'s dependencies when not."""
    probe = Res(holder.urn, holder.type, holder.name, {"arn": value}, deps=holder.deps)
    return stack.resolve(probe, "arn", (t.IAM_ROLE,), iam_keys, name="role-by-arn", normalize=arn_name)


def holds_service_accounts(stack: StackView) -> bool:
    """Whether the stack creates in-cluster ServiceAccounts (directly or through charts). The aws layer's stack
    creates roles whose ServiceAccounts the cluster layer's stack makes (the load balancer controller's): there
    only an EKS add-on's ServiceAccount can be missing, and the whole-environment review judges both sides."""
    return any(stack.of_type(kind) for kind in (t.K8S_SERVICE_ACCOUNT, t.HELM_RELEASE))


_ADDON_SUBJECTS = frozenset(ADDON_SERVICE_ACCOUNTS.values())


def _binding_problems(trusts: list[Trust], found: list[Binding], k8s_side: bool) -> Iterator[str]:
    subjects = sorted({s for tr in trusts for s in tr.subjects()})
    for ns, name in (s for s in subjects if k8s_side or s in _ADDON_SUBJECTS):
        if not any(b.namespace == ns and b.name in (name, None) for b in found):
            yield f"trusts ServiceAccount {ns}/{name} but no ServiceAccount {ns}/{name} in the stack is annotated " \
                  f"with this role"
    for b in found:
        if not any(b.namespace == ns and b.name in (n, None) for ns, n in subjects):
            who = f"{b.namespace}/{b.name}" if b.name else f"{b.res.type.rsplit(':', 1)[-1]} {b.res.name!r}"
            yield f"is annotated on {who}, which its trust does not admit ({fmt([f'{a}/{c}' for a, c in subjects])})" \
                  ": those pods fail AssumeRoleWithWebIdentity"


@stack_policy(
    name="irsa-serviceaccount-binding", area=Area.IRSA,
    resource_types=(t.IAM_ROLE, t.K8S_SERVICE_ACCOUNT, t.K8S_NAMESPACE, t.HELM_RELEASE, t.EKS_ADDON),
    severity=Severity.HIGH,
    description="Each IRSA role is used by exactly the ServiceAccount its `sub` names (annotation "
                "eks.amazonaws.com/role-arn), and no other ServiceAccount claims it.",
    remediation="Annotate the ServiceAccount named in the trust's `sub` with the role ARN, and only that one; "
                "give every workload its own role rather than sharing one.",
    url=_DOCS, on_unknown=OnUnknown.RESOLVE, unknown_note=_NOTE,
)
def irsa_serviceaccount_binding(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    by_role: dict[str, list[Trust]] = {}
    for trust in irsa_trusts(stack):
        if isinstance(trust, Defer):
            yield trust
        else:
            by_role.setdefault(trust.role.urn, []).append(trust)
    found: dict[str, list[Binding]] = {}
    for b in bindings(stack):
        if isinstance(b, Defer):
            yield b
            continue
        for role in b.roles:
            found.setdefault(role.urn, []).append(b)
    k8s_side = holds_service_accounts(stack)
    for urn, trusts in by_role.items():
        for problem in _binding_problems(trusts, found.get(urn, []), k8s_side):
            yield Violation(f"role {trusts[0].role.name!r} {problem}", urn)


_S3_FULL = ("arn:aws:iam::aws:policy/AmazonS3FullAccess", "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")


def _s3_problems(stmt: Statement) -> Iterator[str]:
    if not stmt.not_actions and not any(a == "*" or a.lower().startswith("s3:") for a in stmt.actions):
        return
    for arn in stmt.resources:
        bucket_path = arn.removeprefix("arn:aws:s3:::") if arn.startswith("arn:aws:s3:::") else None
        if arn == "*" or (bucket_path is not None and bucket_path.startswith("*")):
            yield f"{stmt.label()} grants S3 on {arn!r}: every bucket"
        elif bucket_path is not None and "/" in bucket_path and bucket_path.split("/", 1)[1].startswith("*"):
            yield f"{stmt.label()} grants S3 on {arn!r}: the whole bucket, not a prefix"
        elif bucket_path is not None and "/" not in bucket_path and any(
                grants(stmt, a) for a in ("s3:ListBucket", "s3:ListBucketVersions")) \
                and not stmt.condition_values("s3:prefix"):
            yield f"{stmt.label()} lists {arn!r} without an s3:prefix condition"


@dataclass(frozen=True)
class PolicyLinks:
    """RolePolicies and attachments per role, resolved once per policy run."""

    inline: Referrers
    attached: Referrers


def role_policy_links(stack: StackView) -> PolicyLinks:
    return PolicyLinks(
        stack.referrers((t.IAM_ROLE_POLICY,), "role", (t.IAM_ROLE,), iam_keys, arn_name),
        stack.referrers((t.IAM_ROLE_POLICY_ATTACHMENT,), "role", (t.IAM_ROLE,), iam_keys, arn_name))


def role_documents(stack: StackView, links: PolicyLinks, role: Res) -> Iterator[tuple[str, Any]]:
    """(where, document) of the role's own permission policies: inline, RolePolicies, attached customer
    policies of the stack (AWS-managed attachments are the caller's to judge, by ARN)."""
    yield from permission_documents(role)
    yield from ((f"RolePolicy {p.name!r}", p.get("policy")) for p in links.inline.of(role))
    for att in links.attached.of(role):
        for policy in stack.resolve(att, "policyArn", (t.IAM_POLICY,), iam_keys, "policy-by-arn", arn_name):
            yield f"Policy {policy.name!r}", policy.get("policy")


def _s3_documents(stack: StackView, links: PolicyLinks, role: Res) -> Iterator[tuple[str, Any]]:
    """The role's documents, with the AWS-managed S3 policies spelled out (they reach every bucket)."""
    yield from role_documents(stack, links, role)
    for att in links.attached.of(role):
        if att.get("policyArn") in _S3_FULL:
            yield f"attachment {att.name!r}", {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


@stack_policy(
    name="irsa-s3-prefix-scoped", area=Area.IRSA, resource_types=ROLE_PERMISSION_TYPES, severity=Severity.HIGH,
    description="IRSA roles reach S3 only under named prefixes (bucket/prefix/*), and list buckets only with an "
                "s3:prefix condition.",
    remediation="Scope object actions to arn:aws:s3:::<bucket>/projects/<project>/* and s3:ListBucket to the "
                "bucket with Condition StringLike {\"s3:prefix\": [\"projects/<project>/*\"]}.",
    url="https://docs.aws.amazon.com/AmazonS3/latest/userguide/example-bucket-policies.html",
    compliance=checkov("CKV_AWS_355"), on_unknown=OnUnknown.DEFER, unknown_note=_NOTE,
)
def irsa_s3_prefix_scoped(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    roles = {tr.role.urn: tr.role for tr in irsa_trusts(stack) if not isinstance(tr, Defer)}
    links = role_policy_links(stack)
    for role in roles.values():
        for where, doc in _s3_documents(stack, links, role):
            stmts = statements(doc)
            if stmts is UNKNOWN:
                yield Defer(where, role.urn)
                continue
            for stmt in (s for s in stmts or [] if s.allows):
                yield from (Violation(f"role {role.name!r} {where}: {p}", role.urn) for p in _s3_problems(stmt))
