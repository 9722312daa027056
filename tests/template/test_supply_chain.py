"""The generated project's supply chain: what it runs is pinned, secrets reach only the steps that
need them, and peer scanners (checkov) find nothing that is not accepted with a reason.

Fast: structural checks of every preset's workflows, Dockerfile, lock wiring and hygiene files.
Slow: checkov over every preset, and a control that proves checkov flags what it should.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.scaffold.templating import read_answers
from ruamel.yaml import YAML

from .support import PRESETS, Renders, assert_ok, render, run, tool
from .test_generated import WORKFLOWS

pytestmark = pytest.mark.xdist_group("template-generated")
YAML_SAFE = YAML(typ="safe")
#: `uses: owner/repo@<40 hex>  # vX.Y.Z` (local reusable workflows `./...` are ours)
PINNED_USE = re.compile(r"^\s*(?:- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40}  # v\d+\.\d+\.\d+$")
CHECKOV = "checkov==3.3.30"  # its pin: checkov cannot share the platform venv (it caps `packaging` < 24)
CHECKOV_FRAMEWORKS = ("github_actions", "dockerfile", "secrets", "kubernetes")
BASELINE = Path(__file__).with_name("fixtures") / "checkov_baseline.yaml"


@pytest.fixture
def project(generated: Path) -> Path:
    return generated


def _workflow_text(project: Path, name: str) -> str:
    return (project / ".github" / "workflows" / name).read_text()


def _jobs(project: Path, name: str) -> dict[str, Any]:
    jobs = YAML_SAFE.load(_workflow_text(project, name))["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def test_every_third_party_action_is_pinned_to_a_commit_sha_with_its_version(project: Path) -> None:
    for name in WORKFLOWS:
        for line in _workflow_text(project, name).splitlines():
            if re.match(r"^\s*(- )?uses: ", line) and "uses: ./" not in line:
                assert PINNED_USE.match(line), f"{name}: {line.strip()}"


def test_no_pipe_to_shell_and_pulumi_comes_from_its_pinned_action(project: Path) -> None:
    for name in WORKFLOWS:
        text = _workflow_text(project, name)
        assert not re.search(r"(curl|wget)[^\n|]*\|\s*(ba|z)?sh", text), name
    for name in ("cd.yml", "deploy.yml"):
        assert "uses: pulumi/actions@" in _workflow_text(project, name)


def _triggers(workflow: dict[Any, Any]) -> set[str]:
    # YAML 1.1 reads the `on:` key as True
    on = workflow["on"] if "on" in workflow else workflow[True]
    return {on} if isinstance(on, str) else set(on)


def test_secrets_are_named_and_the_passphrase_reaches_only_the_deploy_step(project: Path) -> None:
    for name in WORKFLOWS:
        text = _workflow_text(project, name)
        assert "secrets: inherit" not in text, name
        top = YAML_SAFE.load(text)
        assert "PULUMI_CONFIG_PASSPHRASE" not in json.dumps(top.get("env", {})), f"{name}: workflow-wide"
    steps = _jobs(project, "deploy.yml")["up"]["steps"]
    holders = [step.get("name", step.get("uses")) for step in steps if "PASSPHRASE" in json.dumps(step)]
    assert holders == ["pulumi up"]


def test_the_passphrase_is_an_environment_secret_no_pull_request_job_can_read(project: Path) -> None:
    """Review item 6. Only jobs that run in a GitHub environment read the passphrase's value; pull-request runs
    never get it. GitHub hands a reusable workflow only the secrets its caller names (an unnamed one resolves to
    ""), and the called job that declares `environment:` gets the environment's value
    (docs.github.com/actions/how-tos/reuse-automations/reuse-workflows, "Using inputs and secrets"): so cd.yml's
    callers name it — the only jobs without `environment:` that mention it — and they run on pushes (or the
    hand-off's workflow_dispatch, on main only) only, calling deploy.yml, whose job runs in the environment.
    The README tells users it is an environment secret only."""
    for name in WORKFLOWS:
        workflow = YAML_SAFE.load(_workflow_text(project, name))
        for job, spec in workflow["jobs"].items():
            if "PASSPHRASE" not in json.dumps(spec) or "environment" in spec:
                continue
            assert name == "cd.yml" and spec["uses"] == "./.github/workflows/deploy.yml", f"{name}: {job}"
            # pushes, or the hand-off's workflow_dispatch of main: a conjunction whose first term names the
            # event (and, for a dispatch, whose second pins main's workflow), never a PR
            event, *rest = spec["if"].split(" && ")
            assert event in ("github.event_name == 'push'", "github.event_name == 'workflow_dispatch'"), \
                f"{name}: {job} runs on pull requests"
            if event.endswith("'workflow_dispatch'"):
                assert rest[0] == "github.ref == 'refs/heads/main'", f"{name}: {job} runs from any branch"
            assert "||" not in spec["if"] and "pull_request" not in spec["if"], f"{name}: {job}"
            assert spec["secrets"] == {"PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"}
            assert "PASSPHRASE" not in json.dumps({k: v for k, v in spec.items() if k != "secrets"})
        if "pull_request" in _triggers(workflow) or "pull_request_target" in _triggers(workflow):
            assert name == "cd.yml" or "PASSPHRASE" not in json.dumps(workflow), name
    deploy = YAML_SAFE.load(_workflow_text(project, "deploy.yml"))
    assert _triggers(deploy) == {"workflow_call"}  # reachable only through cd.yml's push-only callers
    assert deploy["jobs"]["up"]["environment"] == {"name": "${{ inputs.environment }}"}
    assert "environment secret only" in " ".join((project / "README.md").read_text().split())


def test_continuous_training_uses_its_own_role_not_the_push_role(project: Path) -> None:
    answers = read_answers(project)
    steps = _jobs(project, "continuous-training.yml")["retrain"]["steps"]
    roles = {s["with"]["role-to-assume"] for s in steps if "role-to-assume" in s.get("with", {})}
    assert roles == {answers["training_role_arn"]}
    assert answers["training_role_arn"] != answers["ci_role_arn"]


def test_image_bases_are_pinned_by_digest_and_install_the_hashed_lock(project: Path) -> None:
    text = (project / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.M)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", text, flags=re.M))
    assert bases and all(b in stages or re.search(r"@sha256:[0-9a-f]{64}$", b) for b in bases), bases
    assert "COPY pyproject.toml uv.lock README.md ./" in text
    assert text.count("uv sync --locked --no-dev") == 2
    makefile = (project / "Makefile").read_text()
    assert "$(UV) sync --locked" in makefile and "--check" in makefile  # CI never rewrites the lock
    ci = _workflow_text(project, "ci.yml")
    assert "run: make venv" in ci


def test_deploy_installs_infra_only_from_its_hashed_lock(project: Path) -> None:
    """Review item 7: the jobs that hold AWS credentials (deploy, preview) install infra/ from infra/uv.lock
    with `uv sync --locked` (uv.lock records every registry artifact's hash and git dependencies' commits;
    --locked refuses a missing or stale lock), before they assume a role, and Pulumi runs the program in
    that environment (toolchain uv) instead of pip-installing ranges of its own."""
    for name, job in (("deploy.yml", "up"), ("cd.yml", "preview")):
        steps = _jobs(project, name)[job]["steps"]
        runs = [str(step.get("run", "")) for step in steps]
        assert not any("pip install" in run for run in runs), f"{name}: {job}"
        install = next(i for i, run in enumerate(runs) if "uv sync" in run)
        assert runs[install].splitlines()[0] == "uv sync --locked --project infra", f"{name}: {job}"
        role = next(i for i, step in enumerate(steps) if "role-to-assume" in step.get("with", {}))
        assert install < role, f"{name}: {job} installs after it holds credentials"
    pulumi = YAML_SAFE.load((project / "infra" / "Pulumi.yaml").read_text())
    assert pulumi["runtime"]["options"] == {"toolchain": "uv"}
    assert not (project / "infra" / "requirements.txt").exists()
    assert "infra-lock:\n\t$(UV) lock --project infra" in (project / "Makefile").read_text()
    dependabot = YAML_SAFE.load((project / ".github" / "dependabot.yml").read_text())
    assert {"package-ecosystem": "uv", "directory": "/infra"}.items() <= next(
        u for u in dependabot["updates"] if u["directory"] == "/infra").items()


def test_the_platform_is_pinned_to_a_commit_wherever_it_runs(project: Path) -> None:
    """Review item 7 and the `template` job hardening: infra/'s dependency, the policy pack checkout and the
    `mlplat fleet check` tool all name the platform by a 40-hex commit, never a movable tag."""
    dependencies = tomllib.loads((project / "infra" / "pyproject.toml").read_text())["project"]["dependencies"]
    platform = [d for d in dependencies if d.startswith("mlops-platform @ ")]
    assert len(platform) == 1 and re.fullmatch(r"mlops-platform @ git\+https://\S+\.git@[0-9a-f]{40}", platform[0])
    commit = platform[0].rsplit("@", 1)[1]
    for name in ("cd.yml", "deploy.yml"):
        assert YAML_SAFE.load(_workflow_text(project, name))["env"]["PLATFORM_REF"] == commit, name
    fleet = _jobs(project, "ci.yml")["template"]["steps"][-1]["run"]
    assert '--from "mlops-platform @ git+https://github.com/' in fleet and f'.git@{commit}"' in fleet


def test_gpu_preset_builds_on_the_cuda_runtime_and_locks_torch(project: Path) -> None:
    answers = read_answers(project)
    text = (project / "Dockerfile").read_text()
    pyproject = (project / "pyproject.toml").read_text()
    if answers["gpu_count"] > 0:
        assert re.search(r"^FROM nvidia/cuda:[\d.]+-runtime-ubuntu[\d.]+@sha256:", text, flags=re.M)
        assert f"uv python install {answers['python_version']}" in text
        assert '"torch>=' in pyproject and (project / "src" / answers["package_name"] / "torch_model.py").is_file()
    else:
        assert f"FROM python:{answers['python_version']}." in text and '"torch>=' not in pyproject


def test_python_version_follows_the_answer(project: Path) -> None:
    answers = read_answers(project)
    version = answers["python_version"]
    assert (project / ".python-version").read_text().strip() == version
    assert f'requires-python = ">={version}"' in (project / "pyproject.toml").read_text()


def test_hygiene_files(project: Path) -> None:
    answers = read_answers(project)
    owners = (project / ".github" / "CODEOWNERS").read_text().splitlines()[-1].split()
    assert owners == ["*", *answers["owners"]]
    dependabot = YAML_SAFE.load((project / ".github" / "dependabot.yml").read_text())
    assert {u["package-ecosystem"] for u in dependabot["updates"]} >= {"github-actions", "uv", "docker"}
    hooks = {h["id"] for repo in YAML_SAFE.load((project / ".pre-commit-config.yaml").read_text())["repos"]
             for h in repo["hooks"]}
    assert hooks >= {"ruff", "ruff-format", "mypy", "check-github-workflows"}
    assert json.loads((project / ".devcontainer" / "devcontainer.json").read_text())["postCreateCommand"]
    assert (project / "CHANGELOG.md").read_text().startswith("# Changelog")
    assert "All rights reserved" in (project / "LICENSE").read_text()  # the default answer
    assert (project / "data" / "README.md").is_file()
    fleet = _jobs(project, "ci.yml")["template"]["steps"][-1]
    assert fleet["name"] == "mlplat fleet check" and "mlplat fleet check . --strict" in fleet["run"]
    # only the platform's repository may be cloned (security review: the answers file is any PR's to edit)
    platform = answers["platform_repo"]
    assert fleet["run"].endswith(f'--template "gh:{platform}" --template "https://github.com/{platform}.git"')


@pytest.mark.parametrize(("license_id", "phrase", "source"), [
    ("MIT", "MIT License", "dvc"), ("Apache-2.0", "Apache License", "s3")])
def test_license_and_data_source_answers(tmp_path: Path, license_id: str, phrase: str, source: str) -> None:
    project = render(tmp_path / "p", license=license_id, data_source=source)
    assert phrase in (project / "LICENSE").read_text()
    assert f'license = "{license_id}"' in (project / "pyproject.toml").read_text()
    answers = read_answers(project)
    data_py = (project / "src" / answers["package_name"] / "data.py").read_text()
    if source == "dvc":
        assert (project / ".dvc" / "config").read_text().count(answers["data_uri"]) == 1
        assert 'DATA_ROOT = "data/"' in data_py
    else:
        assert not (project / ".dvc").exists() and '"s3fs>=' in (project / "pyproject.toml").read_text()
        assert f'DATA_ROOT = "{answers["data_uri"]}"' in data_py and answers["data_uri"].startswith("s3://")
    assert_ok(run(tool("ruff"), "check", "--no-cache", "src", "tests", cwd=project))
    assert_ok(run(tool("ruff"), "format", "--check", "--no-cache", "src", "tests", cwd=project))


# ---------------------------------------------------------------- checkov as an oracle (slow)

#: The scanned project that must be flagged: without it, a checkov that silently scans nothing would pass.
CONTROL = "control"


def _checkov(target: Path) -> dict[str, set[tuple[str, str]]]:
    """(check id, file in the project) of every failed checkov check, per project directory under `target`."""
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(
        [tool("uv"), "tool", "run", "--from", CHECKOV, "checkov", "-d", str(target), "--framework",
         *CHECKOV_FRAMEWORKS, "--skip-download", "--compact", "--quiet", "-o", "json"],
        capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode in (0, 1), f"checkov failed to run:\n{done.stderr[-3000:]}"
    reports = json.loads(done.stdout or "[]")
    reports = reports if isinstance(reports, list) else [reports]
    found: dict[str, set[tuple[str, str]]] = {p.name: set() for p in target.iterdir()}
    for failed in (f for r in reports for f in r["results"]["failed_checks"]):
        _, project, file = failed["file_path"].split("/", 2)  # "/<project>/<path in the project>"
        found[project].add((failed["check_id"], f"/{file}"))
    return found


def _render_control(renders: Renders, project: Path) -> None:
    """The default preset with what checkov must flag: write-all permissions, a script injection, root user."""
    renders.copy(project)
    ci = project / ".github" / "workflows" / "ci.yml"
    text = re.sub(r"^permissions:\n  contents: read$", "permissions: write-all", ci.read_text(), flags=re.M)
    ci.write_text(text.replace("      - run: make lint", '      - run: echo "${{ github.event.pull_request.title }}"'))
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(re.sub(r"^USER .*$", "", dockerfile.read_text(), flags=re.M))


@pytest.fixture(scope="session")
def checkov_findings(renders: Renders, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[tuple[str, str]]]:
    """checkov's findings in every preset and in the control, from one checkov run over all of them (its
    start-up is most of its cost); file paths are relative to each project, as in the baseline. The presets
    are copies of the renders the `generated` tests read (same xdist group, so the same worker)."""
    root = tmp_path_factory.mktemp("checkov")
    for name, answers in PRESETS.items():
        renders.copy(root / name, **answers)
    _render_control(renders, root / CONTROL)
    return _checkov(root)


def _accepted() -> set[tuple[str, str]]:
    entries = YAML_SAFE.load(BASELINE.read_text())["accepted"] or []
    assert all(e.get("reason", "").strip() for e in entries), f"{BASELINE}: every entry needs a reason"
    return {(e["check"], e["file"]) for e in entries}


@pytest.mark.slow
def test_checkov_finds_nothing_unaccepted_in_any_preset(checkov_findings: dict[str, set[tuple[str, str]]]) -> None:
    found: set[tuple[str, str]] = set()
    for name in PRESETS:
        findings = checkov_findings[name]
        assert not findings - _accepted(), f"{name}: checkov findings not in {BASELINE.name}: {findings}"
        found |= findings
    assert not _accepted() - found, f"{BASELINE.name} lists findings checkov no longer reports"


@pytest.mark.slow
def test_checkov_control_flags_what_it_should(checkov_findings: dict[str, set[tuple[str, str]]]) -> None:
    """Without this, a checkov that silently scans nothing would pass the test above."""
    checks = {check for check, _ in checkov_findings[CONTROL]}
    assert {"CKV2_GHA_1", "CKV_GHA_2", "CKV_DOCKER_3"} <= checks, checks  # write-all, injection, root
