"""Answers of the project template, validated before anything is rendered.

Copier skips question validators for `--defaults` (copier #1012, #1698, #2143), so `mlplat new`
validates every answer here first: one `ConfigError` lists every bad answer with its name, value and
fix, and nothing is written. The fields mirror the questions of the root `copier.yml` one to one
(tests keep them in step); `None` means "the template's default, derived from earlier answers".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mlops_platform.config.loader import dotted
from mlops_platform.config.sections import Tier
from mlops_platform.core import webhook_urls
from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError
from mlops_platform.core.formats import EMAIL
from mlops_platform.core.strict import StrictNumbers

SLUG = r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$"
GITHUB_REPO = r"^[A-Za-z0-9-]+/[A-Za-z0-9._-]+$"
CPU = r"^[0-9]+(\.[0-9]+)?m?$"
MEMORY = r"^[0-9]+(Mi|Gi)$"
HINTS = {
    SLUG: "a DNS label of at most 40 characters: lowercase letters, digits and '-', starting with a letter",
    EMAIL: "an e-mail address such as ada@example.com",
    GITHUB_REPO: "ORG/REPO",
    CPU: "a CPU quantity such as 500m or 2",
    MEMORY: "a memory quantity such as 512Mi or 2Gi",
}
#: Answers that are lists; `--data KEY=a,b` splits on commas.
LIST_FIELDS = ("owners", "environments", "branches")


class PythonVersion(StrEnum):
    PY311 = "3.11"
    PY312 = "3.12"
    PY313 = "3.13"


class License(StrEnum):
    PROPRIETARY = "Proprietary"
    APACHE = "Apache-2.0"
    MIT = "MIT"


class DataSource(StrEnum):
    """Where training data comes from."""

    SAMPLE = "sample"
    S3 = "s3"
    DVC = "dvc"


class Dataset(StrEnum):
    BREAST_CANCER = "breast_cancer"
    WINE = "wine"


class TrainingBackend(StrEnum):
    """Where the pipeline's training step runs (k8s.project_pipeline.TrainingBackend)."""

    JOB = "job"
    RAY = "ray"


class ServingMode(StrEnum):
    DEPLOYMENT = "deployment"
    KSERVE = "kserve"


