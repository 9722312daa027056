"""Fixtures of the policies in `mlops_platform.policy.rules.github_oidc`."""

from __future__ import annotations

from typing import Any

from policy_plans import Add, U, res, urn

from policy_cases._base import DEFERRED, PR_ROLE, PULL_REQUESTS, PUSH, READS, Case, fail, gh_policy, gh_role, ok, u

PINNED = "repo:org/fraud:environment:prod:job_workflow_ref:org/fraud/.github/workflows/deploy.yml@refs/heads/main"
GH_ENV = "github:index/repositoryEnvironment:RepositoryEnvironment"
GH_PROVIDER = "pulumi:providers:github"
#: GitHub's default OIDC subject of a job bound to an environment is `repo:<owner>/<repo>:environment:<name>`
#: (docs.github.com/en/actions/reference/security/oidc, "Example subject claims"): the owner is part of it, and
#: the graph's environment only names the repository, its provider names the owner.
SAME_NAME_OTHER_ORG = "repo:attacker/fraud:environment:prod"


def gh_access(groups: list[str] | None = None, policy: str | None = None) -> tuple[Add, ...]:
    """gh-role's EKS access entry with Kubernetes `groups`, and an access policy association of `policy`.
    principalArn is the role's ARN: known for the entry, unknown at preview (a dependency) for the association."""
    entry = res("aws:eks/accessEntry:AccessEntry", "gh-access", {
        "clusterName": "c", "principalArn": "arn:aws:iam::111122223333:role/gh-role", "type": "STANDARD",
        **({"kubernetesGroups": groups} if groups else {})}, ["gh-role"])
    if policy is None:
        return (Add(entry),)
    return Add(entry), Add(res("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "gh-access-policy", {
        "clusterName": "c", "principalArn": U, "policyArn": f"arn:aws:eks::aws:cluster-access-policy/{policy}",
        "accessScope": {"type": "namespace", "namespaces": ["fraud"]}}, ["gh-role", "gh-access"]))


SUBMITTERS = ["mlops:fraud:pipeline-submitters"]
READERS = ["mlops:fraud:readers"]
RBAC = "rbac.authorization.k8s.io"
READ = {"apiGroups": ["flagger.app"], "resources": ["canaries"], "verbs": ["get", "list", "watch"]}


def bound(group: str, *rules: dict[str, Any], role: str = "readers", present: bool = True) -> tuple[Add, ...]:
    """A Role `role` in the fraud namespace with `rules` (left out when not `present`) and its RoleBinding to
    Kubernetes `group`."""
    binding = Add(res(f"kubernetes:{RBAC}/v1:RoleBinding", f"{role}-binding", {
        "metadata": {"name": role, "namespace": "fraud"}, "subjects": [{"kind": "Group", "name": group,
                                                                       "apiGroup": RBAC}],
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role}}))
    made = Add(res(f"kubernetes:{RBAC}/v1:Role", f"{role}-role", {"metadata": {"name": role, "namespace": "fraud"},
                                                                  "rules": list(rules)}))
    return (made, binding) if present else (binding,)


def gh_environment(custom_branches: bool = True, branch: str | None = "main", owner: Any = "org") -> tuple[Add, ...]:
    """The GitHub environment `prod` of `owner`/fraud (its explicit provider's owner; None: a provider naming
    none), restricted to `branch` (None: no branch policy)."""
    provider = res(GH_PROVIDER, "gh-provider", {"owner": owner} if owner is not None else {})
    env_res = res(GH_ENV, "gh-env", {"repository": "fraud", "environment": "prod", "deploymentBranchPolicy": {
        "protectedBranches": False, "customBranchPolicies": custom_branches}})
    env_res["provider"] = f"{urn(GH_PROVIDER, 'gh-provider')}::9f1c2d3e"
    env = (Add(provider), Add(env_res))
    if branch is None:
        return env
    return *env, Add(res("github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
                        "gh-env-main", {"repository": "fraud", "environment": "prod", "branchPattern": branch},
                        ["gh-env"]))


