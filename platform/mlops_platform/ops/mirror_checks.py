"""Preflight checks of an environment that mirrors its images (docs/air-gapped.md): the pull-through cache
credentials exist where ECR looks for them, and the runner image has been pushed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from mlops_platform.core import naming
from mlops_platform.ops._aws import Aws, AwsFailure, error_code
from mlops_platform.ops.checks import CheckResult, Status

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

#: ECR reads an upstream's credentials only from a secret named with this prefix, in the rule's account and
#: Region (ECR User Guide, pull-through-cache-creating-rule.html).
SECRET_PREFIX = "ecr-pullthroughcache/"


def check_mirror(cfg: PlatformConfig, aws: Aws) -> Iterator[CheckResult]:
    """Both credentials of the pull-through cache rules (the aws layer's rules fail without them), and the
    runner image (a warning: the aws layer creates its repository; push before the cluster layer)."""
    if not cfg.mirroring:
        return
    for field, arn in cfg.registry.mirror.credentials().values():
        if arn:
            yield _secret(cfg, field, arn, aws)
    parts = cfg.cluster.deployer_image_parts
    if cfg.in_vpc_deployer and parts:
        yield _runner_image(cfg, parts, aws)


def _secret(cfg: PlatformConfig, field: str, arn: str, aws: Aws) -> CheckResult:
    name = f"mirror {field.removesuffix('_credential_arn').replace('_', ' ')} credential"
    try:
        found = aws.secrets.describe_secret(SecretId=arn)
    except AwsFailure as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
        secret = arn.split(":secret:", 1)[-1].rsplit("-", 1)[0]
        return CheckResult(name, Status.FAIL, f"registry.mirror.{field}: no secret {arn}",
                           f"aws secretsmanager create-secret --region {cfg.environment.region} --name {secret} "
                           "--secret-string '{\"username\":\"...\",\"accessToken\":\"...\"}' and set its ARN")
    if found.get("DeletedDate"):
        return CheckResult(name, Status.FAIL, f"{found['Name']} is scheduled for deletion",
                           f"aws secretsmanager restore-secret --secret-id {arn}")
    return CheckResult(name, Status.PASS, f"{found['Name']} exists")


def _runner_image(cfg: PlatformConfig, image: tuple[str, str], aws: Aws) -> CheckResult:
    name = "runner image"
    repository, tag = image
    physical = naming.ecr_repository(cfg.cluster_name, repository)
    push = f"push it: docker push <registry>/{physical}:{tag} (docs/air-gapped.md, 'Build the runner image')"
    try:
        aws.ecr.describe_images(repositoryName=physical, imageIds=[{"imageTag": tag}])
    except AwsFailure as exc:
        code = error_code(exc)
        if code == "RepositoryNotFoundException":
            return CheckResult(name, Status.WARN, f"repository {physical} does not exist yet (the aws layer "
                                                  "creates it)", f"after the aws layer, {push}")
        if code == "ImageNotFoundException":
            return CheckResult(name, Status.WARN, f"{physical}:{tag} is not pushed: the runner cannot start",
                               push)
        raise
    return CheckResult(name, Status.PASS, f"{physical}:{tag} is pushed")
