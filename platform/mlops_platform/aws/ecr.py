"""ECR repositories: immutable tags, scan on push, KMS encryption, lifecycle policy."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.aws._base import child_opts


def lifecycle_policy(untagged_days: int) -> str:
    """Expire untagged images after N days; never a tagged one: a serving deployment may reference any tag
    (tags are immutable), and an expired image only shows up when its pods are rescheduled."""
    return json.dumps({"rules": [
        {"rulePriority": 1, "description": f"expire untagged images after {untagged_days} days",
         "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                       "countNumber": untagged_days}, "action": {"type": "expire"}},
    ]})


@dataclass(frozen=True, kw_only=True)
class RepositoryArgs:
    """Arguments of `Repository`."""

    repository: str
    """Repository name, e.g. `projects/fraud-detector`. Required."""
    kms_key_arn: pulumi.Input[str]
    """Key of the repository's KMS encryption. Required."""
    tags: dict[str, str]
    """Tags of the repository. Required."""
    untagged_days: int = 7
    """Lifecycle: untagged images expire after this many days. Default: 7."""
    protect: bool = False
    """Protect and retain the repository (prod): `pulumi destroy` refuses, a forced destroy leaves it and its
    images in the account. Default: off."""
    force_delete: bool = False
    """Let destroy delete a repository that still holds images (`artifacts.allow_force_destroy`; ignored
    when protected). Default: off."""


class Repository(pulumi.ComponentResource):
    """One hardened ECR repository; used for platform repos and per-project repos alike."""

    repository: aws.ecr.Repository

    def __init__(self, name: str, args: RepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:aws:Repository", name, None, opts)
        self.repository = aws.ecr.Repository(
            # DeleteRepository fails with RepositoryNotEmptyException unless forced: a destroy of an environment
            # whose repositories hold images needs force_delete (or the repository retained).
            # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DeleteRepository.html
            f"{name}-repo", name=args.repository, image_tag_mutability="IMMUTABLE",
            force_delete=args.force_delete and not args.protect,
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(scan_on_push=True),
            encryption_configurations=[aws.ecr.RepositoryEncryptionConfigurationArgs(
                encryption_type="KMS", kms_key=args.kms_key_arn)],
            tags=args.tags, opts=child_opts(self, protect=args.protect, retain=args.protect))
        aws.ecr.LifecyclePolicy(f"{name}-lifecycle", repository=self.repository.name,
                                policy=lifecycle_policy(args.untagged_days), opts=child_opts(self))
        self.url = self.repository.repository_url
        self.arn = self.repository.arn
        self.register_outputs({"url": self.url, "arn": self.arn})
