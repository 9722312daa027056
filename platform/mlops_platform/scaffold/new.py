"""`mlplat new`: validate answers, resolve platform outputs, render, `git init`, and hand the platform
team the project entry (tenancy) for the stack config.

Everything that can be wrong with the input is checked before the destination is touched; if
rendering itself fails, a destination created here is removed again.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from mlops_platform.config.sections import ProjectConfig
from mlops_platform.core.contract import GpuPoolOutput
from mlops_platform.core.errors import ConfigError, ConfigIssue, TemplateError, UsageError
from mlops_platform.scaffold.answers import TemplateAnswers, validate_answers
from mlops_platform.scaffold.guards import check_empty, check_limits, check_location, destination
from mlops_platform.scaffold.outputs import ResolvedOutputs, resolve_outputs
from mlops_platform.scaffold.project_names import ProjectNames, project_names
from mlops_platform.scaffold.templating import commit_all, copy_project, git, read_answers, template_source

#: Fields of a `mlops-platform:projects` entry, in the order the platform team reads them.
ENTRY_FIELDS = ("name", "owners", "github_repo", "branches", "gpu_quota", "cpu_quota", "memory_quota_gib",
                "monthly_budget_usd", "cost_center")
OFFLINE_BANNER = "OFFLINE PLAN — placeholder values"
ANSWERS_SOURCE = "answers (NAME and --data)"


@dataclass(frozen=True)
class NewProject:
    dest: Path
    outputs: ResolvedOutputs
    names: ProjectNames
    answers: dict[str, Any]  # as recorded in the project's answers file
    entry: dict[str, Any]  # the project's entry for the stack config

    @property
    def template_version(self) -> str:
        return str(self.answers.get("_commit", "?"))


def new_project(name: str, env: str, dest: Path, data: Mapping[str, Any] | None = None,
                outputs_file: Path | None = None, offline: bool = False, vcs_ref: str | None = None,
                src: str | Path | None = None, interactive: bool = False) -> NewProject:
    """Generate a project repository at `dest` wired to platform environment `env`.

    `src`: the template (a Git URL such as gh:ORG/mlops-platform, or a checkout; default this checkout).
    The project records it and `copier update` / `mlplat fleet` update from it, so give the URL for
    repositories other machines will update. `interactive`: copier asks every question `data` and the
    platform wiring leave open (a terminal is needed), its defaults taken from the platform outputs."""
    data = dict(data or {})
    if data.setdefault("project_slug", name) != name:
        raise UsageError(f"--data project_slug={data['project_slug']} differs from NAME {name} — fix: drop it")
    # bad answers fail before outputs are even read (answers still to be asked stand in meanwhile)
    validate_answers({**ASKED_PLACEHOLDERS, **data} if interactive else data, ANSWERS_SOURCE)
    check_empty(dest)
    src = src or template_source()
    check_location(dest, src)
    resolved = resolve_outputs(env, outputs_file, offline)
    names = project_names(name, resolved.outputs)
    given = {**wiring_answers(resolved, names, src), **data}
    if not interactive:
        answers = with_gpu_pool(validate_answers(given, ANSWERS_SOURCE), resolved)
        check_limits(answers.model_dump(), resolved.outputs, ANSWERS_SOURCE)
    with destination(dest):  # one `new` at a time; removed again when anything below fails
        if interactive:
            _copy_asking(dest, given, resolved, src, vcs_ref)
        else:
            copy_project(dest, answers.to_copier_data(), src, vcs_ref)
        recorded = read_answers(dest)
        entry = project_entry(recorded)
        check_limits(entry, resolved.outputs, f"{ANSWERS_SOURCE} with the template's defaults")
        git("init", "-q", "-b", "main", cwd=dest)
        commit_all(dest, f"Generate {name} from the mlops-platform template {recorded['_commit']}")
    return NewProject(dest, resolved, names, recorded, entry)


#: Stand-ins for required answers the questionnaire will ask, so the given ones validate up front.
ASKED_PLACEHOLDERS: dict[str, Any] = {"owners": ["asked@example.com"], "github_org": "asked", "cost_center": "asked"}
PROMPTS_SOURCE = "answers typed at the prompts"


def _copy_asking(dest: Path, given: Mapping[str, Any], resolved: ResolvedOutputs, src: str | Path,
                 vcs_ref: str | None) -> None:
    """Render with copier's questionnaire for what `given` leaves open; the typed answers then pass the
    same checks as scripted ones (a failure leaves nothing behind: see `destination`)."""
    typed = validate_answers({**ASKED_PLACEHOLDERS, **given}, ANSWERS_SOURCE).to_copier_data()
    copy_project(dest, {k: v for k, v in typed.items() if k in given}, src, vcs_ref,
                 ask_defaults=asked_defaults(resolved, src, given))
    recorded = {k: v for k, v in read_answers(dest).items() if not k.startswith("_")}
    answers = with_gpu_pool(validate_answers(recorded, PROMPTS_SOURCE), resolved)
    check_limits(answers.model_dump(), resolved.outputs, PROMPTS_SOURCE)


def asked_defaults(resolved: ResolvedOutputs, src: str | Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults the questionnaire offers: the environment's owner and cost-center tags, the platform
    repository's organisation, and the smallest GPU pool of the environment."""
    out = resolved.outputs
    org = (github_repo_of(src) or "").partition("/")[0]
    defaults: dict[str, Any] = {"owners": [out.tags["owner"]] if out.tags.get("owner") else None,
                                "cost_center": out.tags.get("cost-center"), "github_org": org or None}
    whole = {n: p for n, p in out.gpu_pools.items() if p.whole_gpus}  # the template's pods ask for whole GPUs
    if whole:
        pool = min(whole, key=lambda n: (whole[n].gpus_per_node, n))
        defaults.update(gpu_pool=pool, gpu_type=whole[pool].gpu_type)
    return {k: v for k, v in defaults.items() if v is not None and k not in given}


