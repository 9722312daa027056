"""Plan JSON builders for policy tests: a secure reference stack every policy passes, and variants of it.

Resources are written camelCase, exactly as the engine hands them to the analyzer. A variant is the
reference stack with patches (`Patch`), removed resources (`Drop`) or extra resources (`Add`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mlops_platform.policy import Enforcement, PolicyPackConfig, PolicySettings
from mlops_platform.policy.sdk.values import UNKNOWN_WIRE_VALUE as U

STACK, PROJECT = "test", "fixtures"
ACCOUNT, REGION = "123456789012", "us-east-1"
ISSUER = "oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
OIDC_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER}"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"environment": "test", "owner": "ml-platform@example.com", "cost-center": "ml", "managed-by": "mlops-platform"}
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/projects/fraud:1.2.0"
DROP = object()  # a Patch value that removes the key
#: Settings every fixture evaluates with (a fixed date keeps support-window checks reproducible).
SETTINGS: dict[str, Any] = {"as_of": date(2026, 11, 1), "max_total_gpus": 8, "monthly_budget_usd": 5000.0,
                            "estimated_monthly_p90_usd": 3000.0}

__all__ = ["DROP", "Add", "Drop", "Patch", "U", "base", "config_for", "res", "urn", "variant"]


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{type_}::{name}"


def res(type_: str, name: str, inputs: dict[str, Any], deps: Iterable[str] = ()) -> dict[str, Any]:
    """One plan resource; `deps` are names of other resources (URNs are derived when the plan is built)."""
    return {"urn": urn(type_, name), "type": type_, "name": name, "parent": None, "dependencies": list(deps),
            "inputs": copy.deepcopy(inputs)}  # no shared sub-objects (TAGS): a patch touches one resource


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _cluster_and_nodes() -> list[dict[str, Any]]:
    lt = {"metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
          "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeType": "gp3",
                                                                       "kmsKeyId": KEY_ARN}}], "tags": TAGS}

    def group(name: str, types: list[str], ami: str, labels: dict[str, str], **extra: Any) -> dict[str, Any]:
        return res("aws:eks/nodeGroup:NodeGroup", name, {
            "clusterName": "test", "nodeGroupName": name, "version": "1.35", "instanceTypes": types, "amiType": ami,
            "scalingConfig": {"minSize": 0, "desiredSize": 1, "maxSize": 4}, "labels": labels,
            "launchTemplate": {"id": "lt-0123456789abcdef0", "version": "1"}, "tags": TAGS, **extra}, ["nodes-lt"])
    gpu_taint = [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    return [
        res("aws:eks/cluster:Cluster", "eks", {
            "vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True, "subnetIds": ["subnet-1"]},
            "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": KEY_ARN}},
            "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
            "version": "1.35", "accessConfig": {"authenticationMode": "API",
                                                "bootstrapClusterCreatorAdminPermissions": False}, "tags": TAGS}),
        res("aws:ec2/launchTemplate:LaunchTemplate", "nodes-lt", lt),
        res("aws:eks/addon:Addon", "addon-vpc-cni", {"clusterName": "test", "addonName": "vpc-cni",
                                                     "addonVersion": "v1.20.1-eksbuild.3", "tags": TAGS}, ["eks"]),
        group("system", ["m6i.xlarge"], "AL2023_x86_64_STANDARD", {"mlops.io/pool": "system"}),
        group("gpu-l4", ["g6.xlarge"], "AL2023_x86_64_NVIDIA", {"mlops.io/pool": "gpu-l4", "mlops.io/gpu-type": "l4"},
              taints=gpu_taint),
        res("aws:ec2/securityGroup:SecurityGroup", "nodes-sg", {"ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"]}], "tags": TAGS}),
    ]


def _tls_policy(bucket: str) -> str:
    return doc({"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


def _bucket(name: str, bucket: str, sse: dict[str, Any], log_to: str | None) -> list[dict[str, Any]]:
    def companion(kind: str, suffix: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return res(f"aws:s3/{kind}", f"{name}-{suffix}", {"bucket": bucket, **inputs}, [name])
    out = [
        res("aws:s3/bucket:Bucket", name, {"bucket": bucket, "tags": TAGS}),
        companion("bucketPublicAccessBlock:BucketPublicAccessBlock", "pab", {
            "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
            "restrictPublicBuckets": True}),
        companion("bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sse",
                  {"rules": [{"applyServerSideEncryptionByDefault": sse, "bucketKeyEnabled": True}]}),
        companion("bucketVersioning:BucketVersioning", "versioning",
                  {"versioningConfiguration": {"status": "Enabled"}}),
        companion("bucketLifecycleConfiguration:BucketLifecycleConfiguration", "lifecycle", {"rules": [
            {"id": "mpu", "status": "Enabled", "filter": {},
             "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7},
             "noncurrentVersionExpiration": {"noncurrentDays": 90}}]}),
        companion("bucketPolicy:BucketPolicy", "policy", {"policy": _tls_policy(bucket)}),
    ]
    if log_to:
        out.append(companion("bucketLogging:BucketLogging", "logging", {"targetBucket": log_to,
                                                                       "targetPrefix": f"s3/{name}/"}))
    return out


def _storage() -> list[dict[str, Any]]:
    kms = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
    return [*_bucket("logs", "acme-test-logs", {"sseAlgorithm": "AES256"}, None),
            *_bucket("data", "acme-test-data", kms, "acme-test-logs"),
            res("aws:ecr/repository:Repository", "repo", {
                "name": "projects/fraud", "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}], "tags": TAGS}),
            res("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "repo-template", {
                "prefix": "mlops-test/quay", "appliedFors": ["PULL_THROUGH_CACHE"], "imageTagMutability": "MUTABLE",
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}]}),
            res("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repo-lifecycle", {
                "repository": "projects/fraud", "policy": json.dumps({"rules": [{"rulePriority": 1, "action": {
                    "type": "expire"}, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
                                                     "countUnit": "days", "countNumber": 7}}]})}, ["repo"]),
            res("aws:ecr/repositoryPolicy:RepositoryPolicy", "repo-policy", {
                "repository": "projects/fraud", "policy": doc(
                    {"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                     "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]})}, ["repo"]),
            res("aws:kms/key:Key", "key", {
                "enableKeyRotation": True, "description": "test", "tags": TAGS, "policy": doc(
                    {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                     "Action": "kms:*", "Resource": "*"})}),
            res("aws:cloudwatch/logGroup:LogGroup", "cp-logs", {"retentionInDays": 90, "kmsKeyId": KEY_ARN,
                                                                 "tags": TAGS}),
            res("aws:rds/instance:Instance", "db", {"engine": "postgres", "instanceClass": "db.t4g.medium",
                                                    "storageEncrypted": True, "publiclyAccessible": False,
                                                    "backupRetentionPeriod": 14, "deletionProtection": True,
                                                    "kmsKeyId": KEY_ARN, "tags": TAGS})]


def irsa_trust(namespace: str, sa: str) -> str:
    return doc({"Effect": "Allow", "Principal": {"Federated": OIDC_ARN}, "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{ISSUER}:sub": f"system:serviceaccount:{namespace}:{sa}",
                                               f"{ISSUER}:aud": "sts.amazonaws.com"}}})


def s3_prefix_policy(bucket: str, prefix: str) -> str:
    return doc({"Sid": "Objects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"},
               {"Sid": "List", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}})


def _iam() -> list[dict[str, Any]]:
    node_trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    return [
        res("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "oidc", {
            "url": f"https://{ISSUER}", "clientIdLists": ["sts.amazonaws.com"], "tags": TAGS}),
        res("aws:iam/role:Role", "app-role", {"name": "fraud-workload", "assumeRolePolicy": irsa_trust(
            "fraud", "fraud-workload"), "tags": TAGS}, ["oidc"]),
        res("aws:iam/rolePolicy:RolePolicy", "app-policy", {
            "role": "fraud-workload", "policy": s3_prefix_policy("acme-test-data", "projects/fraud/")}, ["app-role"]),
        res("aws:iam/role:Role", "node-role", {"assumeRolePolicy": node_trust, "tags": TAGS}),
        res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "node-worker", {
            "role": "node-role", "policyArn": "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"}, ["node-role"]),
    ]


def serving_container() -> dict[str, Any]:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}}
    return {"name": "model", "image": IMAGE,
            "resources": {"requests": {"cpu": "1", "memory": "4Gi", "nvidia.com/gpu": 1},
                          "limits": {"memory": "4Gi", "nvidia.com/gpu": 1}},
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
            "readinessProbe": probe, "livenessProbe": probe,
            "env": [{"name": "MODEL_URI", "value": "s3://acme-test-data/projects/fraud/model"},
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]}


def _kubernetes() -> list[dict[str, Any]]:
    labels = {"app": "fraud", "app.kubernetes.io/component": "serving"}
    pod = {"serviceAccountName": "fraud-workload", "containers": [serving_container()],
           "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
           "nodeSelector": {"mlops.io/pool": "gpu-l4"},
           "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
           "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                          "whenUnsatisfiable": "ScheduleAnyway",
                                          "labelSelector": {"matchLabels": labels}}]}
    meta = {"namespace": "fraud"}
    return [
        res("kubernetes:core/v1:Namespace", "fraud-ns", {"metadata": {"name": "fraud", "labels": {
            "mlops.io/project": "fraud", "pod-security.kubernetes.io/enforce": "restricted"}}}),
        res("kubernetes:networking.k8s.io/v1:NetworkPolicy", "fraud-deny", {
            "metadata": {**meta, "name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}},
            ["fraud-ns"]),
        res("kubernetes:core/v1:ServiceAccount", "fraud-sa", {"metadata": {
            **meta, "name": "fraud-workload",
            "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/fraud-workload"}}},
            ["fraud-ns", "app-role"]),
        res("kubernetes:apps/v1:Deployment", "fraud-serving", {
            "metadata": {**meta, "name": "fraud-serving", "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": pod}}}, ["fraud-ns"]),
        res("kubernetes:policy/v1:PodDisruptionBudget", "fraud-pdb", {
            "metadata": meta, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "fraud"}}}},
            ["fraud-ns"]),
        res("kubernetes:core/v1:Service", "fraud-svc", {
            "metadata": meta, "spec": {"type": "ClusterIP", "selector": labels, "ports": [{"port": 80}]}}),
        res("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "fraud-route", {
            "metadata": {**meta, "name": "fraud"}, "spec": {
                "parentRefs": [{"name": "models", "namespace": "fraud"}],
                "hostnames": ["fraud.fraud.models.internal"],
                "rules": [{"backendRefs": [{"name": "fraud-serving", "port": 80}]}]}}, ["fraud-ns"]),
        res("kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy", "fraud-auth", {
            "metadata": {**meta, "name": "inference-auth"}, "spec": {
                "targetSelectors": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                "apiKeyAuth": {"credentialRefs": [{"name": "inference-api-keys"}],
                               "extractFrom": [{"headers": ["x-api-key"]}]}}}, ["fraud-ns"]),
        res("kubernetes:flagger.app/v1beta1:Canary", "fraud-canary", {
            "metadata": {**meta, "name": "fraud-serving"},
            "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "fraud-serving"},
                     "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, "maxWeight": 50,
                                  "metrics": [{"name": "error-rate", "templateRef": {"name": "fraud-error-rate"},
                                               "thresholdRange": {"max": 1}}]}}}, ["fraud-ns", "fraud-serving"]),
        res("kubernetes:helm.sh/v3:Release", "monitoring", {
            "chart": "kube-prometheus-stack", "version": "65.1.0", "namespace": "monitoring", "values": {}}),
    ]


def budget(name: str, tag: str, limit: str) -> dict[str, Any]:
    note = {"comparisonOperator": "GREATER_THAN", "threshold": 80, "thresholdType": "PERCENTAGE",
            "notificationType": "ACTUAL", "subscriberEmailAddresses": ["ml-platform@example.com"]}
    return res("aws:budgets/budget:Budget", name, {
        "budgetType": "COST", "timeUnit": "MONTHLY", "limitAmount": limit, "limitUnit": "USD",
        "costFilters": [{"name": "TagKeyValue", "values": [f"user:{tag}"]}], "notifications": [note], "tags": TAGS})


def base() -> list[dict[str, Any]]:
    """The secure reference stack: every policy of the pack passes it."""
    return [*_cluster_and_nodes(), *_storage(), *_iam(), *_kubernetes(),
            budget("env-budget", "environment$test", "5000.00"), budget("fraud-budget", "project$fraud", "500.00")]


@dataclass(frozen=True)
class Patch:
    """Set (or, with DROP, remove) `path` — dotted, list indexes as numbers — in resource `name`'s inputs."""

    name: str
    path: str | tuple[str, ...]  # a tuple when a key itself has dots ("nvidia.com/gpu")
    value: Any