CASES: dict[str, Case] = {
    "github-pull-request-read-only": Case(
        passing=(ok(), ok(gh_role(PULL_REQUESTS), gh_policy(*READS)),
                 ok(gh_role("repo:org/fraud:ref:refs/heads/main"), gh_policy(*PUSH)),  # a deploy role
                 ok(gh_role(["repo:org/fraud:environment:prod", "repo:org/fraud:ref:refs/heads/*"], "StringLike"),
                    gh_policy(*PUSH)),
                 ok(gh_role("repo:org/fraud:*", "StringLike", excluding="repo:*:pull_request"), gh_policy(*PUSH)),
                 ok(gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(policy="AmazonEKSViewPolicy")),
                 # a group every bound Role of which only reads (and reads no Secret) is read-only
                 ok(gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(READERS), *bound(READERS[0], READ))),
        failing=(fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*PUSH)),
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(READERS),
                      *bound(READERS[0], READ, {**READ, "verbs": ["patch"]})),
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(READERS),
                      *bound(READERS[0], READ, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]})),
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(READERS),
                      *bound(READERS[0], READ), *bound(READERS[0], READ, role="elsewhere", present=False)),
                 # security review item 5: Kubernetes rights through the access entry are writes too
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(SUBMITTERS)),
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*READS), *gh_access(policy="AmazonEKSEditPolicy")),
                 fail(PR_ROLE, gh_role("repo:org/fraud:*", "StringLike"), gh_policy(*READS, "s3:PutObject")),
                 fail(PR_ROLE, gh_role(["repo:org/*"], "StringLike"), gh_policy(*PUSH)),  # the whole org
                 fail(PR_ROLE, gh_role("repo:org/fraud:ref:refs/heads/main", "StringNotEquals"), gh_policy(*PUSH)),
                 fail(PR_ROLE, gh_role(None), gh_policy(*READS, "eks:UpdateClusterConfig")),
                 fail(PR_ROLE, gh_role(PULL_REQUESTS), Add(res(
                     "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "gh-attach", {
                         "role": "gh-role",
                         "policyArn": "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPowerUser"}, ["gh-role"])))),
        unknown=u(DEFERRED, gh_role(PULL_REQUESTS), Add(res("aws:iam/rolePolicy:RolePolicy", "gh-policy", {
            "role": "gh-role", "policy": U}, ["gh-role"])))),
    "github-deploy-workflow-pinned": Case(
        passing=(ok(), ok(gh_role(PINNED), gh_policy(*PUSH)),
                 ok(gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH), *gh_environment()),
                 ok(gh_role(PULL_REQUESTS), gh_policy(*READS)),  # reads only: nothing to pin
                 ok(gh_role(PINNED), gh_policy(*READS), *gh_access(SUBMITTERS, "AmazonEKSEditPolicy"))),
        failing=(fail(PR_ROLE, gh_role("repo:org/fraud:ref:refs/heads/main"), gh_policy(*PUSH)),
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH)),
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH),
                      *gh_environment(branch=None)),  # an environment that admits every branch
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH),
                      *gh_environment(custom_branches=False)),
                 fail(PR_ROLE, gh_role(PINNED.replace("@refs/heads/main", "@refs/heads/*"), "StringLike"),
                      gh_policy(*PUSH)),
                 fail(PR_ROLE, gh_role(None), gh_policy(*PUSH)),
                 # security review item 4: the same repository name in another organisation, any organisation,
                 # a wildcard repository, and an environment whose owner the graph does not name
                 fail(PR_ROLE, gh_role(SAME_NAME_OTHER_ORG), gh_policy(*PUSH), *gh_environment()),
                 fail(PR_ROLE, gh_role("repo:*/fraud:environment:prod", "StringLike"), gh_policy(*PUSH),
                      *gh_environment()),
                 fail(PR_ROLE, gh_role("repo:org/*:environment:prod", "StringLike"), gh_policy(*PUSH),
                      *gh_environment()),
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*PUSH),
                      *gh_environment(owner=None)),
                 # security review item 5: no IAM writes, but the submitter group or an edit access policy
                 # (the unpinned continuous-training role)
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*READS), *gh_access(SUBMITTERS)),
                 fail(PR_ROLE, gh_role("repo:org/fraud:environment:prod"), gh_policy(*READS),
                      *gh_access(policy="AmazonEKSEditPolicy"))),
        unknown=u(DEFERRED, gh_role("repo:org/fraud:environment:prod"), Add(res(
            "aws:iam/rolePolicy:RolePolicy", "gh-policy", {"role": "gh-role", "policy": U}, ["gh-role"])))),
}
