"""GitHub Actions roles: a role that pull-request workflows can assume only reads.

Anyone who can push a branch can open a pull request, and the workflow it runs is the branch's own. If
the role its OIDC token opens may push images, write artifacts or deploy, protected branches and
deployment environments are bypassed. Deploying belongs to a role trusted on branches or environments.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from mlops_platform.core.iam import GITHUB_OIDC_HOST
from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, stack_policy
from mlops_platform.policy.rules.irsa import (
    ROLE_PERMISSION_TYPES,
    arn_name,
    iam_keys,
    role_documents,
    role_policy_links,
    web_identity_trusts,
)
from mlops_platform.policy.sdk import rbac
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Referrers, Res, StackView
from mlops_platform.policy.sdk.iam import Statement, matches, statements
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, Violation, as_list, is_unknown

#: Action patterns that only read (IAM action names: Get/List/Describe and batch reads).
READ_ONLY_ACTIONS = ("*:Get*", "*:List*", "*:Describe*", "*:BatchGet*", "*:BatchCheck*", "*:View*")
_MANAGED = "arn:aws:iam::aws:policy/"
_PR_SUBJECT = "pull_request"
#: Resources that give a GitHub role rights: IAM, and EKS access entries / access policy associations.
_RIGHTS_TYPES = (*ROLE_PERMISSION_TYPES, t.EKS_ACCESS_ENTRY, t.EKS_ACCESS_POLICY, rbac.ROLE, rbac.CLUSTER_ROLE,
                 rbac.ROLE_BINDING, rbac.CLUSTER_ROLE_BINDING)


def _subject_tests(stmt: Statement) -> dict[str, list[str]]:
    """Condition operator -> the values it tests the token's `sub` against (operators AND, values OR)."""
    tests: dict[str, list[str]] = {}
    for op, values in stmt.condition_values(f"{GITHUB_OIDC_HOST}:sub"):
        tests.setdefault(op, []).extend(str(v) for v in as_list(values))
    return tests


def _pull_request_subject(pattern: str) -> str:
    """A pull-request subject of a repository the pattern names (`repo:org/*` -> `repo:org/x:pull_request`);
    a customized subject (`repo:R:pull_request:job_workflow_ref:...`) is its own candidate."""
    if f":{_PR_SUBJECT}:" in pattern:
        return pattern.replace("*", "x").replace("?", "x")
    parts = pattern.split(":")
    repo = parts[1] if len(parts) > 1 and parts[0] == "repo" else "owner/repo"
    return f"repo:{repo.replace('*', 'x').replace('?', 'x')}:{_PR_SUBJECT}"


def _holds(op: str, values: list[str], subject: str) -> bool:
    hit = any(matches(v, subject) if "Like" in op else v == subject for v in values)
    return not hit if "Not" in op else hit


def _admits_pull_requests(stmt: Statement) -> bool:
    """Whether a pull-request token of some repository the statement names satisfies every `sub` test."""
    tests = _subject_tests(stmt)
    candidates = {_pull_request_subject(v) for op, values in tests.items() if "Not" not in op for v in values}
    return any(all(_holds(op, values, subject) for op, values in tests.items())
               for subject in candidates or {_pull_request_subject("")})


def _github_issuer(federated: str) -> str | None:
    return GITHUB_OIDC_HOST if federated.endswith(f":oidc-provider/{GITHUB_OIDC_HOST}") else None


def pull_request_roles(stack: StackView) -> Iterator[Res | Defer]:
    """Roles whose trust lets GitHub Actions pull-request workflows assume them (each once)."""
    seen: set[str] = set()
    for found in web_identity_trusts(stack, _github_issuer):
        if isinstance(found, Defer):
            yield found
            continue
        role, stmt, _ = found
        if role.urn not in seen and _admits_pull_requests(stmt):
            seen.add(role.urn)
            yield role


def write_actions(stmt: Statement) -> list[str]:
    """Actions an Allow statement grants beyond reading (NotAction grants everything else)."""
    if not stmt.allows:
        return []
    if stmt.not_actions:
        return [f"NotAction {list(stmt.not_actions)}"]
    return [a for a in stmt.actions if not any(matches(p, a) for p in READ_ONLY_ACTIONS)]


def _managed_writes(role: Res, attachments: list[Res]) -> Iterator[str | Defer]:
    given = [(f"attachment {a.name!r}", a.get("policyArn")) for a in attachments]
    given += [("managedPolicyArns", arn) for arn in as_list(role.get("managedPolicyArns"))]
    for where, arn in given:
        if is_unknown(arn):
            yield Defer(where, role.urn)
        elif _writing_managed_policy(arn):
            yield f"{where}: {arn}"


def _writing_managed_policy(arn: Any) -> bool:
    """An AWS-managed policy other than the read-only/view-only ones."""
    return isinstance(arn, str) and arn.startswith(_MANAGED) and not any(
        word in arn for word in ("ReadOnly", "ViewOnly"))


