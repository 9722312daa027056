"""`mlplat new`: a wired, committed repository and a tenancy entry — or one clear error and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlops_platform.cli import main
from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core.errors import ConfigError, TemplateError, UsageError
from mlops_platform.scaffold.answers import validate_answers
from mlops_platform.scaffold.guards import limit_issues
from mlops_platform.scaffold.new import (
    ENTRY_FIELDS,
    NewProject,
    asked_defaults,
    entry_yaml,
    github_repo_of,
    new_project,
    with_gpu_pool,
)
from mlops_platform.scaffold.outputs import OutputsSource, ResolvedOutputs, offline_outputs
from mlops_platform.scaffold.templating import git, read_answers
from ruamel.yaml import YAML

from .support import BASE_ANSWERS, ROOT

REQUIRED = {k: v for k, v in BASE_ANSWERS.items() if k != "project_slug"}
CLI_DATA = ["-d", "owners=risk-ml@example.com", "-d", "github_org=example-org", "-d", "cost_center=risk"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> NewProject:
    dest = tmp_path_factory.mktemp("new") / "fraud-detector"
    return new_project("fraud-detector", "dev", dest, {**REQUIRED, "gpu_count": "1"}, offline=True,
                       vcs_ref="HEAD", src=ROOT)


def test_wiring_comes_from_the_outputs_and_is_marked_offline(project: NewProject) -> None:
    answers = read_answers(project.dest)
    outputs = offline_outputs("dev")
    assert answers["outputs_source"] == "offline-plan"
    assert (answers["aws_account_id"], answers["aws_region"], answers["cluster_name"]) == (
        outputs.account_id, outputs.region, outputs.cluster_name)
    assert answers["ecr_repository_url"] == project.names.ecr_repository_url
    assert answers["ci_role_arn"] == project.names.ci_role_arn
    assert answers["ci_preview_role_arn"] == project.names.ci_preview_role_arn
    assert answers["drift_metric"] == outputs.drift_metric == "mlops_model_drift_score"
    assert answers["platform_version"] == outputs.platform_version
    assert "OFFLINE PLAN — placeholder values" in (project.dest / "README.md").read_text()


def test_the_repository_is_initialised_and_committed(project: NewProject) -> None:
    assert git("status", "--porcelain", cwd=project.dest) == ""
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=project.dest) == "main"
    assert "Generate fraud-detector" in git("log", "--format=%s", cwd=project.dest)
    tracked = git("ls-files", cwd=project.dest).splitlines()
    assert {".copier-answers.yml", "Makefile", "Dockerfile", "infra/__main__.py", ".github/workflows/cd.yml",
            "src/fraud_detector/serve.py", "tests/test_e2e.py"} <= set(tracked)


def test_entry_fits_the_stack_schema_and_the_answers(project: NewProject) -> None:
    assert tuple(project.entry) == ENTRY_FIELDS
    assert ProjectConfig.model_validate(project.entry).github_repo == "example-org/fraud-detector"
    assert project.entry["gpu_quota"] == 3  # derived: gpu_count x (replicas + 1)
    assert project.entry["monthly_budget_usd"] == 3000.0  # derived: GPU projects get a GPU budget
    parsed = YAML(typ="safe").load(entry_yaml(project.entry, "dev"))
    assert parsed == [project.entry]


def test_gpu_serving_lands_on_a_pool_the_platform_has(project: NewProject) -> None:
    assert read_answers(project.dest)["gpu_pool"] == "a10g"  # dev: the smallest fitting pool, by name
    assert read_answers(project.dest)["gpu_type"] == "a10g"  # what the pods select, in every environment
    assert 'gpu_type="a10g",\n        gpu_pool=None,' in (project.dest / "infra" / "__main__.py").read_text()
    prod = ResolvedOutputs(offline_outputs("prod"), OutputsSource.OFFLINE_PLAN, "offline plan of prod")
    pick = {gpus: with_gpu_pool(validate_answers({**BASE_ANSWERS, "gpu_count": gpus}), prod).gpu_pool
            for gpus in (1, 2, 8)}
    assert pick == {1: "l4-serving", 2: "a10g-train", 8: "a100-train"}  # fewest GPUs per node that fit
    chosen = validate_answers({**BASE_ANSWERS, "gpu_count": 1, "gpu_pool": "a100-train"})
    assert with_gpu_pool(chosen, prod).gpu_pool == "a100-train"  # a given pool that exists is kept


def test_gpu_serving_never_lands_on_a_shared_pool() -> None:
    """The template's pods ask for whole nvidia.com/gpu; staging's l4 pool advertises only time slices."""
    staging = ResolvedOutputs(offline_outputs("staging"), OutputsSource.OFFLINE_PLAN, "offline plan of staging")
    assert not staging.outputs.gpu_pools["l4"].whole_gpus and staging.outputs.gpu_pools["a10g"].whole_gpus
    assert asked_defaults(staging, ROOT, {})["gpu_pool"] == "a10g"
    assert with_gpu_pool(validate_answers({**BASE_ANSWERS, "gpu_count": 1}), staging).gpu_pool == "a10g"
    with pytest.raises(ConfigError, match=r"gpu_pool: shares its GPUs \(advertises nvidia.com/gpu.shared\)") as err:
        with_gpu_pool(validate_answers({**BASE_ANSWERS, "gpu_count": 1, "gpu_pool": "l4"}), staging)
    assert "use a pool of whole GPUs: a10g" in str(err.value)
    # a platform this checkout has no stack file for: its outputs bound gpu_quota, counting whole-GPU pools only
    other = staging.outputs.model_copy(update={"environment": "elsewhere"})
    whole = sum(p.gpus_per_node * p.max_nodes for p in other.gpu_pools.values() if p.whole_gpus)
    assert limit_issues({"gpu_quota": whole}, other, "answers") == []
    [issue] = limit_issues({"gpu_quota": whole + 1}, other, "answers")
    assert f"quota exceeds the {whole} GPUs the pools of elsewhere can ever provide" in issue.message


def test_cli_prints_the_entry_and_the_offline_banner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["new", "churn", "--env", "dev", "--dest", str(tmp_path / "churn"), "--offline",
                 "--vcs-ref", "HEAD", *CLI_DATA])
    text = capsys.readouterr().out
    assert code == 0
    assert "OFFLINE PLAN — placeholder values" in text
    assert "mlops-platform:projects" in text and "- name: churn" in text


@pytest.mark.parametrize(("args", "error", "code"), [
    (["Bad_Name", "--env", "dev"], "project_slug: has the wrong format (got 'Bad_Name')", ConfigError.exit_code),
    (["churn", "--env", "qa"], "unknown environment 'qa'", UsageError.exit_code),
    (["churn", "--env", "dev", "-d", "gpu_count=99"], "gpu_count", ConfigError.exit_code),
    (["churn", "--env", "dev", "-d", "serving_mod=kserve"], "did you mean 'serving_mode'", ConfigError.exit_code),
    (["churn", "--env", "prod", "-d", "gpu_count=1", "-d", "gpu_pool=a10g"],
     "gpu_pool: is not a GPU pool of the platform environment (got 'a10g')", ConfigError.exit_code),
    (["churn", "--env", "dev", "-d", "gpu_count=2"], "no GPU pool of the platform has 2 GPUs per node",
     ConfigError.exit_code),
    (["churn", "--env", "dev", "-d", "gpu_count=2", "-d", "gpu_pool=l4"], "pool l4 has 1 GPUs per node",
     ConfigError.exit_code),
])
def test_bad_input_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                  error: str, code: int) -> None:
    dest = tmp_path / "out"
    assert main(["new", *args, "--dest", str(dest), "--offline", *CLI_DATA]) == code
    assert error in capsys.readouterr().err.replace("\n", " ")
    assert not dest.exists()


def test_malformed_outputs_file_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "dev.json"
    outputs.write_text(json.dumps({"environment": "dev", "region": 42}))
    dest = tmp_path / "out"
    assert main(["new", "churn", "--env", "dev", "--dest", str(dest), "--outputs", str(outputs),
                 *CLI_DATA]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert f"{outputs}: region" in err.replace("\n", "") and "cluster_name: required output is missing" in err
    assert not dest.exists()


def test_existing_destination_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists and is not an empty directory"):
        new_project("churn", "dev", tmp_path, REQUIRED, offline=True, vcs_ref="HEAD")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_slug_in_data_must_match_the_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="differs from NAME"):
        new_project("churn", "dev", tmp_path / "x", {**REQUIRED, "project_slug": "other"}, offline=True)


def test_a_failed_render_leaves_no_directory(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="copier failed"):
        new_project("churn", "dev", tmp_path / "x", REQUIRED, offline=True, vcs_ref="no-such-ref")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(("src", "repo"), [
    ("gh:acme/mlops-platform", "acme/mlops-platform"),
    ("https://github.com/acme/mlops-platform.git", "acme/mlops-platform"),
    ("git@github.com:acme/mlops-platform.git", "acme/mlops-platform"),
    ("https://gitlab.example.com/acme/mlops-platform", None),
])
def test_platform_repo_is_read_from_the_template_url(src: str, repo: str | None) -> None:
    assert github_repo_of(src) == repo
