"""The answers model mirrors copier.yml and rejects what copier would reject — all at once, before rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import copier
import pytest
from mlops_platform.config.sections import Tier
from mlops_platform.core.errors import ConfigError, UsageError
from mlops_platform.core.formats import EMAIL
from mlops_platform.core.webhook_urls import in_cluster_regex
from mlops_platform.k8s.delivery import AnalysisThresholds
from mlops_platform.scaffold.answers import (
    Dataset,
    DataSource,
    DeliveryStrategy,
    GpuScaleOn,
    License,
    OutputsSource,
    PythonVersion,
    ServingMode,
    TemplateAnswers,
    TrainingBackend,
    parse_data_args,
    validate_answers,
)
from ruamel.yaml import YAML

from .support import BASE_ANSWERS, ROOT

COPIER = YAML(typ="safe").load((ROOT / "copier.yml").read_text())
QUESTIONS = {k: v for k, v in COPIER.items() if not k.startswith("_")}


def test_model_has_exactly_the_questions_of_copier_yml() -> None:
    assert list(TemplateAnswers.model_fields) == list(QUESTIONS)


@pytest.mark.parametrize(("question", "enum"), [
    ("python_version", PythonVersion), ("dataset", Dataset), ("serving_mode", ServingMode),
    ("environments", Tier), ("outputs_source", OutputsSource), ("license", License),
    ("data_source", DataSource), ("training_backend", TrainingBackend), ("delivery_strategy", DeliveryStrategy),
    ("gpu_scale_on", GpuScaleOn),
])
def test_choices_match_the_enums(question: str, enum: type) -> None:
    choices = QUESTIONS[question]["choices"]
    values = list(choices.values()) if isinstance(choices, dict) else list(choices)
    assert values == [member.value for member in enum]  # type: ignore[attr-defined]


def test_template_settings_are_safe_and_versioned() -> None:
    assert COPIER["_subdirectory"] == "templates/ml-project"
    assert COPIER["_answers_file"] == ".copier-answers.yml"
    assert "_tasks" not in COPIER  # copying never needs --trust
    assert all("version" in step for step in COPIER["_migrations"])
    assert all(QUESTIONS[name].get("help") for name in QUESTIONS)


def test_every_mistake_is_reported_at_once_with_field_value_and_fix() -> None:
    bad = {**BASE_ANSWERS, "project_slug": "Fraud_Detector", "owners": ["not-an-email"],
           "python_version": "3.9", "gpu_count": 12, "serving_mod": "kserve"}
    with pytest.raises(ConfigError) as caught:
        validate_answers(bad, "answers.yml")
    by_path = {issue.path: issue for issue in caught.value.issues}
    assert set(by_path) == {"project_slug", "owners[0]", "python_version", "gpu_count", "serving_mod"}
    assert by_path["project_slug"].value == "Fraud_Detector"
    assert "DNS label" in by_path["project_slug"].fix
    assert by_path["serving_mod"].fix.startswith("did you mean 'serving_mode'?")
    assert all(issue.file == "answers.yml" for issue in caught.value.issues)
    assert "answers.yml: python_version" in caught.value.render()


def test_required_answers_name_the_flag_to_pass() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_answers({"project_slug": "churn"})
    fixes = {issue.path: issue.fix for issue in caught.value.issues}
    assert fixes == {"owners": "pass --data owners=you@example.com", "github_org": "pass --data github_org=your-org",
                     "cost_center": "pass --data cost_center=ml-team"}


@pytest.mark.parametrize(("extra", "path", "text"), [
    ({"serving_cpu_request": "2", "serving_cpu_limit": "500m"}, "serving_cpu_limit", "below"),
    ({"serving_memory_request": "2Gi", "serving_memory_limit": "1024Mi"}, "serving_memory_limit", "below"),
    ({"gpu_count": 2, "serving_replicas": 2, "gpu_quota": 3}, "gpu_quota", "gpu_count x serving_replicas"),
    ({"environments": ["staging", "prod"], "platform_env": "dev"}, "environments", "platform environment"),
    ({"environments": ["dev", "dev"]}, "environments", "twice"),
    ({"ci_role_arn": "arn:aws:iam::123456789012:role/ci", "training_role_arn": "arn:aws:iam::123456789012:role/ci"},
     "training_role_arn", "push/deploy CI role"),
    ({"data_uri": "s3://bucket/prefix/"}, "data_uri", "data_source is sample"),
    ({"training_backend": "ray"}, "training_backend", "gpu_count is 0"),
    ({"analysis_max_latency_p95_ms": 600}, "analysis_max_latency_p99_ms", "below analysis_max_latency_p95_ms"),
    ({"canary_step_weight": 30, "canary_max_weight": 20}, "canary_max_weight", "below canary_step_weight"),
    ({"rollout_webhook_url": "http://169.254.169.254/latest/meta-data/"}, "rollout_webhook_url",
     "is not a Service of namespace"),
    ({"rollout_webhook_url": "https://hooks.example.com/"}, "rollout_webhook_url", "external webhook hosts (none)"),
])
def test_cross_field_rules(extra: dict[str, Any], path: str, text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_answers({**BASE_ANSWERS, **extra})
    assert [(i.path, text in i.message) for i in caught.value.issues] == [(path, True)]


#: The review's probe: a quote would close the string literal of the generated infra/__main__.py, and the
#: rest would run at `pulumi preview` in CI (REVIEW-deploy L1).
LOADTESTER_URL = "http://flagger-loadtester.fraud-detector.svc.cluster.local/"
INJECTION = LOADTESTER_URL + '"+__import__("os").system("id")+"'


def test_valid_answers_keep_only_what_was_given() -> None:
    answers = validate_answers({**BASE_ANSWERS, "gpu_count": "1", "serving_mode": "kserve"})
    assert answers.to_copier_data() == {**BASE_ANSWERS, "gpu_count": 1, "serving_mode": "kserve"}


def test_data_args_split_lists_and_keep_text() -> None:
    data = parse_data_args(["owners=a@x.io, b@y.io", "environments=[dev, prod]", "python_version=3.12",
                            "aws_account_id=012345678901", "gpu_count=2"])
    assert data == {"owners": ["a@x.io", "b@y.io"], "environments": ["dev", "prod"], "python_version": "3.12",
                    "aws_account_id": "012345678901", "gpu_count": "2"}
    assert validate_answers({**BASE_ANSWERS, **data}).gpu_count == 2


@pytest.mark.parametrize("pair", ["owners", "=x"])
def test_data_args_need_key_and_value(pair: str) -> None:
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        parse_data_args([pair])


@pytest.mark.parametrize(("name", "value"), [
    ("project_slug", "Bad_Slug"), ("project_slug", "a" * 41), ("owners", ["nobody"]), ("github_org", "no/slash"),
    ("cost_center", "x"), ("gpu_count", 9), ("serving_cpu_request", "lots"), ("serving_memory_limit", "2GB"),
    ("aws_account_id", "12345"), ("ci_role_arn", "role/ci"), ("drift_metric", "drift-score"),
    ("ci_preview_role_arn", f"arn:aws:iam::123456789012:role/{'x' * 65}"), ("gpu_type", "L4!"),
    ("training_role_arn", "role/training"), ("analysis_interval_seconds", 10), ("canary_step_weight", 60),
    ("serving_ingress_domain", "Not A Domain"), ("training_backend", "ray"),
    ("rollout_webhook_url", "http://flagger-loadtester.fraud-detector.svc.cluster.local@169.254.169.254/"),
    ("rollout_webhook_url", INJECTION), ("rollout_webhook_url", f"{LOADTESTER_URL}\n"),
    ("rollout_webhook_url", f"{LOADTESTER_URL}\x0b"), ("rollout_webhook_url", f"{LOADTESTER_URL}\x00"),
])
def test_copier_validators_agree_with_the_model(template_dir: Path, tmp_path: Path, name: str, value: Any) -> None:
    """Plain `copier copy --data` must reject what `mlplat new` rejects (nothing is rendered either way).
    copier reads the validators from this checkout's copier.yml as a plain directory (`template_dir`): a clone
    of the repository per case would check the same file (tests/template/test_new.py renders through the clone)."""
    with pytest.raises(ConfigError):
        validate_answers({**BASE_ANSWERS, name: value})
    with pytest.raises(ValueError, match=f"question '{name}'"):
        copier.run_copy(str(template_dir), tmp_path / "p", data={**BASE_ANSWERS, name: value}, defaults=True,
                        unsafe=False, quiet=True, pretend=True)
    assert not (tmp_path / "p").exists()


def test_copier_checks_owners_with_the_platforms_email_format() -> None:
    assert f"regex_search('{EMAIL}')" in QUESTIONS["owners"]["validator"]


#: copier question -> the AnalysisThresholds field it fills (templates/ml-project/infra/__main__.py.jinja)
ANALYSIS_QUESTIONS = {"analysis_interval_seconds": "interval_seconds", "analysis_failed_checks": "failed_checks",
                      "analysis_max_error_rate_pct": "max_error_rate_pct",
                      "analysis_max_latency_p95_ms": "max_latency_p95_ms",
                      "analysis_max_latency_p99_ms": "max_latency_p99_ms", "canary_step_weight": "step_weight",
                      "canary_max_weight": "max_weight", "analysis_iterations": "iterations"}


def test_analysis_answers_default_to_the_components_defaults_and_fill_every_threshold() -> None:
    """Same defaults in the template as in `ModelServingArgs` (AnalysisThresholds); max_drift comes from
    drift_threshold, the PSI the template's server exports."""
    defaults = AnalysisThresholds()
    assert {q: QUESTIONS[q]["default"] for q in ANALYSIS_QUESTIONS} == \
        {q: getattr(defaults, f) for q, f in ANALYSIS_QUESTIONS.items()}
    main = (ROOT / "templates" / "ml-project" / "infra" / "__main__.py.jinja").read_text()
    for question, field_ in ANALYSIS_QUESTIONS.items():
        assert f"{field_}={{{{ {question}" in main, question
    assert "max_drift={{ drift_threshold }}" in main
    assert set(ANALYSIS_QUESTIONS.values()) | {"max_drift"} == {f for f in AnalysisThresholds.__dataclass_fields__}


