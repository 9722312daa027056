"""The GitHub side of a project's CI trust, managed with pulumi-github (`github.manage`).

AWS trusts a project's deploy role for `repo:ORG/REPO:environment:ENV`, but any branch whose workflow
names that environment gets such a token unless GitHub restricts the environment to a branch, and the
token says nothing about which workflow asked. So, per project and platform environment:

- the repository environment ENV admits deployments from `main` only (a deployment branch policy) and,
  when reviewers are configured (prod must), waits for their approval — and no one approves their own run;
- the repository's OIDC subject claim carries `repo`, `context` and `job_workflow_ref`, so the AWS trust
  can pin the deploy workflow at `refs/heads/main` (see `iam.github_actions_trust(pin_workflows=True)`).

The subject-claim template is per repository while environments are per stack: every environment's stack
sets the same template, and none deletes it (retain on delete) — removing one environment never resets the
claim the others' trusts rely on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_github as github

from mlops_platform.core.iam import GITHUB_SUBJECT_CLAIM_KEYS

#: The only branch a managed environment deploys from.
DEPLOY_BRANCH = "main"


@dataclass(frozen=True, kw_only=True)
class RepositoryTrustArgs:
    """Arguments of `RepositoryTrust`."""

    repo: str
    """`org/repo` of the project. Required."""
    environment: str
    """GitHub environment name: the platform environment's name. Required."""
    reviewer_team_ids: tuple[int, ...] = ()
    """Teams whose approval a deployment waits for. Default: none."""
    reviewer_user_ids: tuple[int, ...] = ()
    """Users whose approval a deployment waits for. Default: none."""


class RepositoryTrust(pulumi.ComponentResource):
    """Environment with a main-only branch policy (and reviewers), and the repository's OIDC subject claim."""

    def __init__(self, name: str, args: RepositoryTrustArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:github:RepositoryTrust", name, None, opts)
        owner, repo = args.repo.split("/", 1)
        provider = github.Provider(f"{name}-provider", owner=owner, opts=pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, provider=provider)
        github.ActionsRepositoryOidcSubjectClaimCustomizationTemplate(
            f"{name}-oidc-subject", repository=repo, use_default=False,
            include_claim_keys=list(GITHUB_SUBJECT_CLAIM_KEYS),
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(retain_on_delete=True)))
        reviewers = [github.RepositoryEnvironmentReviewerArgs(teams=list(args.reviewer_team_ids),
                                                              users=list(args.reviewer_user_ids))]
        has_reviewers = bool(args.reviewer_team_ids or args.reviewer_user_ids)
        env = github.RepositoryEnvironment(
            f"{name}-environment", repository=repo, environment=args.environment, can_admins_bypass=False,
            prevent_self_review=has_reviewers, reviewers=reviewers if has_reviewers else None,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=False, custom_branch_policies=True), opts=inside)
        github.RepositoryEnvironmentDeploymentPolicy(
            f"{name}-branch-policy", repository=repo, environment=env.environment, branch_pattern=DEPLOY_BRANCH,
            opts=inside)
        self.register_outputs({"environment": env.environment})