def with_gpu_pool(answers: TemplateAnswers, resolved: ResolvedOutputs) -> TemplateAnswers:
    """GPU serving lands on a pool of the platform environment: the chosen one must exist and fit a pod;
    none chosen, the smallest pool that fits is taken (fewest GPUs per node, then name). Its GPU model is
    recorded too (`gpu_type`), which is what the pods select."""
    gpus = answers.gpu_count or 0
    if gpus == 0:
        return answers
    pools = resolved.outputs.gpu_pools
    listing = ", ".join(f"{n} ({p.gpus_per_node} x {p.gpu_type})" for n, p in sorted(pools.items())) or "none"
    where = f"{ANSWERS_SOURCE} (platform {resolved.outputs.environment}: {resolved.origin})"
    if answers.gpu_pool is None:
        fitting = sorted((p.gpus_per_node, n) for n, p in pools.items() if p.whole_gpus and p.gpus_per_node >= gpus)
        if not fitting:
            raise ConfigError([ConfigIssue("gpu_count", f"no GPU pool of the platform has {gpus} GPUs per node "
                                           f"(pools: {listing})", gpus, "lower gpu_count or add a pool to the "
                                           "platform stack's node_pools.gpu", where)], where)
        return _placed(answers, fitting[0][1], pools[fitting[0][1]])
    pool = pools.get(answers.gpu_pool)
    if pool is None:
        raise ConfigError([ConfigIssue("gpu_pool", "is not a GPU pool of the platform environment", answers.gpu_pool,
                                       f"use one of: {listing}", where)], where)
    if not pool.whole_gpus:
        raise ConfigError([ConfigIssue("gpu_pool", f"shares its GPUs (advertises {', '.join(sorted(pool.resources))}): "
                                       "the project's pods ask for whole nvidia.com/gpu", answers.gpu_pool,
                                       "use a pool of whole GPUs: " + (", ".join(sorted(
                                           n for n, p in pools.items() if p.whole_gpus)) or "none"), where)], where)
    if pool.gpus_per_node < gpus:
        raise ConfigError([ConfigIssue("gpu_count", f"pool {answers.gpu_pool} has {pool.gpus_per_node} GPUs per "
                                       "node, a pod can never schedule", gpus,
                                       f"use at most {pool.gpus_per_node} or another pool ({listing})", where)], where)
    return _placed(answers, answers.gpu_pool, pool)


