"""What a project's CI deploy role may do in its namespace: exactly the kinds the project's own program
(`templates/ml-project/infra`: `ModelServing`, `ProjectPipeline`) creates, plus reading what a release
needs to report on — as a namespaced Role bound to the Kubernetes group of the role's EKS access entry.

Why a Role and no EKS access policy: access policies are fixed permission sets that do not aggregate
custom resources. `AmazonEKSEditPolicy` lists core, apps, autoscaling, batch, networking and policy kinds
only (EKS user guide, "Review access policy permissions"; kept in tests/fixtures/upstream/), so a project's
`pulumi up` would be Forbidden on its Canary, ScaledObject, ServiceMonitor, InferenceService or
WorkflowTemplate. The same table grants `secrets` get/list/watch, `pods/exec` and `serviceaccounts`
impersonate — the deploy role needs none of them (the program creates no Secret and execs into nothing;
impersonating the pipeline's IRSA service account would be its S3 rights), so the Role replaces the access
policy instead of being added to it. A test plans the generated program and checks every planned kind is
here, so the list cannot drift from what `pulumi up` creates.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.k8s.manifests import Manifest, meta

#: What Pulumi does to a resource it manages (server-side apply patches; refresh gets; replace deletes).
MANAGE = ("get", "list", "watch", "create", "update", "patch", "delete")
READ = ("get", "list", "watch")
RBAC_GROUP = "rbac.authorization.k8s.io"

#: (API group, resources) the project program creates; "" is the core group.
MANAGED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apps", ("deployments",)),
    ("", ("services",)),
    ("policy", ("poddisruptionbudgets",)),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("keda.sh", ("scaledobjects",)),
    ("flagger.app", ("canaries", "metrictemplates")),
    ("monitoring.coreos.com", ("servicemonitors", "podmonitors", "prometheusrules")),
    ("serving.kserve.io", ("inferenceservices",)),
    ("argoproj.io", ("workflowtemplates", "cronworkflows")),
    # an `instant` model's route (model_serving.instant_route_spec), fenced at admission: hosts under the
    # namespace's own (mlops-route-hosts), backends in it (mlops-route-backends); it attaches only to the
    # namespace's own Gateway (listener `from: Same`). Never `gateways`, nor cert-manager `certificates`: the
    # project's Gateway and certificate are the tenants layer's (project_gateway.py).
    ("gateway.networking.k8s.io", ("httproutes",)),
)
#: Read only: the deploy workflow waits on the release (scripts/wait-release.sh reads the Canary, whose
#: `kubectl describe` lists events) and shows the pods and logs of a failed rollout.
READS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("pods", "pods/log", "events")),
    ("apps", ("replicasets",)),
)


def deployer_rules() -> list[Manifest]:
    """Rules of the deploy Role: manage the program's kinds, read rollout status; no secrets, no RBAC."""
    return [*({"apiGroups": [g], "resources": list(r), "verbs": list(MANAGE)} for g, r in MANAGED),
            *({"apiGroups": [g], "resources": list(r), "verbs": list(READ)} for g, r in READS)]


def previewer_rules() -> list[Manifest]:
    """Rules of the pull-request preview Role: read (never write) the same kinds. Its EKS view access policy
    reads the built-in ones but, like the edit policy, no custom resource."""
    return [{"apiGroups": [g], "resources": list(r), "verbs": list(READ)} for g, r in (*MANAGED, *READS)]


def grant(name: str, *, role_name: str, namespace: str, labels: dict[str, str], rules: list[Manifest],
          subject: Manifest, opts: pulumi.ResourceOptions) -> k8s.rbac.v1.RoleBinding:
    """A Role `role_name` with `rules` in `namespace` and its RoleBinding to `subject` (resources `<name>-role`,
    `<name>-binding`), both labelled `labels`, created with `opts`. All required."""
    role = k8s.rbac.v1.Role(f"{name}-role", metadata=meta(role_name, namespace, labels), rules=rules, opts=opts)
    return k8s.rbac.v1.RoleBinding(
        f"{name}-binding", metadata=meta(role_name, namespace, labels), subjects=[subject],
        role_ref={"apiGroup": RBAC_GROUP, "kind": "Role", "name": role_name},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])))


def group_subject(group: str) -> Manifest:
    """A RoleBinding subject naming an EKS access entry's Kubernetes group."""
    return {"kind": "Group", "name": group, "apiGroup": RBAC_GROUP}
