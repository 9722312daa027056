"""Names of global and per-project resources: one place, so the platform, templates and policies agree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_platform.config.schema import EnvironmentConfig


def bucket_name(env: EnvironmentConfig, role: str) -> str:
    """Globally unique S3 bucket name: prefix, environment, role and account id."""
    return f"{env.name_prefix}-{env.name}-{role}-{env.account_id}"


def project_namespace(project: str) -> str:
    return project


def project_service_account(project: str) -> str:
    return f"{project}-workload"


def project_repository(project: str) -> str:
    return f"projects/{project}"


def project_prefix(project: str) -> str:
    return f"projects/{project}/"


def resource_name(env_name: str, *parts: str) -> str:
    """Logical Pulumi resource names inside an environment (stable: renames replace resources)."""
    return "-".join((env_name, *parts))
