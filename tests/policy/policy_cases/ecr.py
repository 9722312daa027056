"""Fixtures of the policies in `mlops_platform.policy.rules.ecr`."""

from __future__ import annotations

from policy_plans import DROP, Drop, Patch, U, doc

from policy_cases._base import DEFERRED, PASSES, REPO, Case, fail, ok, on, u

CASES: dict[str, Case] = {
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
                 fail(REPO, Patch("repo", "encryptionConfigurations", [{"encryptionType": "KMS"}])),
                 fail(on("aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate", "repo-template"),
                      Patch("repo-template", "encryptionConfigurations", [{"encryptionType": "AES256"}]))),
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
}
