"""Fixtures of the policies in `mlops_platform.policy.rules.k8s`."""

from __future__ import annotations

from policy_plans import DROP, Patch, U

from policy_cases._base import C0, DEFERRED, DEPLOY, NAMESPACE, PASSES, POD, Case, deploy, fail, ok, on, u
from policy_cases._pipeline import WT, pipeline

CASES: dict[str, Case] = {
    "k8s-resources": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.resources.limits", {"nvidia.com/gpu": 1})),
                                  fail(DEPLOY, deploy(f"{C0}.resources", DROP))),
        unknown=u(DEFERRED, deploy(f"{C0}.resources", U))),
    "k8s-image-pinned": Case(
        passing=(ok(), ok(deploy(f"{C0}.image", "public.ecr.aws/x/y@sha256:" + "a" * 64))),
        failing=(fail(DEPLOY, deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx:latest")),
                 fail(DEPLOY, deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx"))),
        unknown=u(DEFERRED, deploy(f"{C0}.image", U))),
    "k8s-allowed-registries": Case(
        passing=(ok(), ok(deploy(f"{C0}.image", "public.ecr.aws/nginx/nginx:1.27")), ok(pipeline())),
        failing=(fail(DEPLOY, deploy(f"{C0}.image", "nginx:1.27")),
                 fail(WT, pipeline(image="ghcr.io/acme/model:1.0")),  # a pipeline step is a pod too
                 fail(DEPLOY, deploy(f"{C0}.image", "ghcr.io/acme/model:1.0"))),
        unknown=u(DEFERRED, deploy(f"{C0}.image", U))),
    "k8s-run-as-non-root": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{POD}.securityContext.runAsNonRoot", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.runAsUser", 0))),
        unknown=u(DEFERRED, deploy(f"{POD}.securityContext.runAsNonRoot", U))),
    "k8s-no-privilege-escalation": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.allowPrivilegeEscalation", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.privileged", True))),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.allowPrivilegeEscalation", U))),
    "k8s-drop-capabilities": Case(
        passing=(ok(), ok(deploy(f"{C0}.securityContext.capabilities.add", ["NET_BIND_SERVICE"]))),
        failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.capabilities", DROP)),
                 fail(DEPLOY, deploy(f"{C0}.securityContext.capabilities.add", ["SYS_ADMIN"]))),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.capabilities", U))),
    "k8s-seccomp": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{POD}.securityContext.seccompProfile", DROP)),
                                  fail(DEPLOY, deploy(f"{C0}.securityContext.seccompProfile", {"type": "Unconfined"}))),
        unknown=u(DEFERRED, deploy(f"{POD}.securityContext.seccompProfile.type", U))),
    "k8s-read-only-root-fs": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.securityContext.readOnlyRootFilesystem", False)),),
        unknown=u(DEFERRED, deploy(f"{C0}.securityContext.readOnlyRootFilesystem", U))),
    "k8s-no-host-namespaces": Case(
        passing=(ok(), ok(deploy(f"{POD}.hostNetwork", False))),
        failing=(fail(DEPLOY, deploy(f"{POD}.hostNetwork", True)), fail(DEPLOY, deploy(f"{POD}.hostPID", True))),
        unknown=u(DEFERRED, deploy(f"{POD}.hostIPC", U))),
    "k8s-no-host-path": Case(
        passing=(ok(), ok(deploy(f"{POD}.volumes", [{"name": "tmp", "emptyDir": {}}]))),
        failing=(fail(DEPLOY, deploy(f"{POD}.volumes", [{"name": "sock", "hostPath": {"path": "/var/run"}}])),),
        unknown=u(DEFERRED, deploy(f"{POD}.volumes", U))),
    "k8s-probes": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.readinessProbe", DROP)),),
        unknown=u(PASSES, deploy(f"{C0}.livenessProbe", U))),
    "k8s-no-secrets-in-env": Case(
        passing=(ok(),), failing=(fail(DEPLOY, deploy(f"{C0}.env.1", {"name": "DB_PASSWORD", "value": "hunter2"})),
                                  fail(DEPLOY, deploy(f"{C0}.env.0", {"name": "X", "value": "AKIAABCDEFGHIJKLMNOP"}))),
        unknown=u(PASSES, deploy(f"{C0}.env.1", {"name": "DB_PASSWORD", "value": U}))),
    "k8s-no-public-loadbalancer": Case(
        passing=(ok(), ok(Patch("fraud-svc", "spec.type", "LoadBalancer"), Patch(
            "fraud-svc", "metadata.annotations", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}))),
        failing=(fail(on("kubernetes:core/v1:Service", "fraud-svc"), Patch("fraud-svc", "spec.type", "LoadBalancer")),),
        unknown=u(DEFERRED, Patch("fraud-svc", "spec.type", U))),
    "helm-release-pinned": Case(
        passing=(ok(),), failing=(fail(on("kubernetes:helm.sh/v3:Release", "monitoring"),
                                       Patch("monitoring", "version", DROP)),
                                  fail(on("kubernetes:helm.sh/v3:Release", "monitoring"),
                                       Patch("monitoring", "version", "^65.0.0"))),
        unknown=u(DEFERRED, Patch("monitoring", "version", U))),
    "k8s-namespace-pod-security": Case(
        passing=(ok(), ok(Patch("fraud-ns", "metadata.labels", {"pod-security.kubernetes.io/enforce": "baseline"}))),
        failing=(fail(NAMESPACE, Patch("fraud-ns", "metadata.labels", {"mlops.io/project": "fraud"})),
                 fail(NAMESPACE, Patch("fraud-ns", "metadata.labels", {
                     "mlops.io/project": "fraud", "pod-security.kubernetes.io/enforce": "privileged"}))),
        unknown=u(DEFERRED, Patch("fraud-ns", "metadata.labels", U))),
}
