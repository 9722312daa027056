"""Config sections of the `tenants` layer: tenancy sharding, GitHub wiring and the projects.
Re-exported by `sections`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mlops_platform.config.section_types import (
    BranchName,
    DnsLabel,
    Email,
    _Section,
)
from mlops_platform.core.shards import MAX_SHARDS


class TenantsConfig(_Section):
    """`mlops-platform:tenants` — how the projects are laid out in stacks (docs/scale-out.md)."""

    shards: int = Field(default=1, ge=1, le=MAX_SHARDS, description="Stacks the projects are split into, run "
                        "in parallel by CI (`mlplat shards ENV` lists them); 1 keeps every project in one stack.")


class GithubConfig(_Section):
    """`mlops-platform:github` — the GitHub side of each project's CI trust, managed with pulumi-github."""

    manage: bool = Field(
        default=False,
        description="Per project, manage the repository's GitHub environment named like this environment (deployment "
                    "branch policy: main only; required reviewers in prod) and its OIDC subject claim (repo, "
                    "context, job_workflow_ref); the CI role then trusts only the deploy workflow at refs/heads/main. "
                    "Needs GITHUB_TOKEN with admin rights on the repositories.")
    reviewer_team_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="GitHub team ids whose approval a deployment to this environment "
                                          "waits for (prod needs at least one reviewer).")
    reviewer_user_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="GitHub user ids whose approval a deployment waits for.")
    token_secret: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9/_+=.@-]{1,512}$",
        description="Secrets Manager secret (name) holding the GitHub token the in-VPC deploy runner exports as "
                    "GITHUB_TOKEN. Required when manage is on and the in-VPC runner deploys.")
    subject_claim_managed_elsewhere: bool = Field(
        default=False,
        description="With manage off: the repositories' OIDC subject claim (repo, context, job_workflow_ref) and "
                    "their environment are set outside this stack (an air-gapped runner cannot reach "
                    "api.github.com: docs/air-gapped.md), so the CI roles still trust only the pinned workflows; "
                    "a repository whose claim is not customized matches no trust (fails closed).")

    @property
    def pins_workflows(self) -> bool:
        """The CI roles trust pinned workflow subjects: the claim is managed here or elsewhere."""
        return self.manage or self.subject_claim_managed_elsewhere


class ProjectConfig(_Section):
    """One entry of `mlops-platform:projects` (a tenant)."""

    name: DnsLabel = Field(description="Project slug = namespace name. Required.")
    owners: list[Email] = Field(min_length=1, description="Owner emails; budget alerts go here. Required.")
    github_repo: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="org/repo. Required.")
    branches: list[BranchName] = Field(
        default_factory=lambda: ["main"],
        description="Branches CI may deploy from, each named exactly (no wildcards: they widen the CI role's trust).")
    gpu_quota: int = Field(default=0, ge=0, description="requests.nvidia.com/gpu quota (whole GPUs).")
    gpu_slices: int = Field(
        default=0, ge=0, description="Quota of each shared-GPU resource the environment's pools advertise "
                                     "(nvidia.com/gpu.shared, nvidia.com/mig-<profile>); counted towards the "
                                     "GPU cap as the share of a GPU a slice can be (docs/gpu.md).")
    fair_share_weight: float = Field(
        default=1.0, ge=0, le=100,
        description="Kueue fair-sharing weight of the project's ClusterQueue (with queueing.cohort_borrowing): "
                    "between borrowers, a queue's share of the cohort's idle quota grows with its weight; 0 borrows "
                    "last and is preempted first.")
    cpu_quota: int = Field(default=16, ge=1, description="CPU cores quota.")
    memory_quota_gib: int = Field(default=64, ge=1, description="Memory quota.")
    monthly_budget_usd: float = Field(default=500.0, gt=0, description="Project budget.")
    cost_center: str | None = Field(default=None, description="Unset: the environment's cost center.")
    previous_names: list[DnsLabel] = Field(
        default_factory=list, description="Former names of a renamed project, oldest first: its platform resources "
                                          "move to the new name (aliases) and keep the physical names of the oldest "
                                          "(namespace, roles, repository cannot be renamed in place).")
