"""A project's pipeline on the cluster, deployed by the project's own `infra/` program: a WorkflowTemplate
(validate data → train → evaluate against the champion → register → hand-off) and a CronWorkflow that
starts it on the project's schedule. The platform's drift Sensor (k8s/pipeline_tenant.py) and
`make train-remote` start the same template, so every run is one reviewed definition.

Every step runs the project's image (its own ECR repository) as the project's pipeline ServiceAccount
(IRSA: its S3 prefixes; MLflow login from the tenancy Secret), with requests/limits, the restricted
security context and, when the project trains on GPUs, the GPU toleration and the pool selector. With
`TrainingBackend.RAY` the training step is a RayJob on the GPU pool instead of a pod (Ray Train, data-parallel);
its driver's outputs stay in the Ray head pod, so the step hands the gate its Ray cluster's name (RayJob status),
which the driver tagged its MLflow run with: every run gates and hands off its own model, never "latest".
Where the environment runs Kueue (`queueing.enabled`), the training step — the pod, or the RayJob and so all
its pods at once — carries the project's queue label (platform output `projects.<name>.queue`) and waits for
quota there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core import contract
from mlops_platform.core.contract import QUEUE_LABEL
from mlops_platform.k8s.manifests import (
    Manifest,
    container_security_context,
    gpu_placement,
    meta,
    pod_security_context,
    resources,
    tmp_volume,
)
from mlops_platform.k8s.pipeline_tenant import ARGO_API
from mlops_platform.k8s.provider import k8s_opts
from mlops_platform.k8s.tenancy import TRACKING_SECRET  # the project's MLflow login (URI/USERNAME/PASSWORD)

#: Where steps write their output parameters (the root filesystem is read-only; /tmp is an emptyDir).
OUTPUTS_DIR = "/tmp/outputs"
#: Secret in the project namespace holding GITHUB_TOKEN for the hand-off's workflow_dispatch (Actions: write).
DISPATCH_SECRET = "github-dispatch"
TRIGGERS = ("manual", "schedule", "drift")
#: The Ray-trained variant's train output: the RayJob's Ray cluster (RayJob `status.rayClusterName`).
RAY_CLUSTER_OUTPUT = "ray-cluster"
#: Env of the Ray pods naming their cluster (from KubeRay's `ray.io/cluster` pod label): the driver tags the
#: MLflow run with it (the generated project's `ray_train.RAY_CLUSTER_ENV`).
RAY_CLUSTER_ENV = "TRAINING_RAY_CLUSTER"
#: The label KubeRay puts on every pod of a RayCluster, valued with the cluster's name (KubeRay v1.4
#: ray-operator/controllers/ray/utils/constant.go `RayClusterLabelKey`).
RAY_CLUSTER_LABEL = "ray.io/cluster"


class TrainingBackend(StrEnum):
    """How the training step runs: one pod (`job`), or a RayJob with GPU workers (`ray`)."""

    JOB = "job"
    RAY = "ray"


@dataclass(frozen=True, kw_only=True)
class StepResources:
    """Requests/limits of one step."""

    cpu: str = "500m"
    """CPU request. Default: 500m."""
    memory: str = "1Gi"
    """Memory request and limit. Default: 1Gi."""
    gpus: int = 0
    """GPUs (limits only; GPU placement follows). Default: 0."""
    efa: pulumi.Input[int] = 0
    """EFA devices (`vpc.amazonaws.com/efa`, limits only): a pod on an EFA pool reaches the OS-bypass network
    only through the devices it requests (`efa_per_pod` derives it from the platform's `gpu_pools`). Default: 0."""


def efa_per_pod(pool: Mapping[str, Any] | None, gpus: int) -> int:
    """EFA devices a training pod with `gpus` GPUs requests on a pool (its platform output `gpu_pools.<name>`):
    its GPUs' share of the node's adapters, rounded down, so pods packed onto one node never ask for more
    adapters than the node advertises; 0 without EFA (or with a share below one adapter)."""
    node_gpus = int((pool or {}).get("gpus_per_node") or 0)
    per_node = int((pool or {}).get("efa_per_node") or 0)
    return per_node * min(gpus, node_gpus) // node_gpus if node_gpus and gpus > 0 else 0


def _with_efa(base: Manifest, efa: int) -> Manifest:
    return {**base, "limits": {**base["limits"], contract.EFA_RESOURCE: str(efa)}} if efa else base


def step_resources(res: StepResources) -> Manifest | pulumi.Output[Manifest]:
    """Requests/limits of a step, with its EFA devices (plain, or resolved from the platform's outputs)."""
    base = resources(res.cpu, res.memory, gpus=res.gpus)
    if isinstance(res.efa, int):
        return _with_efa(base, res.efa)
    efa: pulumi.Output[int] = pulumi.Output.from_input(res.efa)
    return efa.apply(lambda n: _with_efa(base, int(n)))


@dataclass(frozen=True, kw_only=True)
class ProjectPipelineArgs:
    """Arguments of `ProjectPipeline`."""

    project: str
    """Project slug (labels). Required."""
    namespace: str
    """The project's namespace. Required."""
    package: str
    """Python package the image runs (`python -m <package> <step>`). Required."""
    image: pulumi.Input[str]
    """The project's image from its own ECR repository (a digest reference records exactly what ran). Required."""
    service_account: str
    """The project's pipeline ServiceAccount (ProjectOutput.pipeline_service_account). Required."""
    schedule: str
    """Cron schedule (UTC, 5 fields) of the CronWorkflow. Required."""
    backend: TrainingBackend = TrainingBackend.JOB
    """Where training runs. Default: job."""
    train: StepResources = StepResources()
    """Resources of the training step (per Ray worker with ray). Default: 500m, 1Gi, no GPU."""
    ray_workers: int = 2
    """Ray worker replicas (ray only). Default: 2."""
    gpu_type: str | None = None
    """GPU model the training pods select (mlops.io/gpu-type). Default: none."""
    gpu_pool: str | None = None
    """GPU pool the training pods select when no model is given (mlops.io/pool). Default: none."""
    artifact_location: pulumi.Input[str] = ""
    """Where runs write artifacts (ProjectOutput.mlflow_artifact_uri: the tracking server serves none, the
    pipeline identity writes there). Default: '' (the experiment's own location)."""
    queue: pulumi.Input[str] | None = None
    """The project's Kueue LocalQueue (platform output `projects.<name>.queue`; '' or None where the
    environment runs no Kueue): the training step carries it in `kueue.x-k8s.io/queue-name`. Default: none."""
    deploy_repository: str = ""
    """GitHub ORG/REPO whose `cd` workflow deploys a promoted model: the hand-off step starts it on main (a
    `workflow_dispatch` with the version, image and environment as inputs), using the token in the
    namespace's `github-dispatch` Secret. Default: '' (the hand-off only tags the version)."""
    deploy_environment: str = ""
    """Platform (and GitHub) environment the dispatch asks `cd` to redeploy: the stack's own. Default: ''."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""


def _env(args: ProjectPipelineArgs) -> list[Manifest]:
    return [{"name": "PIPELINE_RUN_ID", "value": "{{workflow.uid}}"},
            {"name": "PIPELINE_TRIGGER", "value": "{{workflow.parameters.trigger}}"},
            {"name": "IMAGE_REF", "value": args.image}, {"name": "HOME", "value": "/tmp"},
            {"name": "MLFLOW_ARTIFACT_LOCATION", "value": args.artifact_location}]


def _container(args: ProjectPipelineArgs, step: list[str], res: StepResources) -> Manifest:
    return {"image": args.image, "command": ["python", "-m", args.package, *step], "env": _env(args),
            "envFrom": [{"secretRef": {"name": TRACKING_SECRET, "optional": True}}],
            "resources": step_resources(res),
            "securityContext": container_security_context(), "volumeMounts": [tmp_volume()[1]]}


def _output(name: str) -> Manifest:
    return {"name": name, "valueFrom": {"path": f"{OUTPUTS_DIR}/{name}"}}


def _gpu(args: ProjectPipelineArgs, gpus: int) -> Manifest:
    return gpu_placement(args.gpu_type, args.gpu_pool) if gpus else {}


def _queued(args: ProjectPipelineArgs) -> Manifest:
    """The training pod's metadata with the queue label (Kueue's pod integration gates it until admitted)."""
    return {"metadata": {"labels": {QUEUE_LABEL: args.queue}}} if args.queue else {}


def _candidate(args: ProjectPipelineArgs) -> tuple[str, str]:
    """What the train step hands the gate, as (parameter, evaluate flag): the version a training pod
    registered, or the Ray cluster of the RayJob, whose driver's outputs stay in its head pod (the gate
    finds the version that cluster trained by the run's tag). Never "latest": another run's model
    (a manual `train`, a retried attempt) must not be judged and handed off as this run's."""
    return ("ray-cluster", "--ray-cluster") if args.backend is TrainingBackend.RAY else ("version", "--version")


