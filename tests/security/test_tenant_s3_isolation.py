"""Artifact isolation between tenants: the workload and training policy documents the platform plans,
enforced by a real moto server with IAM authorization switched on (`/moto-api/reset-auth`).

What this proves: with exactly the planned inline policy of project A's workload role, and of its
continuous-training role (each attached to an IAM user, because moto authorizes users and assumed roles
alike by their identity policies), A can put,
get and delete objects under its own `projects/A/` prefix of the models and datasets buckets — where its
MLflow artifacts live (`mlflow_artifact_uri`) — and cannot get, overwrite or delete project B's objects,
nor write outside its prefix (including the tracking server's default root `mlflow/`). What it does not
prove: moto evaluates no IAM condition keys, so the `s3:prefix` condition on ListBucket is asserted on
the planned document instead (test_list_is_limited_to_the_projects_prefix), and KMS key use is not
exercised here. Bucket policies play no part (the platform's only deny TLS-less requests).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from mlops_platform.core import naming
from mlops_platform.engine import Plan
from moto_stand_in import moto_process

pytestmark = pytest.mark.slow
ACCOUNT = "210987654321"  # the dev stack's account: the planned ARNs name it


#: The project roles that hold S3 rights on the project's prefixes (logical name `<tenant>-<role>-policy`).
S3_ROLES = ("workload", "training")


def role_policy(plan: Plan, project: str, role: str = "workload") -> dict[str, Any]:
    (res,) = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
              if r.name.endswith(f"-project-{project}-{role}-policy")]
    return dict(json.loads(res.get("policy")))


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_process(ACCOUNT, tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def _client(service: str, url: str, key: str = "admin", secret: str = "admin") -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)


@pytest.fixture(scope="module")
def tenants(moto_url: str, plans: dict[str, Plan]) -> dict[str, dict[str, Any]]:
    """Per role of `S3_ROLES`, one S3 client per dev project, signed with a user holding exactly that
    project role's planned policy."""
    plan = plans["dev"]
    projects = sorted(plan.outputs["projects"])
    iam, s3 = _client("iam", moto_url), _client("s3", moto_url)
    for bucket in plan.outputs["buckets"].values():
        s3.create_bucket(Bucket=bucket["name"])
    keys: dict[tuple[str, str], Any] = {}
    for role in S3_ROLES:
        for project in projects:
            user = f"{project}-{role}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName=role,
                                PolicyDocument=json.dumps(role_policy(plan, project, role)))
            keys[role, project] = iam.create_access_key(UserName=user)["AccessKey"]
    # from now on every request is authenticated and authorized against IAM
    enforce = urllib.request.Request(f"{moto_url}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})  # a form body would read as empty
    urllib.request.urlopen(enforce, timeout=10).close()
    clients: dict[str, dict[str, Any]] = {role: {} for role in S3_ROLES}
    for (role, project), k in keys.items():
        clients[role][project] = _client("s3", moto_url, k["AccessKeyId"], k["SecretAccessKey"])
    return clients


def _denied(call: Any, **kwargs: Any) -> bool:
    try:
        call(**kwargs)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "AccessDenied"
    return False


@pytest.mark.parametrize("role", S3_ROLES)
def test_a_tenant_cannot_read_overwrite_or_delete_another_tenants_artifacts(
        tenants: dict[str, dict[str, Any]], plans: dict[str, Plan], role: str) -> None:
    outputs = plans["dev"].outputs
    owner, intruder = sorted(tenants[role])[:2]
    models = outputs["buckets"]["models"]["name"]
    key = outputs["projects"][owner]["mlflow_artifact_uri"].removeprefix(f"s3://{models}/") + "1/model.pkl"
    assert key.startswith(naming.project_prefix(owner))
    tenants[role][owner].put_object(Bucket=models, Key=key, Body=b"owner's model")
    thief = tenants[role][intruder]
    assert _denied(thief.get_object, Bucket=models, Key=key)
    assert _denied(thief.put_object, Bucket=models, Key=key, Body=b"poisoned")
    assert _denied(thief.delete_object, Bucket=models, Key=key)
    assert tenants[role][owner].get_object(Bucket=models, Key=key)["Body"].read() == b"owner's model"


@pytest.mark.parametrize("role", S3_ROLES)
def test_a_tenant_writes_only_under_its_own_prefix(
        tenants: dict[str, dict[str, Any]], plans: dict[str, Plan], role: str) -> None:
    buckets = {b: ref["name"] for b, ref in plans["dev"].outputs["buckets"].items()}
    project = sorted(tenants[role])[0]
    s3, own = tenants[role][project], naming.project_prefix(project)
    for bucket in ("models", "datasets"):
        s3.put_object(Bucket=buckets[bucket], Key=f"{own}x", Body=b"ok")
        assert s3.get_object(Bucket=buckets[bucket], Key=f"{own}x")["Body"].read() == b"ok"
        s3.delete_object(Bucket=buckets[bucket], Key=f"{own}x")
    # the tracking server's default root and the bucket root belong to no tenant
    for key in ("mlflow/1/model.pkl", "model.pkl", "projects/other/x"):
        assert _denied(s3.put_object, Bucket=buckets["models"], Key=key, Body=b"x"), key


@pytest.mark.parametrize("role", S3_ROLES)
def test_list_is_limited_to_the_projects_prefix(plans: dict[str, Plan], role: str) -> None:
    """moto ignores condition keys, so the ListBucket scope is read from the planned document."""
    for project in plans["dev"].outputs["projects"]:
        lists = [s for s in role_policy(plans["dev"], project, role)["Statement"] if "s3:ListBucket" in s["Action"]]
        assert lists and all(s["Condition"] == {"StringLike": {"s3:prefix": [f"{naming.project_prefix(project)}*"]}}
                             for s in lists)
