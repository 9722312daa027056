"""Names a project gets on the platform, before and after onboarding.

Once the platform onboards a project, its `projects` output is the truth. Before that, `mlplat new`
derives the same names the tenancy layer will create, from `mlops_platform.core.naming`, so the generated
repository is already wired correctly when the platform team merges the project entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_platform.core import naming
from mlops_platform.core.contract import PlatformOutputs
from mlops_platform.core.naming import ProjectRole


@dataclass(frozen=True)
class ProjectNames:
    namespace: str
    service_account: str
    #: The pipeline steps' ServiceAccount (ProjectOutput.pipeline_service_account, or its derived name).
    pipeline_service_account: str
    ecr_repository_url: str
    ci_role_arn: str
    ci_preview_role_arn: str
    workload_role_arn: str
    #: Continuous training's own role (ProjectOutput.training_role_arn); platforms older than that output
    #: do not export it: then the name the tenancy layer gives it (ProjectRole.TRAINING).
    training_role_arn: str
    s3_prefixes: dict[str, str] = field(default_factory=dict)
    onboarded: bool = False  # True when the names come from the platform's `projects` output


def project_names(slug: str, outputs: PlatformOutputs) -> ProjectNames:
    """The project's names in this environment: from the outputs when onboarded, else derived."""
    onboarded = outputs.projects.get(slug)
    if onboarded is not None:
        return ProjectNames(
            namespace=onboarded.namespace,
            service_account=onboarded.service_account,
            pipeline_service_account=onboarded.pipeline_service_account
            or naming.project_pipeline_service_account(slug),
            ecr_repository_url=onboarded.ecr_repository_url,
            ci_role_arn=onboarded.ci_role_arn,
            # platforms older than the preview role do not export it: the name it will get
            ci_preview_role_arn=onboarded.ci_preview_role_arn or _role_arn(outputs, slug, ProjectRole.CI_PREVIEW),
            workload_role_arn=onboarded.workload_role_arn,
            training_role_arn=onboarded.training_role_arn or _role_arn(outputs, slug, ProjectRole.TRAINING),
            s3_prefixes=dict(onboarded.s3_prefixes),
            onboarded=True,
        )
    registry = f"{outputs.account_id}.dkr.ecr.{outputs.region}.amazonaws.com"
    return ProjectNames(
        namespace=naming.project_namespace(slug),
        service_account=naming.project_service_account(slug),
        pipeline_service_account=naming.project_pipeline_service_account(slug),
        ecr_repository_url=f"{registry}/{naming.project_repository(slug, outputs.cluster_name)}",
        ci_role_arn=_role_arn(outputs, slug, ProjectRole.CI),
        ci_preview_role_arn=_role_arn(outputs, slug, ProjectRole.CI_PREVIEW),
        workload_role_arn=_role_arn(outputs, slug, ProjectRole.WORKLOAD),
        training_role_arn=_role_arn(outputs, slug, ProjectRole.TRAINING),
        s3_prefixes={
            role: f"s3://{outputs.buckets[role].name}/{naming.project_prefix(slug)}"
            for role in naming.PROJECT_BUCKET_ROLES
            if role in outputs.buckets
        },
    )


def _role_arn(outputs: PlatformOutputs, slug: str, role: naming.ProjectRole) -> str:
    name = naming.project_role_name(outputs.cluster_name, slug, role)
    return f"arn:aws:iam::{outputs.account_id}:role/{name}"