def step_templates(args: ProjectPipelineArgs) -> list[Manifest]:
    """validate-data, train (pod or RayJob), evaluate (gate + register) and hand-off."""
    small = StepResources()
    out = ["--outputs", OUTPUTS_DIR]
    train: Manifest = ({"name": "train", "resource": ray_job_resource(args), "outputs": {"parameters": [
                            {"name": RAY_CLUSTER_OUTPUT, "valueFrom": {"jsonPath": "{.status.rayClusterName}"}}]}}
                       if args.backend is TrainingBackend.RAY
                       else {"name": "train", "container": _container(args, ["train", *out], args.train),
                             "outputs": {"parameters": [_output("version")]}, **_gpu(args, args.train.gpus),
                             **_queued(args)})
    given, flag = _candidate(args)
    return [
        {"name": "validate-data", "container": _container(args, ["validate-data", *out], small)},
        train,
        {"name": "evaluate", "inputs": {"parameters": [{"name": given}]},
         "container": _container(args, ["evaluate", flag, f"{{{{inputs.parameters.{given}}}}}", *out], small),
         "outputs": {"parameters": [_output("promoted"), _output("version")]}},
        {"name": "handoff", "inputs": {"parameters": [{"name": "version"}]}, "container": _handoff_container(args)},
    ]