@dataclass(frozen=True)
class Drop:
    name: str


@dataclass(frozen=True)
class Add:
    resource: dict[str, Any]


Change = Patch | Drop | Add


def _set(inputs: dict[str, Any], path: str | tuple[str, ...], value: Any) -> None:
    parts = path.split(".") if isinstance(path, str) else list(path)
    node: Any = inputs
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DROP:
        node.pop(last, None)
    else:
        node[last] = value


def variant(*changes: Change, start: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A plan JSON: the reference stack (or `start`) with changes applied; dependency names → URNs."""
    resources = copy.deepcopy(start if start is not None else base())
    for change in changes:
        if isinstance(change, Drop):
            assert any(r["name"] == change.name for r in resources), change
            resources = [r for r in resources if r["name"] != change.name]
        elif isinstance(change, Add):
            resources.append(copy.deepcopy(change.resource))
        else:
            target = next(r for r in resources if r["name"] == change.name)
            _set(target["inputs"], change.path, change.value)
    names = {r["name"]: r["urn"] for r in resources}
    for r in resources:
        r["dependencies"] = [names.get(d, d) for d in r["dependencies"] if d in names or d.startswith("urn:")]
    return {"stack": STACK, "resources": resources, "outputs": {}}


@dataclass(frozen=True)
class Only:
    """Evaluate only these policies (everything else disabled), with extra settings."""

    policies: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


def config_for(only: Only | None = None, level: Enforcement = Enforcement.MANDATORY) -> PolicyPackConfig:
    settings = PolicySettings.model_validate({**SETTINGS, **(only.settings if only else {})})
    if only is None:
        return PolicyPackConfig(default=level, settings=settings)
    return PolicyPackConfig(default=Enforcement.DISABLED, policies=dict.fromkeys(only.policies, level),
                            settings=settings)


_PROJECT_RESOURCES = ("app-role", "app-policy", "repo", "repo-lifecycle", "repo-policy", "fraud-ns", "fraud-deny",
                      "fraud-sa", "fraud-serving", "fraud-pdb", "fraud-svc", "fraud-route", "fraud-auth",
                      "fraud-canary", "fraud-budget")


def scaled(projects: int) -> dict[str, Any]:
    """The reference stack with `projects` copies of its project (namespace, IRSA role, repository, budget, ...),
    every cross-reference renamed consistently: a clean plan whose size grows linearly."""
    resources = base()
    template = [r for r in resources if r["name"] in _PROJECT_RESOURCES]
    shared = [r for r in resources if r["name"] not in _PROJECT_RESOURCES]
    text = json.dumps(template)
    for name in ("app-role", "app-policy", "repo-lifecycle", "repo-policy"):
        text = text.replace(f'"{name}"', f'"P-{name}"')
    text = text.replace('"repo"', '"P-repo"')
    copies: list[dict[str, Any]] = []
    for i in range(projects):
        for r in json.loads(text.replace("fraud", f"team{i:04d}").replace('"P-', f'"team{i:04d}-')):
            copies.append({**r, "urn": urn(r["type"], r["name"])})
    return variant(start=shared + copies)
