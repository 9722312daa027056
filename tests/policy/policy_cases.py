"""One fixture set per policy: plans it passes, plans it fails (and on which resource), and what it does
with a value unknown at preview. Every plan is the secure reference stack with a few changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.core.iam import GITHUB_OIDC_HOST
from policy_plans import (
    ACCOUNT,
    DROP,
    ISSUER,
    OIDC_ARN,
    Add,
    Change,
    Drop,
    Patch,
    U,
    doc,
    irsa_trust,
    res,
    s3_prefix_policy,
    urn,
)

DEFERRED, PASSES, VIOLATES = "deferred", "passes", "violates"
C0 = "spec.template.spec.containers.0"  # the serving Deployment's container
POD = "spec.template.spec"
T_CLUSTER, T_LT = "aws:eks/cluster:Cluster", "aws:ec2/launchTemplate:LaunchTemplate"
T_NG = "aws:eks/nodeGroup:NodeGroup"
T_DEPLOY = "kubernetes:apps/v1:Deployment"
STACK_LEVEL = ""  # a stack policy finding not tied to one resource


@dataclass(frozen=True)
class Failing:
    changes: tuple[Change, ...]
    on: tuple[str, ...]  # URNs the violations must name ("" for the stack)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    passing: tuple[tuple[Change, ...], ...]  # each entry: changes to the reference stack that still pass
    failing: tuple[Failing, ...]
    unknown: tuple[tuple[Change, ...], str]  # changes introducing an unknown, and the expected outcome
    pass_settings: dict[str, Any] = field(default_factory=dict)


def fail(on: str | tuple[str, ...], *changes: Change, **settings: Any) -> Failing:
    return Failing(tuple(changes), (on,) if isinstance(on, str) else on, settings)


def ok(*changes: Change) -> tuple[Change, ...]:
    return tuple(changes)


def u(outcome: str, *changes: Change) -> tuple[tuple[Change, ...], str]:
    return tuple(changes), outcome


def on(type_: str, name: str) -> str:
    return urn(type_, name)


def deploy(path: str, value: Any) -> Patch:
    return Patch("fraud-serving", path, value)


CLUSTER = on(T_CLUSTER, "eks")
LT = on(T_LT, "nodes-lt")
SYSTEM, GPU = on(T_NG, "system"), on(T_NG, "gpu-l4")
DATA, LOGS = on("aws:s3/bucket:Bucket", "data"), on("aws:s3/bucket:Bucket", "logs")
REPO = on("aws:ecr/repository:Repository", "repo")
APP_POLICY, APP_ROLE = on("aws:iam/rolePolicy:RolePolicy", "app-policy"), on("aws:iam/role:Role", "app-role")
DEPLOY = on(T_DEPLOY, "fraud-serving")
ENV_BUDGET = on("aws:budgets/budget:Budget", "env-budget")
DB, KEY = on("aws:rds/instance:Instance", "db"), on("aws:kms/key:Key", "key")
NOTIFY = "notifications.0.subscriberEmailAddresses"
NAMESPACE = on("kubernetes:core/v1:Namespace", "fraud-ns")


def app_doc(*statements: dict[str, Any]) -> Patch:
    return Patch("app-policy", "policy", doc(*statements))


def allow(action: Any, resource: Any, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


GITHUB_OIDC = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GITHUB_OIDC_HOST}"
PR_ROLE = on("aws:iam/role:Role", "gh-role")


def gh_role(subject: str | list[str] | None, op: str = "StringEquals", excluding: str | None = None) -> Add:
    """A GitHub Actions OIDC role named gh-role trusting `subject` (None: no subject test), minus `excluding`."""
    cond: dict[str, Any] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"}}
    if subject is not None:
        cond.setdefault(op, {})[f"{GITHUB_OIDC_HOST}:sub"] = subject
    if excluding is not None:
        cond["StringNotLike"] = {f"{GITHUB_OIDC_HOST}:sub": excluding}
    return Add(res("aws:iam/role:Role", "gh-role", {"name": "gh-role", "tags": {}, "assumeRolePolicy": doc(
        {"Effect": "Allow", "Principal": {"Federated": GITHUB_OIDC}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": cond})}))


def gh_policy(*actions: str) -> Add:
    return Add(res("aws:iam/rolePolicy:RolePolicy", "gh-policy", {"role": "gh-role", "policy": doc(
        allow(list(actions), "*"))}, ["gh-role"]))


PULL_REQUESTS = "repo:org/fraud:pull_request"
READS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "eks:DescribeCluster", "ecr:DescribeImages")
PUSH = ("ecr:PutImage", "ecr:BatchGetImage")


CASES: dict[str, Case] = {
    # --- EKS ------------------------------------------------------------------------------------
    "eks-private-endpoint": Case(
        passing=(ok(),),
        failing=(fail(CLUSTER, Patch("eks", "vpcConfig.endpointPublicAccess", True)),
                 fail(CLUSTER, Patch("eks", "vpcConfig.endpointPublicAccess", DROP)),
                 fail(CLUSTER, Patch("eks", "vpcConfig.endpointPrivateAccess", False))),
        unknown=u(DEFERRED, Patch("eks", "vpcConfig.endpointPublicAccess", U))),
    "eks-secrets-encryption": Case(
        passing=(ok(), ok(Patch("eks", "encryptionConfig.provider.keyArn", U))),
        failing=(fail(CLUSTER, Patch("eks", "encryptionConfig", DROP)),
                 fail(CLUSTER, Patch("eks", "encryptionConfig.provider.keyArn", ""))),
        unknown=u(PASSES, Patch("eks", "encryptionConfig.provider.keyArn", U))),
    "eks-control-plane-logging": Case(
        passing=(ok(),), failing=(fail(CLUSTER, Patch("eks", "enabledClusterLogTypes", ["api"])),
                                  fail(CLUSTER, Patch("eks", "enabledClusterLogTypes", DROP))),
        unknown=u(DEFERRED, Patch("eks", "enabledClusterLogTypes", U))),
    "eks-supported-version": Case(
        passing=(ok(), ok(Patch("eks", "version", "1.35"))),
        failing=(fail(CLUSTER, Patch("eks", "version", "1.29")), fail(CLUSTER, Patch("eks", "version", DROP)),
                 fail(CLUSTER, Patch("eks", "version", "1.31"))),  # 1.31 left standard support 2025-11-26
        unknown=u(DEFERRED, Patch("eks", "version", U))),
    "eks-access-entries": Case(
        passing=(ok(),),
        failing=(fail(CLUSTER, Patch("eks", "accessConfig.authenticationMode", "API_AND_CONFIG_MAP")),
                 fail(CLUSTER, Patch("eks", "accessConfig", DROP))),
        unknown=u(DEFERRED, Patch("eks", "accessConfig.authenticationMode", U))),
    # --- nodes ----------------------------------------------------------------------------------
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
    # --- S3 -------------------------------------------------------------------------------------
    "s3-public-access-block": Case(
        passing=(ok(), ok(Patch("data-pab", "bucket", U))),  # unknown name: resolved through dependencies
        failing=(fail(DATA, Patch("data-pab", "blockPublicPolicy", False)), fail(DATA, Drop("data-pab"))),
        unknown=u(DEFERRED, Patch("data-pab", "restrictPublicBuckets", U))),
    "s3-sse-kms": Case(
        passing=(ok(), ok(Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", U))),
        failing=(fail(DATA, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault",
                                  {"sseAlgorithm": "AES256"})),
                 fail(DATA, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", DROP)),
                 fail(DATA, Drop("data-sse")),
                 fail(LOGS, Patch("logs-sse", "rules", []))),
        unknown=u(DEFERRED, Patch("data-sse", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", U))),
    "s3-versioning": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-versioning", "versioningConfiguration.status", "Suspended")),
                 fail(LOGS, Drop("logs-versioning"))),
        unknown=u(DEFERRED, Patch("data-versioning", "versioningConfiguration.status", U))),
    "s3-access-logging": Case(
        passing=(ok(), ok(Patch("data-logging", "bucket", U))),
        # without its only BucketLogging, the log bucket is no longer a log sink either
        failing=(fail((DATA, LOGS), Drop("data-logging")),),
        # an unknown bucket reference with no dependency to follow cannot be attributed: deferred
        unknown=u(DEFERRED, Drop("data-logging"), Add(res("aws:s3/bucketLogging:BucketLogging", "orphan-logging", {
            "bucket": U, "targetBucket": "acme-test-logs"})))),
    "s3-lifecycle-abort-multipart": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-lifecycle", "rules.0.abortIncompleteMultipartUpload", DROP)),
                 fail(DATA, Patch("data-lifecycle", "rules.0.status", "Disabled")), fail(DATA, Drop("data-lifecycle"))),
        unknown=u(DEFERRED, Patch("data-lifecycle", "rules.0.abortIncompleteMultipartUpload.daysAfterInitiation", U))),
    "s3-tls-only": Case(
        passing=(ok(),),
        failing=(fail(DATA, Patch("data-policy", "policy", doc(allow(
            "s3:GetObject", "arn:aws:s3:::x/*", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"})))),
                 fail(DATA, Drop("data-policy"))),
        unknown=u(DEFERRED, Patch("data-policy", "policy", U))),
    "s3-no-public-principal": Case(
        passing=(ok(), ok(Patch("data-policy", "policy", doc(allow(
            "s3:GetObject", "arn:aws:s3:::acme-test-data/*", Principal="*",
            Condition={"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}))))),
        failing=(fail(on("aws:s3/bucketPolicy:BucketPolicy", "data-policy"), Patch("data-policy", "policy", doc(
            allow("s3:GetObject", "arn:aws:s3:::acme-test-data/*", Principal={"AWS": "*"})))),
                 fail(DATA, Patch("data", "policy", doc(allow("s3:*", "*", Principal="*"))))),
        unknown=u(DEFERRED, Patch("data-policy", "policy", U))),
    "s3-no-public-acl": Case(
        passing=(ok(), ok(Patch("data", "acl", "private"))),
        failing=(fail(DATA, Patch("data", "acl", "public-read")),
                 fail(on("aws:s3/bucketAcl:BucketAcl", "acl"), Add(res("aws:s3/bucketAcl:BucketAcl", "acl", {
                     "bucket": "acme-test-data", "acl": "public-read-write"})))),
        unknown=u(DEFERRED, Patch("data", "acl", U))),
    # --- ECR ------------------------------------------------------------------------------------
    "ecr-immutable-tags": Case(
        passing=(ok(),), failing=(fail(REPO, Patch("repo", "imageTagMutability", "MUTABLE")),
                                  fail(REPO, Patch("repo", "imageTagMutability", DROP))),
        unknown=u(DEFERRED, Patch("repo", "imageTagMutability", U))),
    "ecr-scan-on-push": Case(
        passing=(ok(),), failing=(fail(REPO, Patch("repo", "imageScanningConfiguration", DROP)),),
        unknown=u(DEFERRED, Patch("repo", "imageScanningConfiguration.scanOnPush", U))),
    "ecr-kms-encryption": Case(
        passing=(ok(), ok(Patch("repo", "encryptionConfigurations.0.kmsKey", U))),
        failing=(fail(REPO, Patch("repo", "encryptionConfigurations", DROP)),
                 fail(REPO, Patch("repo", "encryptionConfigurations", [{"encryptionType": "KMS"}]))),
        unknown=u(PASSES, Patch("repo", "encryptionConfigurations.0.kmsKey", U))),
    "ecr-no-public-policy": Case(
        passing=(ok(),),
        failing=(fail(on("aws:ecr/repositoryPolicy:RepositoryPolicy", "repo-policy"), Patch(
            "repo-policy", "policy", doc({"Effect": "Allow", "Principal": "*", "Action": "ecr:*"}))),),
        unknown=u(DEFERRED, Patch("repo-policy", "policy", U))),
    "ecr-lifecycle-policy": Case(
        passing=(ok(), ok(Patch("repo-lifecycle", "repository", U))),
        failing=(fail(REPO, Drop("repo-lifecycle")),
                 fail(REPO, Patch("repo-lifecycle", "repository", "other-repo"))),
        unknown=u(PASSES, Patch("repo-lifecycle", "repository", U))),
    # --- IAM ------------------------------------------------------------------------------------
    "iam-no-admin": Case(
        passing=(ok(),),
        failing=(fail(APP_POLICY, app_doc(allow("*", "*"))),
                 fail(on("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "node-worker"), Patch(
                     "node-worker", "policyArn", "arn:aws:iam::aws:policy/AdministratorAccess")),
                 fail(APP_ROLE, Patch("app-role", "managedPolicyArns", ["arn:aws:iam::aws:policy/PowerUserAccess"]))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-wildcard-action": Case(
        passing=(ok(),),
        failing=(fail(APP_POLICY, app_doc(allow("s3:*", "arn:aws:s3:::acme-test-data/projects/fraud/*"))),
                 fail(APP_ROLE, Patch("app-role", "inlinePolicies", [{"name": "x", "policy": doc(
                     {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})}]))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-wildcard-resource": Case(
        passing=(ok(), ok(app_doc(allow(["ecr:GetAuthorizationToken", "ec2:DescribeInstances"], "*")))),
        failing=(fail(APP_POLICY, app_doc(allow("s3:PutObject", "*"))),),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-no-privilege-escalation": Case(
        passing=(ok(), ok(app_doc(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/x")))),
        failing=(fail(APP_POLICY, app_doc(allow(["iam:PassRole", "s3:GetObject"], "*"))),
                 fail(APP_POLICY, app_doc(allow("iam:*", "*")))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    "iam-restricted-trust": Case(
        passing=(ok(),),
        failing=(fail(on("aws:iam/role:Role", "node-role"), Patch("node-role", "assumeRolePolicy", doc(
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
                     {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN},
                      "Action": "sts:AssumeRoleWithWebIdentity"})))),
        unknown=u(DEFERRED, Patch("app-role", "assumeRolePolicy", U))),
    "github-pull-request-read-only": Case(
        passing=(ok(), ok(gh_role(PULL_REQUESTS), gh_policy(*READS)),
                 ok(gh_role("repo:org/fraud:ref:refs/heads/main"), gh_policy(*PUSH)),  # a deploy role
                 ok(gh_role(["repo:org/fraud:environment:prod", "repo:org/fraud:ref:refs/heads/*"], "StringLike"),
                    gh_policy(*PUSH)),
                 ok(gh_role("repo:org/fraud:*", "StringLike", excluding="repo:*:pull_request"), gh_policy(*PUSH))),
        failing=(fail(PR_ROLE, gh_role(PULL_REQUESTS), gh_policy(*PUSH)),
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
    # --- KMS, logs, RDS -------------------------------------------------------------------------
    "kms-rotation": Case(
        passing=(ok(), ok(Patch("key", "customerMasterKeySpec", "RSA_2048"), Patch("key", "enableKeyRotation", False))),
        failing=(fail(KEY, Patch("key", "enableKeyRotation", False)),
                 fail(KEY, Patch("key", "enableKeyRotation", DROP))),
        unknown=u(DEFERRED, Patch("key", "enableKeyRotation", U))),
    "kms-safe-key-policy": Case(
        passing=(ok(), ok(Patch("key", "policy", DROP))),
        failing=(fail(KEY, Patch("key", "policy", doc(allow("kms:Decrypt", "*", Principal="*")))),
                 fail(KEY, Patch("key", "bypassPolicyLockoutSafetyCheck", True))),
        unknown=u(DEFERRED, Patch("key", "policy", U))),
    "logs-retention": Case(
        passing=(ok(), ok(Patch("cp-logs", "retentionInDays", 365))),
        failing=(fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "retentionInDays", 30)),
                 fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "retentionInDays", DROP))),
        unknown=u(DEFERRED, Patch("cp-logs", "retentionInDays", U))),
    "logs-kms-encryption": Case(
        passing=(ok(), ok(Patch("cp-logs", "kmsKeyId", U))),
        failing=(fail(on("aws:cloudwatch/logGroup:LogGroup", "cp-logs"), Patch("cp-logs", "kmsKeyId", DROP)),),
        unknown=u(PASSES, Patch("cp-logs", "kmsKeyId", U))),
    "rds-storage-encrypted": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "storageEncrypted", DROP)),),
        unknown=u(DEFERRED, Patch("db", "storageEncrypted", U))),
    "rds-not-public": Case(
        passing=(ok(), ok(Patch("db", "publiclyAccessible", DROP))),
        failing=(fail(DB, Patch("db", "publiclyAccessible", True)),),
        unknown=u(DEFERRED, Patch("db", "publiclyAccessible", U))),
    "rds-backups": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "backupRetentionPeriod", 1)),
                                  fail(DB, Patch("db", "backupRetentionPeriod", DROP))),
        unknown=u(DEFERRED, Patch("db", "backupRetentionPeriod", U))),
    "rds-deletion-protection": Case(
        passing=(ok(),), failing=(fail(DB, Patch("db", "deletionProtection", False)),),
        unknown=u(DEFERRED, Patch("db", "deletionProtection", U))),
    # --- Kubernetes workloads -------------------------------------------------------------------
    "k8s-resources": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.resources.limits", {"nvidia.com/gpu": 1})),
                                  fail(DEPLOY, deploy(f"{C0}.resources", DROP))),
        unknown=u(DEFERRED, deploy(f"{C0}.resources", U))),
    "k8s-image-pinned": Case(
        passing=(ok(), ok(deploy(f"{C0}.image", "public.ecr.aws/x/y@sha256:" + "a" * 64))),
        failing=(fail(DEPLOY, deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx:latest")),
                 fail(DEPLOY, deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx"))),
        unknown=u(DEFERRED, deploy(f"{C0}.image", U))),
    "k8s-allowed-registries": Case(
        passing=(ok(), ok(deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx:1.27"))),
        failing=(fail(DEPLOY, deploy(f"{C0}.image", "nginx:1.27")),
                 fail(DEPLOY, deploy(f"{C0}.image", "ghcr.io/acme/model:1.0"))),
        unknown=u(DEFERRED, deploy(f"{C0}.image", U))),
    "k8s-run-as-non-root": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{POD}.securityContext.runAsNonRoot", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.runAsUser", 0))),
        unknown=u(DEFERRED, deploy(f"{POD}.securityContext.runAsNonRoot", U))),
    "k8s-no-privilege-escalation": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.allowPrivilegeEscalation", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.privileged", True))),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.allowPrivilegeEscalation", U))),
    "k8s-drop-capabilities": Case(
        passing=(ok(), ok(deploy(f"{C0}.securityContext.capabilities.add", ["NET_BIND_SERVICE"]))),
        failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.capabilities", DROP)),
                 fail(DEPLOY, deploy(f"{C0}.securityContext.capabilities.add", ["SYS_ADMIN"]))),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.capabilities", U))),
    "k8s-seccomp": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{POD}.securityContext.seccompProfile", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.seccompProfile", {"type": "Unconfined"}))),
        unknown=u(DEFERRED, deploy(f"{POD}.securityContext.seccompProfile.type", U))),
    "k8s-read-only-root-fs": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.readOnlyRootFilesystem", False)),),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.readOnlyRootFilesystem", U))),
    "k8s-no-host-namespaces": Case(
        passing=(ok(), ok(deploy(f"{POD}.hostNetwork", False))),
        failing=(fail(DEPLOY, deploy(f"{POD}.hostNetwork", True)), fail(DEPLOY, deploy(f"{POD}.hostPID", True))),
        unknown=u(DEFERRED, deploy(f"{POD}.hostIPC", U))),
    "k8s-no-host-path": Case(
        passing=(ok(), ok(deploy(f"{POD}.volumes", [{"name": "tmp", "emptyDir": {}}]))),
        failing=(fail(DEPLOY, deploy(f"{POD}.volumes", [{"name": "sock", "hostPath": {"path": "/var/run"}}])),),
        unknown=u(DEFERRED, deploy(f"{POD}.volumes", U))),
    "k8s-probes": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.readinessProbe", DROP)),),
        unknown=u(PASSES, deploy(f"{C0}.livenessProbe", U))),
    "k8s-no-secrets-in-env": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.env.1", {"name": "DB_PASSWORD", "value": "hunter2"})),
                                  fail(DEPLOY, deploy(f"{C0}.env.0", {"name": "X", "value": "AKIAABCDEFGHIJKLMNOP"}))),
        unknown=u(PASSES, deploy(f"{C0}.env.1", {"name": "DB_PASSWORD", "value": U}))),
    "k8s-no-public-loadbalancer": Case(
        passing=(ok(), ok(Patch("fraud-svc", "spec.type", "LoadBalancer"), Patch(
            "fraud-svc", "metadata.annotations", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}))),
        failing=(fail(on("kubernetes:core/v1:Service", "fraud-svc"), Patch("fraud-svc", "spec.type", "LoadBalancer")),),
        unknown=u(DEFERRED, Patch("fraud-svc", "spec.type", U))),
    "helm-release-pinned": Case(
        passing=(ok(),), failing=(fail(on("kubernetes:helm.sh/v3:Release", "monitoring"),
                                       Patch("monitoring", "version", DROP)),
                                  fail(on("kubernetes:helm.sh/v3:Release", "monitoring"),
                                       Patch("monitoring", "version", "^65.0.0"))),
        unknown=u(DEFERRED, Patch("monitoring", "version", U))),
    "k8s-serving-availability": Case(
        passing=(ok(), ok(Patch("fraud-serving", "metadata.namespace", U))),  # namespace through dependencies
        failing=(fail(DEPLOY, deploy("spec.replicas", 1)), fail(DEPLOY, Drop("fraud-pdb")),
                 fail(DEPLOY, deploy(f"{POD}.topologySpreadConstraints", DROP)),
                 fail(on("kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc"), Add(res(
                     "kubernetes:serving.kserve.io/v1beta1:InferenceService", "isvc", {
                         "metadata": {"name": "fraud", "namespace": "fraud"},
                         "spec": {"predictor": {"minReplicas": 0, "model": {"modelFormat": {"name": "sklearn"}}}}})))),
        unknown=u(DEFERRED, deploy("spec.replicas", U))),
    "k8s-namespace-pod-security": Case(
        passing=(ok(), ok(Patch("fraud-ns", "metadata.labels", {"pod-security.kubernetes.io/enforce": "baseline"}))),
        failing=(fail(NAMESPACE, Patch("fraud-ns", "metadata.labels", {"mlops.io/project": "fraud"})),
                 fail(NAMESPACE, Patch("fraud-ns", "metadata.labels", {
                     "mlops.io/project": "fraud", "pod-security.kubernetes.io/enforce": "privileged"}))),
        unknown=u(DEFERRED, Patch("fraud-ns", "metadata.labels", U))),
    "k8s-networkpolicy-per-namespace": Case(
        passing=(ok(), ok(Patch("fraud-deny", "metadata.namespace", U))),
        failing=(fail(on("kubernetes:core/v1:Namespace", "fraud-ns"), Drop("fraud-deny")),),
        unknown=u(PASSES, Patch("fraud-deny", "metadata.namespace", U))),
    # --- tags -----------------------------------------------------------------------------------
    "required-tags": Case(
        passing=(ok(), ok(Patch("key", "tags.owner", U))),
        failing=(fail(KEY, Patch("key", "tags.owner", DROP)),
                 fail(KEY, Patch("key", "tags", DROP))),
        unknown=u(DEFERRED, Patch("key", "tags", U))),
    # --- GPU ------------------------------------------------------------------------------------
    "gpu-nodegroup-tainted": Case(
        passing=(ok(),), failing=(fail(GPU, Patch("gpu-l4", "taints", DROP)),
                                  fail(GPU, Patch("gpu-l4", "taints.0.effect", "PREFER_NO_SCHEDULE"))),
        unknown=u(DEFERRED, Patch("gpu-l4", "taints", U))),
    "gpu-ami-matches-instance": Case(
        passing=(ok(), ok(Patch("gpu-l4", "amiType", "BOTTLEROCKET_x86_64_NVIDIA"))),
        failing=(fail(GPU, Patch("gpu-l4", "amiType", "AL2023_x86_64_STANDARD")),
                 fail(SYSTEM, Patch("system", "amiType", "AL2023_x86_64_NVIDIA")),
                 fail(GPU, Patch("gpu-l4", "instanceTypes", ["g5g.xlarge"]))),  # Graviton GPU with an x86 AMI
        unknown=u(DEFERRED, Patch("gpu-l4", "amiType", U))),
    "gpu-total-cap": Case(
        passing=(ok(), ok(Patch("gpu-l4", "scalingConfig.maxSize", 8))),
        failing=(fail(STACK_LEVEL, Patch("gpu-l4", "scalingConfig.maxSize", 9)),
                 fail(STACK_LEVEL, Patch("gpu-l4", "instanceTypes", ["g6.12xlarge"])),  # 4 x 4 GPUs = 16 > 8
                 fail(GPU, Patch("gpu-l4", "instanceTypes", ["g9.xlarge"]))),  # not in the catalog
        unknown=u(DEFERRED, Patch("gpu-l4", "scalingConfig.maxSize", U))),
    "gpu-workload-limits": Case(
        passing=(ok(),),
        failing=(fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi"})),
                 fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi", "nvidia.com/gpu": 2}))),
        unknown=u(DEFERRED, deploy(f"{C0}.resources.limits", U))),
    "gpu-workload-tolerates-taint": Case(
        passing=(ok(), ok(deploy(f"{POD}.tolerations", [{"operator": "Exists"}]))),
        failing=(fail(DEPLOY, deploy(f"{POD}.tolerations", DROP)),
                 fail(DEPLOY, deploy(f"{POD}.tolerations", [{"key": "nvidia.com/gpu", "value": "false",
                                                             "effect": "NoSchedule"}]))),
        unknown=u(DEFERRED, deploy(f"{POD}.tolerations", U))),
    "gpu-workload-targets-pool": Case(
        passing=(ok(), ok(deploy(f"{POD}.nodeSelector", {"mlops.io/gpu-type": "l4"}))),
        failing=(fail(DEPLOY, deploy(f"{POD}.nodeSelector", {"mlops.io/pool": "a100"})),
                 fail(DEPLOY, deploy(f"{POD}.nodeSelector", DROP)),
                 fail(DEPLOY, deploy(f"{C0}.resources.limits", {"memory": "4Gi", "nvidia.com/gpu": 4}))),
        unknown=u(DEFERRED, deploy(f"{POD}.nodeSelector", U))),
    # --- IRSA -----------------------------------------------------------------------------------
    "irsa-trust-pinned": Case(
        passing=(ok(),),
        failing=(fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
            {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {f"{ISSUER}:sub": "system:serviceaccount:fraud:fraud-workload"}}}))),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", doc(
                     {"Effect": "Allow", "Principal": {"Federated": OIDC_ARN},
                      "Action": "sts:AssumeRoleWithWebIdentity",
                      "Condition": {"StringLike": {f"{ISSUER}:sub": "system:serviceaccount:fraud:*"},
                                    "StringEquals": {f"{ISSUER}:aud": "sts.amazonaws.com"}}})))),
        unknown=u(DEFERRED, Patch("app-role", "assumeRolePolicy", U))),
    "irsa-serviceaccount-binding": Case(
        passing=(ok(), ok(Patch("fraud-sa", "metadata.annotations", {"eks.amazonaws.com/role-arn": U}))),
        failing=(fail(APP_ROLE, Patch("fraud-sa", "metadata.name", "other")),
                 fail(APP_ROLE, Patch("app-role", "assumeRolePolicy", irsa_trust("fraud", "someone-else"))),
                 fail(APP_ROLE, Add(res("kubernetes:core/v1:ServiceAccount", "stowaway", {"metadata": {
                     "name": "stowaway", "namespace": "fraud",
                     "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/fraud-workload"}}})))),
        unknown=u(PASSES, Patch("fraud-sa", "metadata.annotations", {"eks.amazonaws.com/role-arn": U}))),
    "irsa-s3-prefix-scoped": Case(
        passing=(ok(),),
        failing=(fail(APP_ROLE, app_doc(allow("s3:GetObject", "arn:aws:s3:::acme-test-data/*"))),
                 fail(APP_ROLE, app_doc(allow("s3:ListBucket", "arn:aws:s3:::acme-test-data"))),
                 fail(APP_ROLE, Patch("app-policy", "policy", json.dumps(json.loads(s3_prefix_policy(
                     "*", "")))))),
        unknown=u(DEFERRED, Patch("app-policy", "policy", U))),
    # --- budgets --------------------------------------------------------------------------------
    "budget-environment": Case(
        passing=(ok(),), failing=(fail(STACK_LEVEL, Drop("env-budget")),
                                  fail(STACK_LEVEL, Patch("env-budget", "timeUnit", "ANNUALLY"))),
        unknown=u(DEFERRED, Patch("env-budget", "timeUnit", U))),
    "budget-per-project": Case(
        passing=(ok(),), failing=(fail(on("kubernetes:core/v1:Namespace", "fraud-ns"), Drop("fraud-budget")),),
        unknown=u(DEFERRED, Patch("fraud-ns", "metadata.labels", {"mlops.io/project": U}))),
    "budget-covers-estimate": Case(
        passing=(ok(),),
        failing=(fail((STACK_LEVEL, ENV_BUDGET), estimated_monthly_p90_usd=6000.0),
                 fail(STACK_LEVEL, estimated_monthly_p90_usd=4500.0, monthly_budget_usd=4000.0),
                 fail(ENV_BUDGET, Patch("env-budget", "limitAmount", "2000.00"))),
        unknown=u(DEFERRED, Patch("env-budget", "limitAmount", U))),
    "budget-notifications": Case(
        passing=(ok(),), failing=(fail(ENV_BUDGET, Patch("env-budget", "notifications", [])),
                                  fail(ENV_BUDGET, Patch("env-budget", NOTIFY, []))),
        unknown=u(PASSES, Patch("env-budget", NOTIFY, U))),
}