def _handoff_container(args: ProjectPipelineArgs) -> Manifest:
    """The hand-off reaches build/deploy through the project's own CD (a GitHub workflow_dispatch): the
    deploy stays a reviewed `pulumi up` of infra/ with the policy pack, never a patch from inside the cluster
    that the next `up` would revert."""
    container = _container(args, ["handoff", "--version", "{{inputs.parameters.version}}"], StepResources())
    container["env"] = [*container["env"], {"name": "HANDOFF_REPOSITORY", "value": args.deploy_repository},
                        {"name": "DEPLOY_ENVIRONMENT", "value": args.deploy_environment}]
    # the token's Secret is created by the project team (a fine-grained token or a GitHub App installation
    # token with Actions: write on the repo: it starts workflows, it cannot push code)
    container["envFrom"] = [*container["envFrom"], {"secretRef": {"name": DISPATCH_SECRET, "optional": True}}]
    return container


def _passed(name: str, step: str, output: str) -> Manifest:
    """Arguments of a step: parameter `name` from `step`'s output parameter `output`."""
    return {"parameters": [{"name": name, "value": f"{{{{steps.{step}.outputs.parameters.{output}}}}}"}]}


def _steps(args: ProjectPipelineArgs) -> Manifest:
    given, _ = _candidate(args)
    return {"name": "pipeline", "steps": [
        [{"name": "validate-data", "template": "validate-data"}],
        [{"name": "train", "template": "train"}],
        [{"name": "evaluate", "template": "evaluate", "arguments": _passed(given, "train", given)}],
        # only a candidate the gate promoted goes on to build/deploy: the very version the gate judged
        [{"name": "handoff", "template": "handoff", "when": "{{steps.evaluate.outputs.parameters.promoted}} == true",
          "arguments": _passed("version", "evaluate", "version")}],
    ]}


def workflow_template_spec(args: ProjectPipelineArgs) -> Manifest:
    """One pipeline at a time per project (mutex); finished pods and workflows are cleaned up."""
    return {
        "entrypoint": "pipeline", "serviceAccountName": args.service_account,
        "arguments": {"parameters": [{"name": "trigger", "value": "manual", "enum": list(TRIGGERS)}]},
        "synchronization": {"mutexes": [{"name": contract.PIPELINE_TEMPLATE}]},
        "podMetadata": {"labels": {"mlops.io/project": args.project}},
        "securityContext": pod_security_context(),
        "volumes": [tmp_volume()[0]],
        "activeDeadlineSeconds": 6 * 3600,
        "retryStrategy": {"limit": "1", "retryPolicy": "OnError"},
        "templates": [_steps(args), *step_templates(args)],
    }


def cron_workflow_spec(schedule: str) -> Manifest:
    """The schedule starts the template; a run still going when the next is due is not doubled."""
    return {"schedules": [schedule], "timezone": "UTC", "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "workflowSpec": {"workflowTemplateRef": {"name": contract.PIPELINE_TEMPLATE},
                             "arguments": {"parameters": [{"name": "trigger", "value": "schedule"}]}}}


def _ray_env(args: ProjectPipelineArgs) -> list[Manifest]:
    """The steps' env plus the pod's Ray cluster name (downward API: the label is set before the pod starts)."""
    return [*_env(args), {"name": RAY_CLUSTER_ENV, "valueFrom": {"fieldRef": {
        "fieldPath": f"metadata.labels['{RAY_CLUSTER_LABEL}']"}}}]


