"""Which ServiceAccount a project's CI deploy role may run its workloads as, refused at admission otherwise.

The deploy Role (deploy_rights.py) creates Deployments, InferenceServices, WorkflowTemplates and
CronWorkflows, the pipeline submitters also Workflows: objects whose pods run as a ServiceAccount the object
names. RBAC does not check that name (creating a pod template needs no right on the ServiceAccount), so
without this policy CI could run code as any ServiceAccount of its namespace: the retrain sensor's (which
submits Workflows) or the pipeline's instead of the workload's. This policy lets requests of the project's
CI groups (deploy, pipeline submission) name only the identity the project program gives each kind (model
servers: the workload ServiceAccount; pipelines: the pipeline ServiceAccount), or none (the namespace's
`default`, which has no rights). Controllers that create pods from these objects (Flagger, KServe, Argo)
are other users and are not judged; the sensor's own Deployment is made by Argo Events. Argo's
`templateDefaults` are judged like a template, and `podSpecPatch` (a patch string that can set any
ServiceAccount) is refused from the CI groups outright.
RayJobs and RayClusters are judged for every requester: CI cannot create them, but a pipeline step it wrote
can (as the pipeline ServiceAccount), so their pods may run as the pipeline ServiceAccount only.
docs/serving-security.md says what the deploy role can still reach.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core import naming
from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission

POLICY_NAME = "mlops-workload-identity"
_SLOT = "\0"


def _cel_name(pattern: str) -> str:
    """CEL string expression of a per-project name, from the naming function's pattern (`_SLOT` = project).
    A project's namespace is its name (naming.project_namespace), so the namespace spells the project."""
    before, after = pattern.split(_SLOT)
    parts = [f"'{before}'"] if before else []
    return " + ".join([*parts, OWN_NAMESPACE_CEL, *([f"'{after}'"] if after else [])])


def allowed(account: str, path: str) -> str:
    """CEL: the pod spec-like object at `path` names no ServiceAccount, `default`, or `account` (CEL), in
    `serviceAccountName` and in the PodSpec's deprecated alias `serviceAccount` (used when the first is unset)."""
    return " && ".join(f"(!has({path}.{f}) || {path}.{f} == 'default' || {path}.{f} == {account})"
                       for f in ("serviceAccountName", "serviceAccount"))


def _template(t: str, account: str) -> str:
    """CEL over an Argo Template (a step, or `templateDefaults`, merged into every step): its pod's, executor's
    and output artifacts' GC ServiceAccounts, and no `podSpecPatch`: the patch is a strategic-merge string
    applied to the pod spec that can set any `serviceAccountName`, and a string cannot be judged safely."""
    artifacts = (f"(!has({t}.outputs) || !has({t}.outputs.artifacts) || {t}.outputs.artifacts.all(a, "
                 f"!has(a.artifactGC) || {allowed(account, 'a.artifactGC')}))")
    return (f"({allowed(account, t)} && (!has({t}.executor) || {allowed(account, t + '.executor')}) && "
            f"!has({t}.podSpecPatch) && {artifacts})")


def _workflow(spec: str, account: str) -> str:
    """CEL over an Argo WorkflowSpec: every place a pod's ServiceAccount is named (workflow, executor,
    artifact GC, `templateDefaults` and each template; Argo v3.7 WorkflowSpec/Template schema), and no
    `podSpecPatch` on the workflow either."""
    return (f"({allowed(account, spec)} && (!has({spec}.executor) || {allowed(account, spec + '.executor')}) && "
            f"(!has({spec}.artifactGC) || {allowed(account, spec + '.artifactGC')}) && !has({spec}.podSpecPatch) && "
            f"(!has({spec}.templateDefaults) || {_template(spec + '.templateDefaults', account)}) && "
            f"(!has({spec}.templates) || {spec}.templates.all(t, {_template('t', account)})))")


