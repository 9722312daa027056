"""IAM policy documents, built by small helpers in one reviewed place.

Documents are plain dicts whose leaves may be `pulumi.Output`s; `to_json` serialises them for a
resource input. `check_document` is the structural lint every document the platform builds passes:
no `*` action, no `*` resource where the action can be scoped, no `*` principal, conditions on
federated trust.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pulumi

Doc = dict[str, Any]
#: Actions AWS only grants on `Resource: "*"` (no resource-level permissions exist for them).
UNSCOPABLE_ACTIONS = frozenset({
    "ecr:GetAuthorizationToken", "sts:GetCallerIdentity", "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances", "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities", "autoscaling:DescribeTags", "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
    "eks:DescribeNodegroup", "cloudwatch:PutMetricData",
    # A VPC CodeBuild build's network interface (aws/deployer.py): EC2 Describe* actions have no resource
    # types in the Service Authorization Reference (Amazon EC2).
    "ec2:DescribeDhcpOptions", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
    # `mlplat destroy` waiting for the LB controller's load balancers (workflows/teardown.py): Elastic Load
    # Balancing's Describe* actions have no resource types (Service Authorization Reference, ELB v2).
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags",
    # cert-manager's DNS-01 zone lookup (k8s/gateway_tls.py): no resource types (SAR, Amazon Route 53).
    "route53:ListHostedZonesByName",
    # Karpenter's discovery (core/iam_karpenter.py): no resource types in the Service Authorization Reference
    # (Amazon EC2, AWS Price List, IAM "ListInstanceProfiles").
    "ec2:DescribeCapacityReservations", "ec2:DescribeInstances", "ec2:DescribeInstanceStatus",
    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups",
    "ec2:DescribeSpotPriceHistory", "pricing:GetProducts", "iam:ListInstanceProfiles",
})


def statement(actions: Sequence[str], resources: Any, *, effect: str = "Allow", sid: str | None = None,
              principal: Mapping[str, Any] | None = None, condition: Any = None,
              not_principal: bool = False) -> Doc:
    stmt: Doc = {"Effect": effect, "Action": list(actions)}
    if sid:
        stmt["Sid"] = sid
    if principal is not None:
        stmt["NotPrincipal" if not_principal else "Principal"] = dict(principal)
    if resources is not None:
        stmt["Resource"] = resources
    if condition:
        # An Output when a condition key is itself computed (IRSA issuer host).
        stmt["Condition"] = dict(condition) if isinstance(condition, Mapping) else condition
    return stmt


def document(*statements: Doc) -> Doc:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def to_json(doc: Doc) -> pulumi.Output[str]:
    """Serialise a document that may hold Outputs (ARNs, issuer URLs)."""
    return pulumi.Output.json_dumps(doc)


def service_trust(*services: str, source_account: str | None = None, source_arn: Any = None) -> Doc:
    """Trust policy letting AWS services (eks.amazonaws.com, ec2.amazonaws.com …) assume a role.

    Services that act on behalf of a resource (VPC flow logs, …) get confused-deputy conditions: only
    for this account (`aws:SourceAccount`) and, when given, only for these resources (`aws:SourceArn`),
    so another account's flow log cannot be pointed at this role
    (docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
    """
    condition: dict[str, dict[str, Any]] = {}
    if source_account:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return document(statement(["sts:AssumeRole"], None, principal={"Service": list(services)},
                              condition=condition or None))


def irsa_trust(provider_arn: Any, issuer_host: Any, namespace: str, service_account: str) -> Doc:
    """IRSA trust pinned to one ServiceAccount: both the `sub` and the `aud` claims are required."""
    sub = pulumi.Output.concat(issuer_host, ":sub")
    aud = pulumi.Output.concat(issuer_host, ":aud")
    cond = pulumi.Output.all(sub, aud).apply(lambda keys: {"StringEquals": {
        keys[0]: f"system:serviceaccount:{namespace}:{service_account}", keys[1]: "sts.amazonaws.com"}})
    return document(statement(["sts:AssumeRoleWithWebIdentity"], None, principal={"Federated": provider_arn},
                              condition=cond))


GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"


#: Workflows of a generated project (templates/ml-project/.github/workflows): `cd.yml` builds and pushes
#: on branch pushes; `deploy.yml`, a reusable workflow `cd.yml` calls, deploys through a GitHub environment.
BUILD_WORKFLOW = ".github/workflows/cd.yml"
DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"
#: `continuous-training.yml` runs in the project's platform environment (its job names it) from main.
TRAINING_WORKFLOW = ".github/workflows/continuous-training.yml"
#: The OIDC subject claim a managed repository sends (GitHub's subject customization, `github_trust`):
#: `repo:ORG/REPO:<context>:job_workflow_ref:ORG/REPO/<workflow>@<ref>`.
GITHUB_SUBJECT_CLAIM_KEYS = ("repo", "context", "job_workflow_ref")


def _pinned(repo: str, context: str, workflow: str, ref: str) -> str:
    return f"repo:{repo}:{context}:job_workflow_ref:{repo}/{workflow}@{ref}"


def github_actions_trust(provider_arn: Any, repo: str, branches: Iterable[str], environments: Iterable[str], *,
                         pin_workflows: bool = False) -> Doc:
    """Trust for GitHub Actions OIDC scoped to one repository's branches and deployment environments.
    Pull requests are not trusted: a branch must not deploy by opening one (see `github_pull_request_trust`).

    `pin_workflows` (the repository's subject claim is managed, `github_trust`): branch pushes only from the
    build workflow of that branch, deployments only from the deploy workflow at `refs/heads/main`.
    """
    envs = [_environment_subject(repo, e, DEPLOY_WORKFLOW, pin_workflows) for e in environments]
    if pin_workflows:
        subjects = [_pinned(repo, f"ref:refs/heads/{b}", BUILD_WORKFLOW, f"refs/heads/{b}") for b in branches]
        return _github_trust(provider_arn, {"StringEquals": {f"{GITHUB_OIDC_HOST}:sub": subjects + envs}})
    subjects = [f"repo:{repo}:ref:refs/heads/{b}" for b in branches]
    return _github_trust(provider_arn, {"StringLike": {f"{GITHUB_OIDC_HOST}:sub": subjects + envs}})


def github_environment_trust(provider_arn: Any, repo: str, environment: str, workflow: str, *,
                             pin_workflows: bool = False) -> Doc:
    """Trust for the jobs of one repository that run in one deployment environment, and nothing else: no
    branch push, no pull request (their subjects differ), exact match only. With a managed subject claim,
    only `workflow` at `refs/heads/main` (the environment's branch policy admits main only)."""
    subject = _environment_subject(repo, environment, workflow, pin_workflows)
    return _github_trust(provider_arn, {"StringEquals": {f"{GITHUB_OIDC_HOST}:sub": subject}})


def _environment_subject(repo: str, environment: str, workflow: str, pin_workflows: bool) -> str:
    """GitHub's subject for a job that names `environment` (pinned: of `workflow` at main)."""
    if pin_workflows:
        return _pinned(repo, f"environment:{environment}", workflow, "refs/heads/main")
    return f"repo:{repo}:environment:{environment}"


def github_pull_request_trust(provider_arn: Any, repo: str, *, pin_workflows: bool = False) -> Doc:
    """Trust for the pull-request workflows of one repository only (GitHub's `pull_request` subject; with a
    managed subject claim, the build workflow of any pull request's merge ref)."""
    if pin_workflows:
        subject = _pinned(repo, "pull_request", BUILD_WORKFLOW, "refs/pull/*/merge")
        return _github_trust(provider_arn, {"StringLike": {f"{GITHUB_OIDC_HOST}:sub": subject}})
    return _github_trust(provider_arn, {"StringEquals": {f"{GITHUB_OIDC_HOST}:sub": f"repo:{repo}:pull_request"}})


def _github_trust(provider_arn: Any, subject: dict[str, dict[str, Any]]) -> Doc:
    condition: dict[str, dict[str, Any]] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"}}
    for operator, keys in subject.items():
        condition.setdefault(operator, {}).update(keys)
    return document(statement(["sts:AssumeRoleWithWebIdentity"], None, principal={"Federated": provider_arn},
                              condition=condition))


def tls_only_bucket_policy(bucket_arn: Any) -> Doc:
    """Deny any request to the bucket or its objects that does not use TLS."""
    objects = pulumi.Output.concat(bucket_arn, "/*")
    return document(statement(["s3:*"], [bucket_arn, objects], effect="Deny", sid="DenyInsecureTransport",
                              principal={"AWS": "*"}, condition={"Bool": {"aws:SecureTransport": "false"}}))


def s3_prefix_access(bucket_arn: Any, prefix: str, *, write: bool = True) -> list[Doc]:
    """Read (and optionally write) objects under one prefix; list only that prefix."""
    objects = pulumi.Output.concat(bucket_arn, f"/{prefix}*")
    actions = ["s3:GetObject", "s3:GetObjectVersion"]
    if write:
        actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    return [statement(actions, [objects]),
            statement(["s3:ListBucket"], [bucket_arn], condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}})]


def ecr_access(repository_arns: Sequence[Any], *, push: bool) -> list[Doc]:
    pull = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    actions = pull + (["ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage",
                       "ecr:UploadLayerPart", "ecr:DescribeImages"] if push else [])
    return [statement(actions, list(repository_arns)), statement(["ecr:GetAuthorizationToken"], ["*"])]


def kms_use(key_arns: Sequence[Any]) -> Doc:
    return statement(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"], list(key_arns))


_KMS_USE = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


def kms_key_policy(account_id: str, service_principals: Sequence[str] = (),
                   role_principals: Sequence[str] = (), service_condition: Doc | None = None) -> Doc:
    """Key policy: the account root administers (IAM decides who), named services and roles may use it.

    `role_principals` is for service-linked roles that cannot get IAM grants otherwise, e.g. the
    Auto Scaling role that launches nodes with encrypted volumes (it also needs `kms:CreateGrant`).
    `service_condition` replaces the default `aws:SourceAccount` condition of the services' statement
    (for a service that documents another one). Default: None (aws:SourceAccount).
    """
    root = f"arn:aws:iam::{account_id}:root"
    stmts = [statement(["kms:*"], ["*"], sid="AccountAdministers", principal={"AWS": root})]
    if service_principals:
        stmts.append(statement(_KMS_USE, ["*"], sid="ServicesUse", principal={"Service": list(service_principals)},
                               condition=service_condition or {"StringEquals": {"aws:SourceAccount": account_id}}))
    if role_principals:
        stmts.append(statement(_KMS_USE, ["*"], sid="RolesUse", principal={"AWS": list(role_principals)}))
        stmts.append(statement(["kms:CreateGrant"], ["*"], sid="RolesGrant", principal={"AWS": list(role_principals)},
                               condition={"Bool": {"kms:GrantIsForAWSResource": "true"}}))
    return document(*stmts)


def check_document(doc: Mapping[str, Any], *, key_policy: bool = False) -> list[str]:
    """Structural problems of a (resolved) policy document; empty when it is acceptable.

    Key policies are exempt from the resource rule: in a key policy `Resource: "*"` means "this key".
    """
    problems: list[str] = []
    if doc.get("Version") != "2012-10-17":
        problems.append("Version must be 2012-10-17")
    stmts = doc.get("Statement")
    if not isinstance(stmts, list) or not stmts:
        return [*problems, "Statement must be a non-empty list"]
    for i, stmt in enumerate(stmts):
        problems += [f"Statement[{i}]: {p}" for p in _statement_problems(stmt, key_policy)]
    return problems


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statement_problems(stmt: Mapping[str, Any], key_policy: bool) -> list[str]:
    problems = []
    if stmt.get("Effect") not in ("Allow", "Deny"):
        problems.append("Effect must be Allow or Deny")
    actions = [str(a) for a in _as_list(stmt.get("Action", []))]
    allow = stmt.get("Effect") == "Allow"
    if allow and any(a == "*" or a.endswith(":*") for a in actions) and not key_policy:
        problems.append(f"wildcard action {actions}")
    resources = [str(r) for r in _as_list(stmt.get("Resource", []))]
    if allow and "*" in resources and not key_policy and not set(actions) <= UNSCOPABLE_ACTIONS:
        problems.append(f"Resource '*' for scopable actions {sorted(set(actions) - UNSCOPABLE_ACTIONS)}")
    principal = stmt.get("Principal")
    if allow and principal is not None and "*" in json.dumps(principal):
        problems.append("wildcard principal")
    if allow and isinstance(principal, Mapping) and "Federated" in principal and not stmt.get("Condition"):
        problems.append("federated trust without conditions")
    return problems


def cluster_autoscaler_access(cluster_name: str, region: str, account_id: str) -> list[Doc]:
    """cluster-autoscaler: describe the fleet (AWS offers no resource scope for that), but resize and
    terminate only Auto Scaling groups tagged as owned by this cluster, and read only its node groups."""
    describe = ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements"]
    asgs = f"arn:aws:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/*"
    owned = {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}
    nodegroups = f"arn:aws:eks:{region}:{account_id}:nodegroup/{cluster_name}/*"
    return [statement(describe, ["*"], sid="DescribeFleet"),
            statement(["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                      [asgs], sid="ScaleOwnedGroups", condition=owned),
            statement(["eks:DescribeNodegroup"], [nodegroups], sid="ReadOwnNodegroups")]


def sns_publish(topic_arns: Sequence[Any]) -> Doc:
    return statement(["sns:Publish"], list(topic_arns))
