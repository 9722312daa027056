"""Preflight of an air-gapped environment against a real moto server: the pull-through cache credentials
(Secrets Manager) and the runner image (ECR). moto 5.2.5 has no pull-through cache API itself, so the rules
are checked on the planned graph (tests/k8s/test_air_gapped.py)."""

from __future__ import annotations

import json

import boto3
import pytest
from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS, RUNNER_ENDPOINTS
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.checks import Status
from mlops_platform.ops.mirror_checks import check_mirror
from ops_configs import MOTO_ACCOUNT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]
MISSING = f"arn:aws:secretsmanager:us-east-1:{MOTO_ACCOUNT}:secret:ecr-pullthroughcache/ghcr-AbCdEf"


def air_gapped(docker_hub: str, github: str) -> dict[str, object]:
    return {"network": {"nat": "none", "interface_endpoints": list(dict.fromkeys(
                [*PRIVATE_NODE_ENDPOINTS, *RUNNER_ENDPOINTS, "iam", "secretsmanager"]))},  # dev: us-east-1
            "registry": {"repositories": ["base-images", "deploy-runner"],
                         "mirror": {"docker_hub_credential_arn": docker_hub, "github_credential_arn": github}},
            "cluster": {"deployer_role_arns": [f"arn:aws:iam::{MOTO_ACCOUNT}:role/platform-deployer"],
                        "deployer_image": "deploy-runner:2026.11.1"}}


def _secret(name: str) -> str:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    return client.create_secret(Name=name, SecretString=json.dumps({"username": "u", "accessToken": "t"}))["ARN"]


def test_credentials_that_exist_pass_and_a_missing_one_fails_with_the_command(moto, make_cfg):
    docker_hub = _secret("ecr-pullthroughcache/docker-hub")
    results = {r.check: r for r in check_mirror(make_cfg(air_gapped(docker_hub, MISSING)), Aws("us-east-1"))}
    assert results["mirror docker hub credential"].status is Status.PASS
    missing = results["mirror github credential"]
    assert missing.status is Status.FAIL and MISSING in missing.detail
    assert "aws secretsmanager create-secret --region us-east-1 --name ecr-pullthroughcache/ghcr" in missing.fix


def test_the_runner_image_is_a_warning_until_pushed(moto, make_cfg):
    cfg = make_cfg(air_gapped(_secret("ecr-pullthroughcache/docker-hub"), _secret("ecr-pullthroughcache/ghcr")))
    aws = Aws("us-east-1")
    [*_, before] = check_mirror(cfg, aws)
    assert before.status is Status.WARN and "does not exist yet" in before.detail
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.create_repository(repositoryName="mlops-dev/deploy-runner")
    [*_, empty] = check_mirror(cfg, aws)
    assert empty.status is Status.WARN and "is not pushed" in empty.detail and "docker push" in empty.fix
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    ecr.put_image(repositoryName="mlops-dev/deploy-runner", imageManifest=json.dumps(manifest),
                  imageTag="2026.11.1")
    [*_, pushed] = check_mirror(cfg, aws)
    assert pushed.status is Status.PASS and pushed.detail == "mlops-dev/deploy-runner:2026.11.1 is pushed"


def test_an_environment_that_does_not_mirror_checks_nothing(moto, make_cfg):
    assert list(check_mirror(make_cfg(), Aws("us-east-1"))) == []
