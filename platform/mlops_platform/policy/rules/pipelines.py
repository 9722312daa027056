"""Pipelines: a project's Argo workflows run inside the tenancy fence — in a project namespace, as a named
ServiceAccount (the project's pipeline identity, never `default`), every step as that account.

The pod-level rules (resources for the quota, the project's registry, restricted security context, GPU
toleration and pool selector) already apply to each step, because `sdk.k8s.pod_templates` yields one pod
per Argo step; this file adds what only a workflow has.
"""

from __future__ import annotations

from collections.abc import Iterator

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, OnUnknown, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.values import Defer, as_list, fmt, is_unknown

ARGO_TYPES = (t.ARGO_WORKFLOW, t.ARGO_WORKFLOW_TEMPLATE, t.ARGO_CRON_WORKFLOW)
#: Namespaces of the platform itself: a project's pipeline never runs there.
PLATFORM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "argo", "monitoring", "mlflow",
                                 "kuberay", "kserve", "envoy-gateway-system", "gpu-operator"})


def _spec_path(res: Res) -> str:
    return "spec.workflowSpec" if res.type == t.ARGO_CRON_WORKFLOW else "spec"


def _step_accounts(res: Res, base: str, workflow_sa: object) -> Iterator[str | Defer]:
    for i, step in enumerate(as_list(res.get(f"{base}.templates"))):
        own = step.get("serviceAccountName") if isinstance(step, dict) else None
        if is_unknown(own):
            yield Defer(f"{base}.templates[{i}].serviceAccountName")
        elif own is not None and own != workflow_sa:
            yield (f"step {fmt(step.get('name'))} runs as {fmt(own)}, not the workflow's account "
                   f"{fmt(workflow_sa)}: every step of a pipeline has the pipeline's identity")


@resource_policy(
    name="pipeline-runs-as-project", area=Area.K8S, resource_types=ARGO_TYPES, severity=Severity.HIGH,
    description="Argo pipelines run in a project namespace as a named ServiceAccount, the same for every step.",
    remediation="Deploy the WorkflowTemplate with the platform's ProjectPipeline component: it sets the project "
                "namespace and the pipeline ServiceAccount (ProjectOutput.pipeline_service_account).",
    url="https://argo-workflows.readthedocs.io/en/latest/service-accounts/",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the namespace or a ServiceAccount name is unknown.",
)
def pipeline_runs_as_project(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    namespace, base = res.get("metadata.namespace"), _spec_path(res)
    if is_unknown(namespace):
        yield Defer("metadata.namespace")
    elif not namespace or namespace in PLATFORM_NAMESPACES:
        yield f"runs in namespace {fmt(namespace or 'default')}, not the project's own namespace"
    if res.get(f"{base}.workflowTemplateRef") is not None and res.get(f"{base}.templates") is None:
        return  # starts a reviewed WorkflowTemplate, which carries the account
    account = res.get(f"{base}.serviceAccountName")
    if is_unknown(account):
        yield Defer(f"{base}.serviceAccountName")
        return
    if not account or account == "default":
        yield (f"{base}.serviceAccountName is {fmt(account or 'unset')}: steps would run as the namespace's "
               "`default` account instead of the project's pipeline identity")
    yield from _step_accounts(res, base, account)
