"""Pods in project namespaces run only the project's own ECR images and the images platform controllers
inject (k8s/image_source.py, review M5). The policy's CEL is evaluated by cel-python (k8s_cel.py) over the
pods the generated project makes: its model Deployment/InferenceService, its pipeline's step pods with the
containers Argo adds (`init` and `wait` run argoexec: Argo Workflows "Workflow Executors" docs), its RayJob's
Ray pods (KubeRay copies the RayJob's pod templates into them)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mlops_platform.config import load_env
from mlops_platform.core import naming
from mlops_platform.core.image_mirror import Mirror, ecr_registry
from mlops_platform.engine import Plan
from mlops_platform.k8s.admission import project_binding
from mlops_platform.k8s.image_source import (
    POLICY_NAME,
    image_expression,
    image_message,
    image_policy,
    injected_images,
    project_prefix,
)
from mlops_platform.k8s.model_serving import pod_spec
from mlops_platform.k8s.pipelines import jetstream_versions
from mlops_platform.k8s.project_pipeline import (
    ProjectPipelineArgs,
    StepResources,
    TrainingBackend,
    workflow_template_spec,
)
from mlops_platform.k8s.serving_args import ModelServingArgs
from mlops_platform.programs.common import environment_mirror, installed_charts

from .k8s_cel import evaluate, message
from .planview import BINDING, VAP, k8s_of

NS = "fraud"
REGISTRY = ecr_registry("123456789012", "us-east-1")
CLUSTER = "mlops-prod"
PREFIX = project_prefix(REGISTRY, CLUSTER)
OWN = f"{REGISTRY}/{naming.project_repository(NS, CLUSTER)}"
DIGEST = "@sha256:" + "a" * 64
CHARTS = ["kserve", "argo-workflows", "argo-events", "kuberay-operator", "flagger", "keda"]
MIRROR = Mirror(REGISTRY, CLUSTER)
#: (injected repositories, argoexec as the workflow controller then names it) without and with mirroring
SETUPS = {"upstream": (injected_images(CHARTS, None), "quay.io/argoproj/argoexec:v3.6.7"),
          "mirrored": (injected_images(CHARTS, MIRROR), f"{REGISTRY}/{CLUSTER}/quay/argoproj/argoexec:v3.6.7")}


def pod(containers: list[str], init: list[str] | None = None, ephemeral: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(containers)]}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}", "image": image} for i, image in enumerate(init)]
    if ephemeral is not None:
        spec["ephemeralContainers"] = [{"name": f"e{i}", "image": image} for i, image in enumerate(ephemeral)]
    return {"metadata": {"name": "p", "namespace": NS}, "spec": spec}


def admitted(obj: dict[str, Any], injected: tuple[str, ...] = SETUPS["upstream"][0]) -> bool:
    return evaluate(image_expression(PREFIX, injected), obj, NS)


def pipeline(backend: TrainingBackend) -> dict[str, Any]:
    return workflow_template_spec(ProjectPipelineArgs(
        project=NS, namespace=NS, package=NS, image=OWN + DIGEST, service_account="fraud-pipeline",
        schedule="0 3 * * 1", provider=None, backend=backend, train=StepResources(gpus=1), gpu_type="l4",
        queue=NS))


@pytest.mark.parametrize("setup", sorted(SETUPS))
@pytest.mark.parametrize("backend", list(TrainingBackend))
def test_the_generated_pipelines_pods_are_admitted(setup: str, backend: TrainingBackend) -> None:
    """Each container step's pod (Argo adds argoexec as `init` and `wait`) and each Ray pod of the RayJob."""
    injected, argoexec = SETUPS[setup]
    checked = 0
    for step in pipeline(backend)["templates"]:
        if "container" in step:
            assert admitted(pod([step["container"]["image"], argoexec], init=[argoexec]), injected), step["name"]
            checked += 1
        if "resource" in step:
            job = json.loads(step["resource"]["manifest"])
            cluster = job["spec"]["rayClusterSpec"]
            templates = [cluster["headGroupSpec"]["template"], *(g["template"] for g in cluster["workerGroupSpecs"])]
            for template in templates:
                assert admitted({"metadata": {"name": "r"}, "spec": template["spec"]}, injected)
                checked += 1
    assert checked >= 3


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_the_generated_model_server_and_kserves_sidecars_are_admitted(setup: str) -> None:
    injected, _ = SETUPS[setup]
    args = ModelServingArgs(namespace=NS, name="ranker", image=f"{OWN}:1.0.0", provider=None,  # type: ignore[arg-type]
                            ingress_domain="models.internal")
    spec = pod_spec(args, args.image, {"app": "ranker"})
    assert admitted({"metadata": {"name": "ranker"}, "spec": spec}, injected)
    storage, agent = (next(i for i in injected if i.endswith(name)) for name in ("storage-initializer", "agent"))
    with_sidecars = {"metadata": {"name": "ranker"}, "spec": {**spec, "initContainers": [
        {"name": "storage-initializer", "image": f"{storage}:v0.15.2"}], "containers": [
        *spec["containers"], {"name": "agent", "image": f"{agent}:v0.15.2"}]}}
    assert admitted(with_sidecars, injected)