def _ray_cluster(spec: str, account: str) -> str:
    """CEL over a KubeRay RayClusterSpec (kuberay v1.4.2 ray-operator/apis/ray/v1/raycluster_types.go): the
    head's and every worker group's pod template."""
    head = f"{spec}.headGroupSpec"
    return (f"(!has({head}) || !has({head}.template.spec) || {allowed(account, head + '.template.spec')}) && "
            f"(!has({spec}.workerGroupSpecs) || {spec}.workerGroupSpecs.all(w, !has(w.template.spec) || "
            f"{allowed(account, 'w.template.spec')}))")


def ray_expression() -> str:
    """CEL for every requester in a project namespace: a RayJob's or RayCluster's pods run as the pipeline
    ServiceAccount (or name none). Not only CI: the pipeline ServiceAccount itself creates RayJobs from a
    resource step (pipeline_tenant.executor_rules) whose manifest CI wrote, and KubeRay copies a RayJob's
    cluster spec into the RayCluster it creates. RayJob: its `rayClusterSpec` and its `submitterPodTemplate`
    (kuberay v1.4.2 ray-operator/apis/ray/v1/rayjob_types.go)."""
    pipeline = _cel_name(naming.project_pipeline_service_account(_SLOT))
    job = "object.spec"
    submitter = f"(!has({job}.submitterPodTemplate) || {allowed(pipeline, job + '.submitterPodTemplate.spec')})"
    return (f"object.kind == 'RayJob' ? ((!has({job}.rayClusterSpec) || "
            f"({_ray_cluster(job + '.rayClusterSpec', pipeline)})) && {submitter}) : "
            f"object.kind == 'RayCluster' ? ({_ray_cluster('object.spec', pipeline)}) : true")


def _inference(account: str) -> str:
    return " && ".join(f"(!has(object.spec.{part}) || {allowed(account, 'object.spec.' + part)})"
                       for part in ("predictor", "transformer", "explainer"))


def identity_expression() -> str:
    """CEL: a request of the project's CI groups (deploy, pipeline submission) names only the identity of
    the object's kind."""
    groups = [_cel_name(naming.project_deployers(_SLOT)), _cel_name(naming.project_pipeline_submitters(_SLOT))]
    workload = _cel_name(naming.project_service_account(_SLOT))
    pipeline = _cel_name(naming.project_pipeline_service_account(_SLOT))
    by_kind = (f"object.kind == 'Deployment' ? {allowed(workload, 'object.spec.template.spec')} : "
               f"object.kind == 'InferenceService' ? ({_inference(workload)}) : "
               f"object.kind in ['WorkflowTemplate', 'Workflow'] ? {_workflow('object.spec', pipeline)} : "
               f"object.kind == 'CronWorkflow' ? {_workflow('object.spec.workflowSpec', pipeline)} : true")
    ci = f"has(request.userInfo.groups) && request.userInfo.groups.exists(g, g in [{', '.join(groups)}])"
    return f"({ray_expression()}) && (!({ci}) || ({by_kind}))"


#: The kinds with pods the CI groups may create (deploy_rights.MANAGED, pipeline_tenant.submitter_rules; a
#: test keeps them covered), and KubeRay's, which the pipeline ServiceAccount creates for CI (ray_expression).
CI_RULES = (Rule(group="apps", resources=("deployments",)),
            Rule(group="serving.kserve.io", resources=("inferenceservices",)),
            Rule(group="argoproj.io", resources=("workflowtemplates", "cronworkflows", "workflows")))
RAY_RULE = Rule(group="ray.io", resources=("rayjobs", "rayclusters"))
RULES = (*CI_RULES, RAY_RULE)


def identity_policy() -> dict[str, Any]:
    workload, pipeline = naming.project_service_account("<project>"), naming.project_pipeline_service_account(
        "<project>")
    return policy_spec(RULES, [Check(
        expression=identity_expression(),
        message=f"'the deploy role runs model servers as {workload} and pipelines and Ray clusters as "
                f"{pipeline} only (or no serviceAccountName), with no podSpecPatch; <project> is ' + "
                "namespaceObject.metadata.name")])


def workload_identity_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider) -> None:
    """The policy and its binding, children of `parent` named `<name>-workload-identity[-binding]`."""
    project_admission(f"{name}-workload-identity", POLICY_NAME, identity_policy(), parent, provider)
