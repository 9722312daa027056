"""A matrix of answer presets rendered; each generated project passes its own checks.

Fast: lint, format, workflow schema and the wiring of Dockerfile / workflows / infra stacks.
The slow half (each project's own pytest, `run_demo`, `make test`) is in `test_generated_slow.py`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.scaffold.templating import read_answers
from ruamel.yaml import YAML

from .support import assert_ok, run, tool

pytestmark = pytest.mark.xdist_group("template-generated")
WORKFLOWS = ("ci.yml", "cd.yml", "deploy.yml", "continuous-training.yml")
YAML_SAFE = YAML(typ="safe")



def _workflow(project: Path, name: str) -> dict[Any, Any]:
    data = YAML_SAFE.load((project / ".github" / "workflows" / name).read_text())
    assert isinstance(data, dict)
    return data


def test_lint_and_format(generated: Path) -> None:
    assert_ok(run(tool("ruff"), "check", "--no-cache", "src", "tests", "infra", cwd=generated))
    assert_ok(run(tool("ruff"), "format", "--check", "--no-cache", "src", "tests", "infra", cwd=generated))


def test_workflows_match_the_github_schema(generated: Path) -> None:
    files = [str(generated / ".github" / "workflows" / name) for name in WORKFLOWS]
    assert_ok(run(sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", *files,
            cwd=generated))


def test_cd_uses_oidc_the_ci_role_the_ecr_repo_and_protected_promotion(generated: Path) -> None:
    answers = read_answers(generated)
    cd = _workflow(generated, "cd.yml")
    assert cd["env"]["ECR_REPOSITORY_URL"] == answers["ecr_repository_url"]
    image = cd["jobs"]["image"]
    assert image["permissions"]["id-token"] == "write"
    steps = {s.get("uses", "").split("@")[0]: s for s in image["steps"]}
    assert steps["aws-actions/configure-aws-credentials"]["with"]["role-to-assume"] == answers["ci_role_arn"]
    # the push role trusts branches and environments only: pull-request builds must not ask for it
    assert steps["aws-actions/configure-aws-credentials"]["if"] == "github.event_name == 'push'"
    assert steps["aws-actions/amazon-ecr-login"]["if"] == "github.event_name == 'push'"
    assert any("${{ github.sha }}" in s.get("run", "") for s in image["steps"])
    preview = cd["jobs"]["preview"]
    assert preview["if"] == "github.event_name == 'pull_request'"
    roles = {s["with"]["role-to-assume"] for s in preview["steps"]
             if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")}
    assert roles == {answers["ci_preview_role_arn"]} != {answers["ci_role_arn"]}  # pull requests: read-only role
    assert_project_policy_config(preview["steps"][-1]["run"])
    envs = answers["environments"]
    deploys = [job for job in cd["jobs"] if job.startswith("deploy-")]
    assert deploys == [f"deploy-{env}" for env in envs]
    for previous, job in zip(["image", *deploys], deploys, strict=False):
        assert previous in cd["jobs"][job]["needs"]
    deploy = _workflow(generated, "deploy.yml")
    assert deploy["jobs"]["up"]["environment"]["name"] == "${{ inputs.environment }}"
    assert_project_policy_config(next(s for s in deploy["jobs"]["up"]["steps"] if s.get("id") == "up")["run"])


def assert_project_policy_config(script: str) -> None:
    """The pack judges the project as a project stack: config from its platform environment's outputs."""
    assert 'platform_env="$(pulumi config get platformStack --stack' in script  # its own line: -e sees it
    # the tenants stack of the project's shard, found as infra/ finds it (its own line too)
    assert re.search(r'^ *platform_stack="\$\(mlplat platform-stack "\$platform_env" --project [a-z0-9-]+\)"$',
                     script, re.M)
    assert 'pulumi stack output --json --stack "$platform_stack"' in script
    assert "mlplat policy config --platform-outputs" in script
    assert "--policy-pack ../.mlops-platform/platform/policypack --policy-pack-config" in script


def test_continuous_training_submits_to_the_cluster_and_never_trains_on_the_runner(generated: Path) -> None:
    answers = read_answers(generated)
    ct = _workflow(generated, "continuous-training.yml")
    # the schedule is the CronWorkflow on the cluster; GitHub only starts runs on demand
    assert ct[True if True in ct else "on"] == {"workflow_dispatch": {}}
    assert f'schedule="{answers["training_schedule"]}"' in (generated / "infra" / "__main__.py").read_text()
    runs = " ".join(step.get("run", "") for step in ct["jobs"]["retrain"]["steps"])
    assert "./scripts/train-remote.sh" in runs
    assert f"-m {answers['package_name']}" not in runs and "make" not in runs and "uv " not in runs
    script = (generated / "scripts" / "train-remote.sh").read_text()
    assert "workflowTemplateRef" in script and "kubectl create" in script
    assert (generated / "scripts" / "train-remote.sh").stat().st_mode & 0o111  # executable