def ray_pod(args: ProjectPipelineArgs, res: StepResources, command: list[str] | None = None) -> Manifest:
    container: Manifest = {"name": "ray", "image": args.image, "env": _ray_env(args),
                           "envFrom": [{"secretRef": {"name": TRACKING_SECRET, "optional": True}}],
                           "resources": step_resources(res),
                           "securityContext": container_security_context(), "volumeMounts": [tmp_volume()[1]]}
    if command:
        container["command"] = command
    return {"spec": {"serviceAccountName": args.service_account, "securityContext": pod_security_context(),
                     "volumes": [tmp_volume()[0]], "containers": [container], **_gpu(args, res.gpus)}}


def ray_job(args: ProjectPipelineArgs) -> Manifest:
    """RayJob whose driver runs the project's Ray Train entrypoint; workers (GPU) tolerate the GPU taint; torn
    down when done."""
    labels: dict[str, Any] = {"mlops.io/project": args.project}
    if args.queue:
        labels[QUEUE_LABEL] = args.queue
    return {"apiVersion": "ray.io/v1", "kind": "RayJob",
            "metadata": {"generateName": "train-", "namespace": args.namespace, "labels": labels},
            # Ray Train (the generated project's `train-ray`): one worker per worker pod, with the pod's GPUs
            "spec": {"entrypoint": f"python -m {args.package} train-ray --workers {args.ray_workers} "
                                   f"--gpus-per-worker {args.train.gpus} --outputs {OUTPUTS_DIR}",
                     "shutdownAfterJobFinishes": True, "ttlSecondsAfterFinished": 600,
                     "rayClusterSpec": {
                         # no CPUs offered on the head: Ray Train's workers land on the worker pods only (the
                         # driver and the train controller, num_cpus=0, stay on the head)
                         "headGroupSpec": {"rayStartParams": {"num-cpus": "0"},
                                           "template": ray_pod(args, StepResources())},
                         "workerGroupSpecs": [{"groupName": "workers", "replicas": args.ray_workers,
                                               "minReplicas": args.ray_workers, "maxReplicas": args.ray_workers,
                                               "rayStartParams": {}, "template": ray_pod(args, args.train)}]}}}


def ray_job_resource(args: ProjectPipelineArgs) -> Manifest:
    """Argo resource step: create the RayJob, owned by the Workflow, and wait for its outcome."""
    job = ray_job(args)
    plain = (isinstance(args.image, str) and (args.queue is None or isinstance(args.queue, str))
             and isinstance(args.train.efa, int))
    manifest = json.dumps(job) if plain else pulumi.Output.json_dumps(job)
    return {"action": "create", "setOwnerReference": True, "manifest": manifest,
            "successCondition": "status.jobStatus == SUCCEEDED", "failureCondition": "status.jobStatus == FAILED"}


def validate_args(args: ProjectPipelineArgs) -> list[str]:
    """Every problem of the arguments at once (checked before anything is created)."""
    problems = []
    if len(args.schedule.split()) != 5:
        problems.append(f"schedule {args.schedule!r}: use a 5-field cron expression such as '0 3 * * 1'")
    if args.train.gpus and not (args.gpu_type or args.gpu_pool):
        problems.append("train.gpus > 0 needs gpu_type or gpu_pool (a GPU pool of the platform's gpu_pools)")
    if args.backend is TrainingBackend.RAY and args.ray_workers < 1:
        problems.append(f"ray_workers {args.ray_workers}: a RayJob needs at least 1 worker")
    return problems


class ProjectPipeline(pulumi.ComponentResource):
    """The project's WorkflowTemplate and CronWorkflow in its namespace."""

    def __init__(self, name: str, args: ProjectPipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:ProjectPipeline", name, None, opts)
        problems = validate_args(args)
        if problems:
            raise ValueError(f"ProjectPipeline {name}: " + "; ".join(problems))
        inside = k8s_opts(self, args.provider)
        labels = {"mlops.io/project": args.project}
        template = k8s.apiextensions.CustomResource(
            f"{name}-template", api_version=ARGO_API, kind="WorkflowTemplate",
            metadata=meta(contract.PIPELINE_TEMPLATE, args.namespace, labels), spec=workflow_template_spec(args),
            opts=inside)
        k8s.apiextensions.CustomResource(
            f"{name}-schedule", api_version=ARGO_API, kind="CronWorkflow",
            metadata=meta(f"{contract.PIPELINE_TEMPLATE}-schedule", args.namespace, labels),
            spec=cron_workflow_spec(args.schedule),
            opts=pulumi.ResourceOptions.merge(inside, pulumi.ResourceOptions(depends_on=[template])))
        self.template_name = contract.PIPELINE_TEMPLATE
        self.register_outputs({"template": contract.PIPELINE_TEMPLATE})