def _placed(answers: TemplateAnswers, name: str, pool: GpuPoolOutput) -> TemplateAnswers:
    """Record the pool, and its GPU model unless given: pods select the model, which every environment's
    platform names the same way, while pool names differ between environments."""
    model = answers.gpu_type or (pool.gpu_type if pool.gpu_type != "unknown" else None)
    return answers.model_copy(update={"gpu_pool": name, "gpu_type": model})


def wiring_answers(resolved: ResolvedOutputs, names: ProjectNames, src: str | Path) -> dict[str, Any]:
    """Platform wiring answers from the outputs contract and the project's names."""
    out = resolved.outputs
    wiring: dict[str, Any] = {
        "platform_env": out.environment,
        "platform_version": out.platform_version,
        "outputs_source": resolved.source.value,
        "aws_region": out.region,
        "aws_account_id": out.account_id,
        "cluster_name": out.cluster_name,
        "k8s_namespace": names.namespace,
        "service_account": names.service_account,
        "pipeline_service_account": names.pipeline_service_account,
        "ecr_repository_url": names.ecr_repository_url,
        "ci_role_arn": names.ci_role_arn,
        "ci_preview_role_arn": names.ci_preview_role_arn,
        "training_role_arn": names.training_role_arn,
        "drift_metric": out.drift_metric,
        "s3_datasets_uri": names.s3_prefixes.get("datasets"),
        "s3_models_uri": names.s3_prefixes.get("models"),
        "serving_ingress_domain": out.serving_ingress_domain or None,  # '' = serving off: the default
        "mlflow_tracking_uri": out.mlflow_url or None,  # '' = tracking off: keep the template default
        "platform_repo": github_repo_of(src),
    }
    return {key: value for key, value in wiring.items() if value is not None}


def github_repo_of(src: str | Path) -> str | None:
    """ORG/REPO of a GitHub template URL, or of a checkout's GitHub `origin`."""
    url = str(src)
    if Path(url).is_dir():
        url = git("remote", "get-url", "origin", cwd=Path(url), check=False)
    match = re.search(r"(?:github\.com[:/]|^gh:)([\w.-]+/[\w.-]+?)(\.git)?/?$", url)
    return match.group(1) if match else None


def project_entry(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The `mlops-platform:projects` entry for this project, checked against the stack schema."""
    entry = {
        "name": recorded["project_slug"],
        "owners": list(recorded["owners"]),
        "github_repo": recorded["github_repo"],
        "branches": list(recorded.get("branches") or ["main"]),
        "gpu_quota": int(recorded["gpu_quota"]),
        "cpu_quota": int(recorded["cpu_quota"]),
        "memory_quota_gib": int(recorded["memory_quota_gib"]),
        "monthly_budget_usd": float(recorded["monthly_budget_usd"]),
        "cost_center": recorded["cost_center"],
    }
    try:
        ProjectConfig.model_validate(entry)
    except ValidationError as exc:  # the template and the stack schema disagree: a bug, not user error
        raise TemplateError(f"project entry does not fit the stack schema: {exc}") from None
    return {key: entry[key] for key in ENTRY_FIELDS}


def entry_yaml(entry: Mapping[str, Any], env: str) -> str:
    """The entry as the YAML the platform team pastes under `mlops-platform:projects`."""
    yaml = YAML()
    yaml.default_flow_style = None
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump([dict(entry)], buffer)
    return f"# stacks/Pulumi.{env}.yaml, under config: mlops-platform:projects:\n{buffer.getvalue()}"