def test_a_promoted_model_is_redeployed_through_cd(generated: Path) -> None:
    """The pipeline's hand-off starts cd.yml on main (GitHub workflow_dispatch: its token needs Actions: write,
    not the Contents: write of a repository_dispatch, so it cannot push code); cd redeploys only from main,
    only that environment of the project, only an image of the project's own ECR repository, through the same
    deploy workflow (protected environments still wait for approval)."""
    answers = read_answers(generated)
    cd = _workflow(generated, "cd.yml")
    envs = [e for e in ("dev", "staging", "prod") if e in answers["environments"]]
    inputs = cd[True if True in cd else "on"]["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"environment", "model_version", "image", "pipeline_run_id"}
    assert inputs["environment"]["type"] == "choice" and inputs["environment"]["options"] == envs
    assert "repository_dispatch" not in cd[True if True in cd else "on"]
    assert cd["jobs"]["image"]["if"] == "github.event_name != 'workflow_dispatch'"  # nothing rebuilt
    job = cd["jobs"]["redeploy-promoted-model"]
    assert job["uses"] == "./.github/workflows/deploy.yml"
    assert job["if"].startswith("github.event_name == 'workflow_dispatch' && github.ref == 'refs/heads/main' && ")
    assert f"contains(fromJSON('{json.dumps(envs)}'), inputs.environment)" in job["if"]
    assert f"startsWith(inputs.image, '{answers['ecr_repository_url']}:')" in job["if"]
    assert job["with"]["model-version"] == "${{ inputs.model_version }}"
    deploy = _workflow(generated, "deploy.yml")
    assert "model-version" in deploy[True if True in deploy else "on"]["workflow_call"]["inputs"]
    runs = " ".join(s.get("run", "") for s in deploy["jobs"]["up"]["steps"])
    assert '--config "modelVersion=$MODEL_VERSION"' in runs
    infra = (generated / "infra" / "__main__.py").read_text()
    assert f'GITHUB_REPOSITORY = "{answers["github_repo"]}"' in infra
    assert "deploy_repository=GITHUB_REPOSITORY" in infra and "deploy_environment=pulumi.get_stack()" in infra
    assert '{"MODEL_VERSION": model_version}' in infra  # a new version restarts the serving pods


def test_deploy_ships_through_the_release_strategy_and_reports_its_verdict(generated: Path) -> None:
    """After `pulumi up` the job waits for Flagger's verdict on the Canary the stack exports and writes it to the
    job summary; a rollback fails the job, so CD promotes the image no further."""
    answers = read_answers(generated)
    steps = _workflow(generated, "deploy.yml")["jobs"]["up"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    up = names.index("pulumi up")
    assert "update-kubeconfig" in steps[up - 1]["run"] and answers["cluster_name"] in steps[up - 1]["run"]
    run = steps[up]["run"]
    # the revision Flagger analysed last is read before the deploy, the Canary and namespace after it
    assert run.index("status.lastAppliedSpec") < run.index("pulumi up --yes") < run.index('echo "canary=')
    assert "$GITHUB_OUTPUT" in run and "PULUMI_CONFIG_PASSPHRASE" in steps[up]["env"]
    wait = steps[up + 1]
    assert wait["run"] == './scripts/wait-release.sh "$NAMESPACE" "$CANARY" "$BEFORE"' and up + 1 == len(steps) - 1
    assert wait["env"] == {"NAMESPACE": "${{ steps.up.outputs.namespace }}",
                           "CANARY": "${{ steps.up.outputs.canary }}", "BEFORE": "${{ steps.up.outputs.before }}"}
    assert "PULUMI_CONFIG_PASSPHRASE" not in str(wait)  # the passphrase stays in the pulumi up step
    main = (generated / "infra" / "__main__.py").read_text()
    assert 'pulumi.export("canary", "" if DELIVERY is DeliveryStrategy.INSTANT else MODEL_NAME)' in main
    assert f'DeliveryStrategy("{answers["delivery_strategy"]}")' in main
    script_path = generated / "scripts" / "wait-release.sh"
    assert script_path.stat().st_mode & 0o111
    subprocess.run(["bash", "-n", str(script_path)], check=True)
    script = script_path.read_text()
    for phase, code in (("Failed)", "exit 1"), ("Succeeded | Initialized)", "exit 0")):
        assert phase in script and code in script
    assert ">>\"$SUMMARY\"" in script and 'SUMMARY="${GITHUB_STEP_SUMMARY:-/dev/stdout}"' in script
    assert "the stable version" in script  # the rollback report says what serves


def test_dockerfile_is_pinned_non_root_with_healthcheck(generated: Path) -> None:
    text = (generated / "Dockerfile").read_text()
    bases = [b for b in re.findall(r"^FROM (\S+)", text, flags=re.M) if b not in ("uv", "build")]
    assert bases and all(re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", b) for b in bases)  # tag for people, digest
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text


def test_infra_has_one_stack_per_environment(generated: Path) -> None:
    answers = read_answers(generated)
    stacks = sorted(p.name for p in (generated / "infra").glob("Pulumi.*.yaml"))
    assert stacks == sorted(f"Pulumi.{env}.yaml" for env in answers["environments"])
    for env in answers["environments"]:
        config = YAML_SAFE.load((generated / "infra" / f"Pulumi.{env}.yaml").read_text())["config"]
        assert config[f"{answers['project_slug']}:platformStack"] == f"{answers['platform_stack']}/{env}"
    main = (generated / "infra" / "__main__.py").read_text()
    assert f'mode=ServingMode("{answers["serving_mode"]}")' in main and f"gpus={answers['gpu_count']},\n" in main
    pin = (generated / "infra" / "pyproject.toml").read_text()
    # rendered from a work tree (no release tag on it): the exact template commit, never a made-up tag
    assert re.search(r'^    "mlops-platform @ git\+https://github\.com/\S+\.git@[0-9a-f]{40}",$', pin, flags=re.M)