def test_the_rollout_webhook_is_checked_by_the_same_rule_in_copier_and_the_model(tmp_path: Path,
                                                                                 template_dir: Path) -> None:
    """copier.yml's validator is core.webhook_urls' in-namespace regex written as Jinja (so `copier copy --data`
    and `mlplat new` refuse the same URLs), and an own-namespace Service passes both."""
    # `\Z`, not `$`: Python's `$` also matches before a final newline
    regex = in_cluster_regex("\x00").removesuffix("$") + "\\Z"
    jinja = "'" + regex.replace("\\", "\\\\").replace("\x00", "' ~ k8s_namespace ~ '") + "'"
    assert f"regex_search({jinja})" in QUESTIONS["rollout_webhook_url"]["validator"]
    namespace = BASE_ANSWERS["project_slug"]  # k8s_namespace's default
    good = f"http://flagger-loadtester.{namespace}.svc.cluster.local/"
    assert validate_answers({**BASE_ANSWERS, "rollout_webhook_url": good}).rollout_webhook_url == good
    copier.run_copy(str(template_dir), tmp_path / "p", data={**BASE_ANSWERS, "rollout_webhook_url": good},
                    defaults=True, unsafe=False, quiet=True, pretend=True)
    with pytest.raises(ConfigError) as caught:
        validate_answers({**BASE_ANSWERS, "rollout_webhook_url": "http://[fd00:ec2::254]/"})
    (issue,) = caught.value.issues
    assert issue.render() == (
        f"--data: rollout_webhook_url: is not a Service of namespace {namespace!r} (Flagger would call it from the "
        "platform's network position: instance metadata, the Kubernetes API and other tenants are reachable from "
        f"there) (got 'http://[fd00:ec2::254]/') — fix: use http://<service>.{namespace}.svc.cluster.local[:port]/path "
        f"(e.g. the Flagger loadtester http://flagger-loadtester.{namespace}.svc.cluster.local/); an external https "
        "hook needs its host listed in the platform's serving.delivery.allow_external_webhook_hosts")


def test_the_generated_program_quotes_the_webhook_url_as_json() -> None:
    """`| tojson` renders any string as a valid Python string literal: the generated program never depends on the
    URL rule to keep the answer out of its code."""
    main = (ROOT / "templates" / "ml-project" / "infra" / "__main__.py.jinja").read_text()
    assert main.count("{{ rollout_webhook_url | tojson }}") == 2
    assert "{{ rollout_webhook_url }}" not in main
