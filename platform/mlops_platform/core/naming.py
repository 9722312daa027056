"""Names of global and per-project resources: one place, so the platform, templates and policies agree."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Protocol


class EnvironmentNames(Protocol):
    """What names are built from: the environment section of a stack (`config.sections.EnvironmentConfig`).
    A protocol, so the bottom layer does not import the configuration layer above it."""

    @property
    def name_prefix(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def account_id(self) -> str: ...


def bucket_name(env: EnvironmentNames, role: str) -> str:
    """Globally unique S3 bucket name: prefix, environment, role and account id."""
    return f"{env.name_prefix}-{env.name}-{role}-{env.account_id}"


def project_namespace(project: str) -> str:
    return project


def project_service_account(project: str) -> str:
    return f"{project}-workload"


def project_pipeline_service_account(project: str) -> str:
    """ServiceAccount the project's pipeline steps run as (its own IRSA role: S3 prefix + ECR pull)."""
    return f"{project}-pipeline"


def project_deployers(project: str) -> str:
    """Kubernetes group of the project's CI deploy role: bound to the deploy Role in its namespace only."""
    return f"mlops:{project}:deployers"


def project_previewers(project: str) -> str:
    """Kubernetes group of the project's pull-request preview role: reads what the deploy role manages."""
    return f"mlops:{project}:previewers"


def project_pipeline_submitters(project: str) -> str:
    """Kubernetes group of the project's CI role: bound to submitting Workflows in its namespace only."""
    return f"mlops:{project}:pipeline-submitters"


def ecr_repository(cluster_name: str, name: str) -> str:
    """Physical ECR repository name: repositories are per account and region, so two environments of
    one account each prefix theirs with their cluster name (`mlops-dev/base-images`)."""
    return f"{cluster_name}/{name}"


def project_repository(project: str, cluster_name: str) -> str:
    return ecr_repository(cluster_name, f"projects/{project}")


#: IAM role names are limited to 64 characters.
IAM_NAME_MAX = 64


def iam_name(*parts: str, limit: int = IAM_NAME_MAX) -> str:
    """`a-b-c`, or a truncated form with a stable hash suffix when too long (still unique per input)."""
    full = "-".join(parts)
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: limit - 9].rstrip('-')}-{digest}"


class ProjectRole(StrEnum):
    """The IAM roles every project gets."""

    WORKLOAD = "workload"  # IRSA role of its pods (trust: its ServiceAccount)
    CI = "ci"  # GitHub Actions push and deploy (trust: its branches and environments)
    CI_PREVIEW = "ci-preview"  # GitHub Actions pull-request previews, read-only (trust: its pull requests)
    # GitHub Actions continuous training: its S3 prefixes + tracking only (trust: the training workflow)
    TRAINING = "training"
    PIPELINE = "pipeline"  # IRSA role of its pipeline steps in the cluster (trust: its pipeline ServiceAccount)


def project_role_name(cluster_name: str, project: str, role: ProjectRole) -> str:
    """The name the tenancy layer gives a project role, and `mlplat new` wires before it exists."""
    return iam_name(cluster_name, project, role.value)


#: Bucket roles of the artifact store in which every project gets a `projects/<name>/` prefix.
PROJECT_BUCKET_ROLES = ("datasets", "models")


def project_prefix(project: str) -> str:
    return f"projects/{project}/"


def resource_name(env_name: str, *parts: str) -> str:
    """Logical Pulumi resource names inside an environment (stable: renames replace resources)."""
    return "-".join((env_name, *parts))


def deploy_runner_name(cluster_name: str) -> str:
    """CodeBuild project, security group and role of an environment's in-VPC deploy runner."""
    return iam_name(cluster_name, "deployer")


#: Where `mlplat` users upload the checkout the in-VPC runner deploys (in the environment's state bucket).
DEPLOY_SOURCE_KEY = "deployer/{env}/source.zip"


def state_key_alias(env: EnvironmentNames) -> str:
    """Alias of the KMS key `mlplat bootstrap` creates: the Pulumi secrets provider and the state bucket's
    SSE-KMS default encryption."""
    return f"alias/{env.name_prefix}-{env.name}-pulumi-secrets"
#: The account's Auto Scaling service-linked role (the EBS key policy names it).
#: https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-service-linked-role.html
AUTOSCALING_SERVICE_ROLE = "AWSServiceRoleForAutoScaling"
SPOT_SERVICE_ROLE = "AWSServiceRoleForEC2Spot"