@stack_policy(
    name="github-pull-request-read-only", area=Area.IAM, resource_types=_RIGHTS_TYPES, severity=Severity.HIGH,
    description="Roles GitHub Actions pull-request workflows can assume (OIDC `sub` matching "
                "repo:<repo>:pull_request, or not tested) only read: no pushes, writes or deploys (a Kubernetes "
                "group counts as a write unless every Role the graph binds to it only gets/lists/watches and "
                "reads no Secret; a non-view EKS access policy is a write).",
    remediation="Split the role: trust pull requests (`repo:<repo>:pull_request`, StringEquals) on a read-only "
                "preview role (Get/List/Describe, ECR pulls, an EKS view access policy), and trust branches "
                "(`repo:<repo>:ref:refs/heads/main`) or environments (`repo:<repo>:environment:prod`) on the "
                "role that pushes and deploys.",
    url="https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/"
        "configuring-openid-connect-in-amazon-web-services",
    on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a trust or permission document of a pull-request role is unknown.",
)
def github_pull_request_read_only(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    rights = role_rights(stack)
    for role in pull_request_roles(stack):
        if isinstance(role, Defer):
            yield role
            continue
        found = list(_writes(stack, rights, role))
        yield from (w for w in found if isinstance(w, Defer))
        writes = [w for w in found if isinstance(w, str)]
        if writes:
            shown = "; ".join(writes[:4]) + (f" (+{len(writes) - 4} more)" if len(writes) > 4 else "")
            yield Violation(f"role {role.name!r} is assumable by pull-request workflows but grants {shown}",
                            role.urn)


# ---------------------------------------------------------------- deploy roles pin their workflow
_ENV_TYPE = "github:index/repositoryEnvironment:RepositoryEnvironment"
_BRANCH_POLICY_TYPE = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"


def _pins_workflow(subject: str) -> bool:
    """`repo:R:<context>:job_workflow_ref:R/<workflow>@refs/heads/<branch>` with no wildcard in the ref."""
    _, sep, ref = subject.partition(":job_workflow_ref:")
    return bool(sep) and "@refs/heads/" in ref and not any(ch in ref for ch in "*?")


def _owner(res: Res) -> Any:
    """The GitHub owner (organisation or user) a `github` resource lives in: its explicit provider's `owner`
    (the resource's `repository` is a bare name). None when no provider names one; UNKNOWN when computed."""
    owner = res.provider.get("owner") if res.provider else None
    return owner if is_unknown(owner) else (str(owner) if owner else None)


def _managed_environments(stack: StackView) -> set[tuple[str, str]] | Defer:
    """(`owner/repository`, environment) of GitHub environments in the graph restricted to custom branch
    policies that name at least one branch. A bare repository name is not enough: `repo:attacker/fraud`
    must not count as the graph's `example-org/fraud`, so an environment whose owner is unknown defers."""
    with_branches = {(str(p.get("repository")), str(p.get("environment"))) for p in stack.of_type(_BRANCH_POLICY_TYPE)
                     if p.get("branchPattern")}
    managed: set[tuple[str, str]] = set()
    for env in stack.of_type(_ENV_TYPE):
        key = (str(env.get("repository")), str(env.get("environment")))
        if env.get("deploymentBranchPolicy.customBranchPolicies") is not True or key not in with_branches:
            continue
        owner = _owner(env)
        if is_unknown(owner):
            return Defer("provider.owner", env.urn)
        if owner:
            managed.add((f"{owner}/{key[0]}", key[1]))
    return managed


def _environment_of(subject: str) -> tuple[str, str] | None:
    """(`owner/repository`, environment) of a `repo:OWNER/REPO:environment:ENV` subject; None for any other
    shape or a wildcard in the repository or environment (it names no single environment).
    GitHub's default subject for a job with an environment is `repo:<owner>/<repo>:environment:<name>`
    (docs.github.com, "OpenID Connect reference", example subject claims)."""
    parts = subject.split(":")
    if len(parts) != 4 or parts[0] != "repo" or parts[2] != "environment" or parts[1].count("/") != 1:
        return None
    if any(ch in subject for ch in "*?"):
        return None
    return parts[1], parts[3]


def _unpinned_subjects(stmt: Statement, managed: set[tuple[str, str]]) -> list[str]:
    """Subjects the trust admits that neither pin a workflow ref nor name a branch-restricted environment."""
    tests = {op: values for op, values in _subject_tests(stmt).items() if "Not" not in op}
    if not tests:
        return ["<any subject>"]
    return [v for values in tests.values() for v in values
            if not _pins_workflow(v) and _environment_of(v) not in managed]


class RoleRights(NamedTuple):
    """What grants a role rights: its IAM policies, and in the cluster its EKS access entries' Kubernetes
    groups (bound to Roles by RoleBindings the graph may not show) and access policy associations."""

    iam: Any
    entries: Referrers
    associations: Referrers


def role_rights(stack: StackView) -> RoleRights:
    def by_principal(kind: str) -> Referrers:
        return stack.referrers((kind,), "principalArn", (t.IAM_ROLE,), iam_keys, arn_name)
    return RoleRights(role_policy_links(stack), by_principal(t.EKS_ACCESS_ENTRY), by_principal(t.EKS_ACCESS_POLICY))


def _writes(stack: StackView, rights: RoleRights, role: Res) -> Iterator[str | Defer]:
    yield from _managed_writes(role, rights.iam.attached.of(role))
    for where, doc in role_documents(stack, rights.iam, role):
        stmts = statements(doc)
        if stmts is UNKNOWN:
            yield Defer(where, role.urn)
        else:
            yield from (f"{where}: {a}" for s in stmts or [] for a in write_actions(s))
    yield from _cluster_writes(role, rights, stack)


def _group_rules(stack: StackView, group: str) -> list[Any] | Defer | None:
    """The rules of every Role/ClusterRole the graph binds to Kubernetes `group`; None when nothing binds it
    or a binding names a role the graph lacks (its rights are then unknown to the review)."""
    roles = {(r.get("metadata.namespace"), r.get("metadata.name")): r for r in stack.of_type(rbac.ROLE)}
    roles |= {(None, r.get("metadata.name")): r for r in stack.of_type(rbac.CLUSTER_ROLE)}
    rules: list[Any] = []
    found = False
    for binding in stack.of_type(rbac.ROLE_BINDING, rbac.CLUSTER_ROLE_BINDING):
        subjects = binding.get("subjects")
        if is_unknown(subjects):
            return Defer("subjects", binding.urn)
        if not any(isinstance(s, dict) and s.get("kind") == "Group" and s.get("name") == group
                   for s in as_list(subjects)):
            continue
        ref = binding.get("roleRef") or {}
        namespace = binding.get("metadata.namespace") if ref.get("kind") == "Role" else None
        bound = roles.get((namespace, ref.get("name")))
        if bound is None or is_unknown(bound.get("rules")):
            return None if bound is None else Defer("rules", bound.urn)
        found = True
        rules += as_list(bound.get("rules"))
    return rules if found else None


def _cluster_writes(role: Res, rights: RoleRights, stack: StackView) -> Iterator[str | Defer]:
    """Kubernetes rights count as writes: a group is whatever the graph's bindings of it grant (read-only
    only when every Role bound to it gets/lists/watches and reads no Secret; a group bound to nothing the
    graph shows could be bound to anything), an access policy other than a view one edits or administers."""
    for entry in rights.entries.of(role):
        groups = entry.get("kubernetesGroups")
        if is_unknown(groups):
            yield Defer(f"AccessEntry {entry.name!r}.kubernetesGroups", role.urn)
            continue
        for group in map(str, as_list(groups)):
            bound = _group_rules(stack, group)
            if isinstance(bound, Defer):
                yield Defer(bound.what, role.urn)
            elif bound is None or not rbac.read_only(bound):
                why = "bound to no Role in the graph" if bound is None else "whose Roles write"
                yield f"AccessEntry {entry.name!r}: Kubernetes group {group} ({why})"
    for assoc in rights.associations.of(role):
        arn = assoc.get("policyArn")
        if is_unknown(arn):
            yield Defer(f"AccessPolicyAssociation {assoc.name!r}.policyArn", role.urn)
        elif not str(arn).endswith("ViewPolicy"):
            yield f"AccessPolicyAssociation {assoc.name!r}: {arn}"


@stack_policy(
    name="github-deploy-workflow-pinned", area=Area.IAM,
    resource_types=(*_RIGHTS_TYPES, _ENV_TYPE, _BRANCH_POLICY_TYPE),
    severity=Severity.HIGH,
    description="Roles GitHub Actions can assume with write permissions (IAM, or in the cluster an access entry's "
                "Kubernetes groups or a non-view EKS access policy) pin the workflow (`job_workflow_ref` at a "
                "branch ref in the OIDC subject), or trust only environments the same graph restricts to "
                "branches (a GitHub environment of the same owner/repository with a deployment branch policy).",
    remediation="Set github.manage: true (the platform then manages each project's environment with a main-only "
                "branch policy and the subject claim with job_workflow_ref, and pins the deploy workflow at "
                "refs/heads/main), or trust `repo:<repo>:<context>:job_workflow_ref:<repo>/<workflow>@refs/heads/"
                "main` subjects yourself.",
    url="https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/"
        "about-security-hardening-with-openid-connect#customizing-the-token-claims",
    on_unknown=OnUnknown.DEFER,
    unknown_note="Deferred when a trust or permission document of a GitHub role is unknown.",
)
def github_deploy_workflow_pinned(stack: StackView, _: PolicySettings) -> Iterator[Violation | Defer]:
    rights, managed = role_rights(stack), _managed_environments(stack)
    if isinstance(managed, Defer):
        yield managed
        return
    for found in web_identity_trusts(stack, _github_issuer):
        if isinstance(found, Defer):
            yield found
            continue
        role, stmt, _issuer = found
        loose = _unpinned_subjects(stmt, managed)
        if not loose:
            continue
        writes = list(_writes(stack, rights, role))
        yield from (w for w in writes if isinstance(w, Defer))
        shown = [w for w in writes if isinstance(w, str)]
        if shown:
            yield Violation(f"role {role.name!r} grants {'; '.join(shown[:3])} to GitHub subjects that pin no "
                            f"workflow and name no branch-restricted environment: {', '.join(loose[:3])}", role.urn)