class DeliveryStrategy(StrEnum):
    """How new model versions ship (k8s.delivery.DeliveryStrategy without `instant`, which the template
    uses only for dev scale-to-zero)."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    MIRROR = "mirror"


class GpuScaleOn(StrEnum):
    """The KEDA signal of GPU serving replicas (k8s.autoscaling.ScaleSignal without `cpu`)."""

    IN_FLIGHT = "in-flight"
    GPU_UTILIZATION = "gpu-utilization"


class OutputsSource(StrEnum):
    """Where the platform wiring answers came from."""

    STACK = "stack"
    FILE = "file"
    OFFLINE_PLAN = "offline-plan"
    MANUAL = "manual"


def _s(pattern: str | None = None, **kw: Any) -> Any:
    return Field(default=None, pattern=pattern, **kw)


Email = Annotated[str, Field(pattern=EMAIL)]


#: An IAM role ARN; the role name (after any path) is at most IAM's 64 characters.
ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"


class TemplateAnswers(StrictNumbers):
    """Every question of `copier.yml`. Required: project_slug, owners, github_org, cost_center."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # project identity
    project_slug: str = Field(pattern=SLUG)
    project_description: str | None = _s(max_length=200)
    package_name: str | None = _s(r"^[a-z_][a-z0-9_]*$")
    owners: list[Email] = Field(min_length=1)
    github_org: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
    github_repo: str | None = _s(GITHUB_REPO)
    cost_center: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,31}$")
    python_version: PythonVersion | None = None
    license: License | None = None
    # model and lifecycle
    dataset: Dataset | None = None
    model_name: str | None = _s(SLUG)
    gate_min_improvement: float | None = Field(default=None, ge=0, le=0.5)
    training_schedule: str | None = _s(r"^\S+( \S+){4}$")
    training_runner: str | None = _s(r"^[\w.-]+$")
    # serving
    serving_mode: ServingMode | None = None
    gpu_count: int | None = Field(default=None, ge=0, le=8)
    gpu_pool: str | None = _s(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    gpu_type: str | None = _s(r"^[a-z0-9][-a-z0-9]{0,30}$")
    training_backend: TrainingBackend | None = None
    training_gpus: int | None = Field(default=None, ge=0, le=8)
    serving_replicas: int | None = Field(default=None, ge=1, le=50)
    delivery_strategy: DeliveryStrategy | None = None
    analysis_interval_seconds: int | None = Field(default=None, ge=30, le=600)
    analysis_failed_checks: int | None = Field(default=None, ge=1, le=20)
    analysis_max_error_rate_pct: float | None = Field(default=None, gt=0, le=100)
    analysis_max_latency_p95_ms: int | None = Field(default=None, ge=1, le=60_000)
    analysis_max_latency_p99_ms: int | None = Field(default=None, ge=1, le=60_000)
    canary_step_weight: int | None = Field(default=None, ge=1, le=50)
    canary_max_weight: int | None = Field(default=None, ge=1, le=100)
    analysis_iterations: int | None = Field(default=None, ge=1, le=100)
    gpu_scale_on: GpuScaleOn | None = None
    scale_to_zero_in_dev: bool | None = None
    serving_cpu_request: str | None = _s(CPU)
    serving_cpu_limit: str | None = _s(CPU)
    serving_memory_request: str | None = _s(MEMORY)
    serving_memory_limit: str | None = _s(MEMORY)
    drift_threshold: float | None = Field(default=None, gt=0, le=10)
    environments: list[Tier] | None = Field(default=None, min_length=1)
    # tenancy
    branches: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    gpu_quota: int | None = Field(default=None, ge=0)
    cpu_quota: int | None = Field(default=None, ge=1)
    memory_quota_gib: int | None = Field(default=None, ge=1)
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    # platform wiring (filled from the platform outputs)
    platform_env: str | None = _s(r"^[a-z][a-z0-9-]{0,30}$")
    platform_version: str | None = _s(r"^\d+\.\d+\.\d+([.+-][\w.]+)?$")
    platform_repo: str | None = _s(GITHUB_REPO)
    platform_stack: str | None = _s(r"^[\w.-]+/[\w.-]+$")
    outputs_source: OutputsSource | None = None
    aws_region: str | None = _s(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    aws_account_id: str | None = _s(r"^[0-9]{12}$")
    cluster_name: str | None = _s(r"^[a-zA-Z][-a-zA-Z0-9]{0,99}$")
    k8s_namespace: str | None = _s(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    rollout_webhook_url: str | None = _s(max_length=2048)  # checked against k8s_namespace: _webhook_issues
    service_account: str | None = _s(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    pipeline_service_account: str | None = _s(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
    ecr_repository_url: str | None = _s(r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9._/-]+$")
    ci_role_arn: str | None = _s(ROLE_ARN)
    training_role_arn: str | None = _s(ROLE_ARN)
    ci_preview_role_arn: str | None = _s(ROLE_ARN)
    serving_ingress_domain: str | None = _s(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
    mlflow_tracking_uri: str | None = _s(r"^https?://\S+$")
    s3_datasets_uri: str | None = _s(r"^s3://\S+/$")
    s3_models_uri: str | None = _s(r"^s3://\S+/$")
    drift_metric: str | None = _s(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
    # data
    data_source: DataSource | None = None
    data_uri: str | None = _s(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")

    def to_copier_data(self) -> dict[str, Any]:
        """Answers for `copier.run_copy(data=...)`: only what was given, enums as plain values."""
        return self.model_dump(mode="json", exclude_none=True)


def _cpu_millis(quantity: str) -> float:
    return float(quantity[:-1]) if quantity.endswith("m") else float(quantity) * 1000


def _mebibytes(quantity: str) -> int:
    return int(quantity[:-2]) * (1024 if quantity.endswith("Gi") else 1)


def cross_field_issues(a: TemplateAnswers, source: str = "--data") -> list[ConfigIssue]:
    """Rules spanning answers (each field alone was already checked by the model)."""
    issues = []
    if a.serving_cpu_request and a.serving_cpu_limit and \
            _cpu_millis(a.serving_cpu_limit) < _cpu_millis(a.serving_cpu_request):
        issues.append(ConfigIssue("serving_cpu_limit", "is below serving_cpu_request", a.serving_cpu_limit,
                                  f"use at least {a.serving_cpu_request}", source))
    if a.serving_memory_request and a.serving_memory_limit and \
            _mebibytes(a.serving_memory_limit) < _mebibytes(a.serving_memory_request):
        issues.append(ConfigIssue("serving_memory_limit", "is below serving_memory_request",
                                  a.serving_memory_limit, f"use at least {a.serving_memory_request}", source))
    gpus = (a.gpu_count or 0) * (a.serving_replicas or 2)
    if a.gpu_quota is not None and gpus > a.gpu_quota:
        issues.append(ConfigIssue("gpu_quota", "does not cover gpu_count x serving_replicas", a.gpu_quota,
                                  f"use at least {gpus}", source))
    envs = [e.value for e in a.environments or []]
    if len(set(envs)) != len(envs):
        issues.append(ConfigIssue("environments", "lists an environment twice", envs, "list each once", source))
    if a.environments is not None and a.platform_env is not None and a.platform_env not in envs:
        issues.append(ConfigIssue("environments", f"does not include the platform environment "
                                  f"'{a.platform_env}'", envs, f"add {a.platform_env}", source))
    return issues + _role_and_data_issues(a, source) + _analysis_issues(a, source) + _webhook_issues(a, source)


def _webhook_issues(a: TemplateAnswers, source: str) -> list[ConfigIssue]:
    """The rollout webhook is a Service of the project's namespace (core.webhook_urls, as ModelServingArgs and
    the cluster's admission policy check it): Flagger calls it from the platform's network. The template takes
    no external hook; the platform's opt-out for those is for hand-written CanaryWebhooks."""
    url, namespace = a.rollout_webhook_url, a.k8s_namespace or a.project_slug
    problem = webhook_urls.url_problem(url, namespace=namespace, allow_external=False) if url else None
    if problem is None:
        return []
    return [ConfigIssue("rollout_webhook_url", problem, url, webhook_urls.url_fix(namespace, allow_external=False),
                        source)]


def _analysis_issues(a: TemplateAnswers, source: str) -> list[ConfigIssue]:
    """The pairs of analysis bounds copier.yml checks together (k8s.delivery.threshold_issues in the stack)."""
    issues = []
    p95, p99 = a.analysis_max_latency_p95_ms or 300, a.analysis_max_latency_p99_ms or 500
    if p99 < p95:
        issues.append(ConfigIssue("analysis_max_latency_p99_ms", f"is below analysis_max_latency_p95_ms {p95}",
                                  p99, f"use at least {p95}", source))
    step, top = a.canary_step_weight or 10, a.canary_max_weight or 50
    if top < step:
        issues.append(ConfigIssue("canary_max_weight", f"is below canary_step_weight {step}", top,
                                  f"use at least {step}", source))
    return issues


def _role_and_data_issues(a: TemplateAnswers, source: str) -> list[ConfigIssue]:
    issues = []
    if a.training_role_arn is not None and a.training_role_arn == a.ci_role_arn:
        issues.append(ConfigIssue("training_role_arn", "is the push/deploy CI role", a.training_role_arn,
                                  "use the project's training role (S3 prefix + tracking only)", source))
    if a.training_gpus and not a.gpu_count:
        issues.append(ConfigIssue("training_gpus", "needs a GPU pool but gpu_count is 0", a.training_gpus,
                                  "set gpu_count > 0 (which asks for gpu_pool), or training_gpus=0", source))
    if a.training_backend is TrainingBackend.RAY and not a.gpu_count:
        # copier.yml's validator of training_backend says why: DDP shards the PyTorch network only
        issues.append(ConfigIssue("training_backend", "ray trains the PyTorch model data-parallel (DDP), but "
                                  "gpu_count is 0 (the scikit-learn model has no gradients to share)", "ray",
                                  "set gpu_count > 0 (the GPU preset's PyTorch model), or training_backend=job",
                                  source))
    if a.data_uri is not None and a.data_source in (None, DataSource.SAMPLE):
        issues.append(ConfigIssue("data_uri", "is set but data_source is sample", a.data_uri,
                                  "set data_source=s3 or data_source=dvc, or drop data_uri", source))
    return issues


def validate_answers(data: Mapping[str, Any], source: str = "--data") -> TemplateAnswers:
    """Validate answers; raises one ConfigError naming every bad answer (source = where they came from)."""
    try:
        answers = TemplateAnswers.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError([_issue(err, source) for err in exc.errors(include_url=False)], source) from None
    issues = cross_field_issues(answers, source)
    if issues:
        raise ConfigError(issues, source)
    return answers


def _issue(err: Any, source: str) -> ConfigIssue:
    loc = tuple(err["loc"])
    path = dotted(loc) or "<answers>"
    kind = err["type"]
    value = None if kind == "missing" or isinstance(err.get("input"), Mapping) else err.get("input")
    message = str(err["msg"]).removeprefix("Value error, ")
    return ConfigIssue(path=path, message=_message(kind, message), value=value,
                       fix=_fix(err, loc), file=source)


def _message(kind: str, message: str) -> str:
    known = {"extra_forbidden": "unknown answer", "missing": "required answer is missing",
             "string_pattern_mismatch": "has the wrong format"}
    return known.get(kind, message)


def _fix(err: Any, loc: tuple[Any, ...]) -> str:
    kind, name = err["type"], str(loc[0]) if loc else ""
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(name, list(TemplateAnswers.model_fields), n=1)
        return (f"did you mean '{close[0]}'? " if close else "") + "see the questions in copier.yml"
    if kind == "missing":
        example = {"owners": "you@example.com", "github_org": "your-org", "cost_center": "ml-team"}
        return f"pass --data {name}={example.get(name, '...')}"
    if kind == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        return f"use {HINTS.get(pattern, 'a value matching ' + pattern)}"
    if kind == "enum":
        return f"use one of {err['ctx']['expected']}"
    return f"correct {name or 'the answers'} (see its help in copier.yml)"


def parse_data_args(pairs: Iterable[str]) -> dict[str, Any]:
    """`--data KEY=VALUE` pairs to answers. List answers split on ',' (or take YAML `[a, b]`); other values
    stay strings and pydantic converts numbers, so "3.11" stays a version and "0123" keeps its zero."""
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or not key:
            raise UsageError(f"--data {pair!r}: expected KEY=VALUE — fix: e.g. --data owners=you@example.com")
        data[key] = _parse_list(key, raw) if key in LIST_FIELDS else raw
    return data


def _parse_list(key: str, raw: str) -> Any:
    if not raw.startswith("["):
        return [item.strip() for item in raw.split(",") if item.strip()]
    try:
        return YAML(typ="safe").load(raw)
    except YAMLError as exc:
        raise ConfigError([ConfigIssue(key, f"not a YAML list: {getattr(exc, 'problem', exc)}", raw,
                                       "write a,b or [a, b]", "--data")]) from None
