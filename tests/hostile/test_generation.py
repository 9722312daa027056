"""Generation: `mlplat new` checks answers against the platform's limits and writes nothing when they do not
fit, refuses a destination inside the platform repository, and holds its destination against a second
`new` at the same time."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_platform.config import load_env, repo_root
from mlops_platform.config.rules import cluster_capacity
from mlops_platform.engine import platform_outputs

from .conftest import Cli, unchanged

REQUIRED = ["-d", "owners=a@example.com", "-d", "github_org=org", "-d", "cost_center=cc"]
DEV = load_env("dev")
GPU_CAP = DEV.gpu.max_total_gpus
VCPUS, MEMORY = cluster_capacity(DEV)


@pytest.fixture(scope="module", autouse=True)
def _offline_outputs() -> None:
    """Plan dev once (cached per process), so each `new` below answers in well under a second."""
    platform_outputs("dev")


def new(cli: Cli, dest: Path, *data: str, code: int) -> str:
    result = cli("new", "proj", "--env", "dev", "--dest", dest, "--offline", *REQUIRED,
                 *[x for d in data for x in ("-d", d)], code=code)
    return result.text.replace("\n", " ")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gpus=st.integers(GPU_CAP + 1, 10**9), cpus=st.integers(VCPUS + 1, 10**12),
       memory=st.integers(MEMORY + 1, 10**12), which=st.sampled_from(["gpu", "cpu", "memory", "all"]))
def test_quotas_above_the_environment_are_refused_before_writing(cli: Cli, tmp_path: Path, gpus: int, cpus: int,
                                                                 memory: int, which: str) -> None:
    data = {"gpu": [f"gpu_quota={gpus}"], "cpu": [f"cpu_quota={cpus}"], "memory": [f"memory_quota_gib={memory}"]}
    chosen = [d for k, v in data.items() if which in (k, "all") for d in v]
    with unchanged(tmp_path):
        text = new(cli, tmp_path / "proj", *chosen, code=3)
    if which in ("gpu", "all"):
        assert f"gpu_quota: quota exceeds the environment GPU cap (got {gpus})" in text
        assert f"use at most gpu.max_total_gpus ({GPU_CAP})" in text
    if which in ("cpu", "all"):
        assert f"cpu_quota: quota exceeds the {VCPUS} vCPUs the node pools can ever provide" in text
    if which in ("memory", "all"):
        assert f"memory_quota_gib: quota exceeds the {MEMORY} GiB" in text
    assert not (tmp_path / "proj").exists()


@pytest.mark.slow
def test_a_template_default_above_the_cap_is_caught_after_rendering_and_removed(cli: Cli, tmp_path: Path) -> None:
    # gpu_quota defaults to gpu_count * (serving_replicas + 1) in copier.yml: 1 * 21 GPUs > dev's cap.
    with unchanged(tmp_path):
        text = new(cli, tmp_path / "proj", "gpu_count=1", "serving_replicas=20", code=3)
    assert "with the template's defaults" in text and "gpu_quota: quota exceeds the environment GPU cap" in text
    assert not (tmp_path / "proj").exists()


@pytest.mark.parametrize("inside", ["projects/proj", "templates/proj"])
def test_a_destination_inside_the_platform_repository_is_refused(cli: Cli, inside: str) -> None:
    dest = repo_root() / inside
    with unchanged(repo_root() / "platform", repo_root() / "templates"):
        text = new(cli, dest, code=2)
    assert "inside the platform repository" in text and "pass a --dest outside it" in text
    assert not dest.exists() and not dest.parent.joinpath(".git").exists()


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Path]:
    """The lock a running `mlplat new` holds on the destination's parent directory."""
    handle = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    yield tmp_path
    os.close(handle)


def test_a_second_new_into_a_busy_destination_fails_at_once(cli: Cli, held: Path) -> None:
    with unchanged(held):
        text = new(cli, held / "proj", code=2)
    assert "another `mlplat new` is generating into" in text and "wait for it to finish" in text
    assert not (held / "proj").exists()


@pytest.mark.parametrize("target", ["elsewhere", "empty-dir"])
def test_a_symlinked_destination_is_refused_and_its_target_untouched(cli: Cli, tmp_path: Path, target: str) -> None:
    """Security review (hardening): a dangling link counted as "created" (exists() is False), copier wrote
    through it and the rollback removed the tree it points to. An existing empty directory behind a link too."""
    if target == "empty-dir":
        (tmp_path / target).mkdir()
    (tmp_path / "proj").symlink_to(tmp_path / target)
    with unchanged(tmp_path):
        text = new(cli, tmp_path / "proj", code=2)
    assert "is a symbolic link" in text and "fix:" in text
    assert (tmp_path / "proj").is_symlink() and (target == "empty-dir") == (tmp_path / target).exists()


def test_an_existing_destination_is_refused_untouched(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "notes.txt").write_text("mine")
    with unchanged(tmp_path):
        text = new(cli, tmp_path / "proj", code=2)
    assert "already exists and is not an empty directory" in text
