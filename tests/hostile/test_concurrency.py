"""Concurrency: two `mlplat bootstrap` runs of one environment at the same time, against a real moto server.
Both succeed, exactly one secrets key stays enabled behind the alias (a key that lost the race or whose
run failed is scheduled for deletion), and the bucket one run created is adopted by the other.

The race window is opened deterministically with botocore's event hooks: run A is paused right before
a call and run B goes through completely in that pause, as a second terminal would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from foundation.stackfiles import sections
from mlops_platform.config.schema import PlatformConfig
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.backend import state_backend
from mlops_platform.ops.bootstrap import BootstrapReport, Change, bootstrap
from moto_stand_in import MOTO_ACCOUNT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("moto")]
REGION = "eu-west-1"


@pytest.fixture
def cfg(moto: str) -> PlatformConfig:
    return PlatformConfig.model_validate(sections("dev", {
        "environment": {"account_id": MOTO_ACCOUNT, "region": REGION},
        "network": {"availability_zones": [f"{REGION}a", f"{REGION}b"]}}))


def keys() -> dict[str, str]:
    """Key id -> state of every KMS key in the moto account."""
    kms = boto3.client("kms", region_name=REGION)
    return {k["KeyId"]: kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
            for k in kms.list_keys()["Keys"]}


def paused_before(call: str, meanwhile: Callable[[], Any]) -> Aws:
    """An Aws whose first `call` (e.g. "kms.CreateAlias") waits until `meanwhile()` has run."""
    session = boto3.Session()
    done: list[Any] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(meanwhile())

    session.events.register(f"before-call.{call}", hook)
    return Aws(REGION, session)


def assert_one_good_backend(cfg: PlatformConfig) -> None:
    backend = state_backend(cfg)
    states = keys()
    enabled = [k for k, state in states.items() if state == "Enabled"]
    assert len(enabled) == 1, states
    assert set(states.values()) <= {"Enabled", "PendingDeletion"}
    alias_key = boto3.client("kms", region_name=REGION).describe_key(KeyId=backend.kms_alias)["KeyMetadata"]
    assert alias_key["KeyId"] == enabled[0]
    rule = boto3.client("s3", region_name=REGION).get_bucket_encryption(
        Bucket=backend.bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == alias_key["Arn"]


@pytest.mark.parametrize("call, item", [("kms.CreateAlias", "kms key"), ("s3.CreateBucket", "bucket")])
def test_the_run_that_loses_a_race_adopts_the_winner_s_resource(cfg: PlatformConfig, call: str, item: str) -> None:
    other: list[BootstrapReport] = []
    report = bootstrap(cfg, paused_before(call, lambda: other.append(bootstrap(cfg, Aws(REGION)))))
    assert {s.item: s.change for s in other[0].steps}[item] is Change.CREATED
    assert {s.item: s.change for s in report.steps}[item] is Change.UNCHANGED
    # The loser of the alias retired its own key; a lost bucket race never created a second key.
    assert sorted(keys().values()) == (["Enabled", "PendingDeletion"] if item == "kms key" else ["Enabled"])
    assert_one_good_backend(cfg)


def test_a_run_interrupted_before_the_alias_leaves_no_live_key(cfg: PlatformConfig) -> None:
    def ctrl_c() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        bootstrap(cfg, paused_before("kms.CreateAlias", ctrl_c))
    assert list(keys().values()) == ["PendingDeletion"]
    assert {s.item: s.change for s in bootstrap(cfg).steps}["kms key"] is Change.CREATED  # a re-run is clean
    assert_one_good_backend(cfg)


def test_two_runs_at_once_both_succeed(cfg: PlatformConfig) -> None:
    start = threading.Barrier(2)
    results: list[BootstrapReport | BaseException] = []

    def run() -> None:
        aws = Aws(REGION, boto3.Session())
        start.wait()
        try:
            results.append(bootstrap(cfg, aws))
        except BaseException as exc:  # reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(r, BootstrapReport) for r in results) and len(results) == 2, results
    assert_one_good_backend(cfg)
