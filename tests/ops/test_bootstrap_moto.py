"""`mlplat bootstrap` against a real moto server process."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from mlops_platform.core.errors import PreflightError
from mlops_platform.ops.backend import state_backend
from mlops_platform.ops.bootstrap import LIFECYCLE_RULE_ID, TLS_SID, Change, bootstrap

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]


def _bucket_facts(bucket: str, region: str) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name=region)
    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    return {
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "sse": enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"],
        "kms_key": enc["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"],
        "bucket_key": enc["BucketKeyEnabled"],
        "public_access": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "sids": [s.get("Sid") for s in policy["Statement"]],
        "rules": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
        "ownership": s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"],
    }


def test_first_run_creates_a_secure_backend_and_second_run_changes_nothing(moto, make_cfg):
    cfg = make_cfg({"environment": {"region": "eu-west-1"},
                    "network": {"availability_zones": ["eu-west-1a", "eu-west-1b"]}})
    first = bootstrap(cfg)
    assert first.changed
    assert {s.item: s.change for s in first.steps}["bucket"] is Change.CREATED
    backend = state_backend(cfg)
    facts = _bucket_facts(backend.bucket, "eu-west-1")
    key_arn = boto3.client("kms", region_name="eu-west-1").describe_key(KeyId=backend.kms_alias)["KeyMetadata"]["Arn"]
    assert facts["versioning"] == "Enabled"
    assert (facts["sse"], facts["kms_key"], facts["bucket_key"]) == ("aws:kms", key_arn, True)
    assert set(facts["public_access"].values()) == {True}
    assert facts["sids"] == [TLS_SID]
    assert [r["ID"] for r in facts["rules"]] == [LIFECYCLE_RULE_ID]
    assert facts["ownership"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert boto3.client("kms", region_name="eu-west-1").get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"]

    second = bootstrap(cfg)
    assert not second.changed
    assert {s.change for s in second.steps} == {Change.UNCHANGED}
    assert _bucket_facts(backend.bucket, "eu-west-1") == facts
    assert second.to_json()["login"] == f"pulumi login 's3://{backend.bucket}?region=eu-west-1&awssdk=v2'"
    assert second.to_json()["secrets_provider"] == f"awskms://{backend.kms_alias}?region=eu-west-1"


def test_weaker_foreign_bucket_is_strengthened_never_weakened(moto, make_cfg):
    cfg = make_cfg()
    backend = state_backend(cfg)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=backend.bucket)
    s3.put_bucket_versioning(Bucket=backend.bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_bucket_encryption(Bucket=backend.bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    reader = {"Sid": "TeamRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
              "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{backend.bucket}/*"}
    s3.put_bucket_policy(Bucket=backend.bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [reader]}))

    report = bootstrap(cfg)
    changes = {s.item: s.change for s in report.steps}
    assert changes["versioning"] is Change.STRENGTHENED
    assert changes["encryption"] is Change.STRENGTHENED
    assert changes["bucket policy"] is Change.STRENGTHENED
    # Not created by mlplat: no expiry imposed on its history, only reported.
    assert changes["lifecycle"] is Change.KEPT
    policy = json.loads(s3.get_bucket_policy(Bucket=backend.bucket)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["TeamRead", TLS_SID]
    assert s3.get_bucket_versioning(Bucket=backend.bucket)["Status"] == "Enabled"
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=backend.bucket)


def test_existing_kms_encryption_with_another_key_is_kept(moto, make_cfg):
    cfg = make_cfg()
    backend = state_backend(cfg)
    other = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=backend.bucket)
    s3.put_bucket_encryption(Bucket=backend.bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": other}}]})
    report = bootstrap(cfg)
    assert {s.item: s.change for s in report.steps}["encryption"] is Change.KEPT
    rule = s3.get_bucket_encryption(Bucket=backend.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == other


def test_key_pending_deletion_is_refused_not_replaced(moto, make_cfg):
    cfg = make_cfg()
    backend = state_backend(cfg)
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=backend.kms_alias, TargetKeyId=key)
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(PreflightError, match=r"PendingDeletion.*cancel-key-deletion"):
        bootstrap(cfg)
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []


def test_wrong_account_is_refused_before_anything_is_created(moto, make_cfg):
    cfg = make_cfg({"environment": {"account_id": "999988887777"}})
    with pytest.raises(PreflightError, match=r"account 123456789012.*999988887777"):
        bootstrap(cfg)
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []
    assert boto3.client("kms", region_name="us-east-1").list_keys()["Keys"] == []