@pytest.mark.parametrize(("image", "why"), [
    ("docker.io/library/python:3.12", "a public image"),
    ("python:3.12", "a public image, short form"),
    (f"210987654321.dkr.ecr.us-east-1.amazonaws.com/{CLUSTER}/projects/{NS}:1", "another account's ECR"),
    (f"{REGISTRY}/{CLUSTER}/projects/other:1", "another project's repository"),
    (f"{REGISTRY}/{CLUSTER}/projects/{NS}-evil:1", "a repository that only starts like the project's"),
    (f"{REGISTRY}/{CLUSTER}/docker-hub/library/python:3.12", "any image through the pull-through cache (M5)"),
    (f"{REGISTRY}/{CLUSTER}/quay/argoproj/argoexec-evil:1", "a repository that only starts like an injected one"),
    (f"{REGISTRY}.evil.example/{CLUSTER}/projects/{NS}:1", "a host that only starts like the registry"),
    (f"{OWN}:1/../../other", "a suffix that is no tag"),
])
@pytest.mark.parametrize("place", ["containers", "initContainers", "ephemeralContainers"])
def test_images_from_anywhere_else_are_refused_in_every_container_list(image: str, why: str, place: str) -> None:
    injected = SETUPS["mirrored"][0]
    own = f"{OWN}:1.0.0"
    obj = {"containers": pod([image, own]), "initContainers": pod([own], init=[image]),
           "ephemeralContainers": pod([own], ephemeral=[image])}[place]
    assert not admitted(obj, injected), why
    text = message(image_message(PREFIX, injected), obj, NS)
    assert text.startswith(f"image {image} is refused") and f"{PREFIX}{NS} only" in text, text


def test_the_injected_images_are_the_charts_fixed_ones_and_only_with_their_chart() -> None:
    assert injected_images(["keda", "flagger", "kuberay-operator"], None) == ()
    assert set(injected_images(["argo-workflows", "kserve"], None)) == {
        "quay.io/argoproj/argoexec", "docker.io/kserve/storage-initializer", "kserve/storage-initializer",
        "docker.io/kserve/agent", "kserve/agent", "docker.io/kserve/router", "kserve/router"}
    assert "nats" in injected_images(["argo-events"], None)
    assert all(i.startswith(f"{REGISTRY}/{CLUSTER}/") for i in injected_images(CHARTS, MIRROR))


def test_the_policy_judges_pods_and_their_ephemeral_containers_and_fails_closed() -> None:
    spec = image_policy(PREFIX, ())
    assert spec["failurePolicy"] == "Fail"
    [rule] = spec["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == [""] and rule["resources"] == ["pods", "pods/ephemeralcontainers"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}


def test_the_policy_is_bound_to_project_namespaces_in_every_environment(plan: Plan, env: str) -> None:
    cfg = load_env(env)
    mirror = environment_mirror(cfg) if cfg.mirroring else None
    expected = image_policy(project_prefix(ecr_registry(cfg.environment.account_id, cfg.environment.region),
                                           cfg.cluster_name), injected_images(installed_charts(cfg), mirror))
    [policy] = [r for r in k8s_of(plan, VAP) if r.get("metadata.name") == POLICY_NAME]
    [binding] = [r for r in k8s_of(plan, BINDING) if r.get("metadata.name") == POLICY_NAME]
    assert policy.get("spec") == expected
    assert binding.get("spec") == project_binding(POLICY_NAME)
    assert policy.urn in binding.dependencies


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_argo_events_pods_in_the_project_namespace_are_admitted(setup: str) -> None:
    """The retrain EventSource and Sensor run Argo Events' image; the EventBus's JetStream pods run the images
    the events controller is configured with (pipelines.jetstream_versions), mirrored by air_gap.py."""
    injected, _ = SETUPS[setup]
    [bus] = jetstream_versions()
    images = [bus["natsImage"], bus["metricsExporterImage"], bus["configReloaderImage"]]
    if setup == "mirrored":
        images = [MIRROR.image(i) for i in images]
    events = (f"{REGISTRY}/{CLUSTER}/quay/argoproj/argo-events" if setup == "mirrored"
              else "quay.io/argoproj/argo-events") + ":v1.9.6"
    assert admitted(pod(images[:2], init=images[2:]), injected)
    assert admitted(pod([events]), injected)
