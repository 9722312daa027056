"""Kubernetes workloads: resources, images, restricted pod security, host access, probes, secrets, exposure."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from typing import Any

from mlops_platform.policy.config import PolicySettings, Severity
from mlops_platform.policy.registry import Area, Compliance, OnUnknown, checkov, cis_eks, resource_policy
from mlops_platform.policy.sdk import types as t
from mlops_platform.policy.sdk.graph import Res
from mlops_platform.policy.sdk.k8s import LONG_RUNNING, WORKLOAD_TYPES, PodTemplate, containers, label, pod_templates
from mlops_platform.policy.sdk.k8s import security_value as sec
from mlops_platform.policy.sdk.values import UNKNOWN, Defer, as_list, dig, fmt, is_unknown

_K8S_DOCS = "https://kubernetes.io/docs"
_PSS = f"{_K8S_DOCS}/concepts/security/pod-security-standards/"
_CONTAINER_NOTE = "Deferred for a pod template or container that is unknown as a whole; per-field unknowns " \
                  "are deferred too."


def pss(level: str, control: str) -> tuple[Compliance, ...]:
    return (Compliance("Kubernetes Pod Security Standards", f"{level}: {control}"),)


Item = tuple[PodTemplate, str, dict[str, Any]]


def each_container(res: Res, init: bool = True) -> Iterator[Item | Defer]:
    """(template, path, container) of every container of a workload; Defer for unknown parts."""
    for tpl in pod_templates(res):
        if tpl.spec is UNKNOWN or is_unknown(tpl.spec.get("containers")):
            yield Defer(f"{tpl.path}.containers")
            continue
        for key in ("containers", "initContainers") if init else ("containers",):
            yield from (Defer(f"{tpl.path}.{key}[{i}]") for i, c in enumerate(as_list(tpl.spec.get(key)))
                        if is_unknown(c))
        yield from ((tpl, path, c) for path, c in containers(tpl, init))


def container_check(judge: Callable[[PodTemplate, str, dict[str, Any], PolicySettings], Iterator[str | Defer]],
                    init: bool = True) -> Callable[[Res, PolicySettings], Iterator[str | Defer]]:
    """A resource check that runs `judge` on every container of the workload."""
    def check(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
        for item in each_container(res, init):
            if isinstance(item, Defer):
                yield item
            else:
                yield from judge(*item, settings)
    check.__doc__ = judge.__doc__
    return check


def _workload_policy(**meta: Any) -> Callable[[Callable[..., Iterator[str | Defer]]], Any]:
    """`resource_policy` over every workload kind, with the shared unknown note."""
    meta.setdefault("resource_types", WORKLOAD_TYPES)
    meta.setdefault("on_unknown", OnUnknown.DEFER)
    meta.setdefault("unknown_note", _CONTAINER_NOTE)
    return resource_policy(**meta)


def _resources(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    block = c.get("resources")
    if is_unknown(block):
        yield Defer(f"{path}.resources")
        return
    missing = [p for p in ("requests.cpu", "requests.memory", "limits.memory") if dig(block or {}, p) is None]
    if missing:
        yield f"{label(path, c)} sets no resources.{', resources.'.join(missing)}"


_workload_policy(
    name="k8s-resources", area=Area.K8S, severity=Severity.MEDIUM,
    description="Every container requests CPU and memory and limits memory.",
    remediation="Set resources.requests.cpu, resources.requests.memory and resources.limits.memory; the "
                "project namespace's LimitRange only fills defaults for pods that forget.",
    url=f"{_K8S_DOCS}/concepts/configuration/manage-resources-containers/",
    compliance=checkov("CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13"),
)(container_check(_resources))


def image_parts(image: str) -> tuple[str, str, str | None, str | None]:
    """`registry/repo:tag@digest` → (registry, repository, tag, digest); Docker Hub when no registry."""
    rest, _, digest = image.partition("@")
    first, sep, remainder = rest.partition("/")
    registry = first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"
    repo = remainder if registry == first and sep else rest
    name, colon, tag = repo.rpartition(":") if ":" in repo.rsplit("/", 1)[-1] else (repo, "", "")
    return registry, name if colon else repo, tag or None, digest or None


def _image_pinned(tpl: PodTemplate, path: str, c: dict[str, Any], __: PolicySettings) -> Iterator[str | Defer]:
    image = c.get("image")
    if is_unknown(image):
        yield Defer(f"{path}.image")
    elif not isinstance(image, str) or not image:
        yield f"{label(path, c)} has no image"
    else:
        _, _, tag, digest = image_parts(image)
        if digest is None and tag in (None, "latest"):
            yield f"{label(path, c)} image {image!r} floats ({'no tag' if tag is None else ':latest'})"


_workload_policy(
    name="k8s-image-pinned", area=Area.K8S, severity=Severity.MEDIUM,
    description="Images are pinned to a version tag or digest, never `latest` or untagged.",
    remediation="Reference images by immutable tag (the ECR repositories enforce immutability) or by digest.",
    url=f"{_K8S_DOCS}/concepts/containers/images/#image-names", compliance=checkov("CKV_K8S_14", "CKV_K8S_43"),
)(container_check(_image_pinned))


def registry_allowed(image: str, patterns: list[str]) -> bool:
    registry, repo, _, _ = image_parts(image)
    return any(fnmatch.fnmatchcase(registry, p) or fnmatch.fnmatchcase(f"{registry}/{repo}", p) for p in patterns)


def _registry(tpl: PodTemplate, path: str, c: dict[str, Any], settings: PolicySettings) -> Iterator[str | Defer]:
    image = c.get("image")
    if is_unknown(image):
        yield Defer(f"{path}.image")
    elif isinstance(image, str) and image and not registry_allowed(image, settings.allowed_registries):
        yield f"{label(path, c)} pulls {image!r} from a registry outside {fmt(settings.allowed_registries)}"


_workload_policy(
    name="k8s-allowed-registries", area=Area.K8S, severity=Severity.HIGH,
    description="Containers pull only from the allowed registries.",
    remediation="Push the image to the project's ECR repository (or mirror it through an ECR pull-through "
                "cache) and reference it there; extend `allowed_registries` only after review.",
    url=f"{_K8S_DOCS}/concepts/containers/images/", compliance=checkov("CKV_K8S_43"),
    settings=("allowed_registries",),
)(container_check(_registry))


def _non_root(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    non_root, user = sec(tpl, c, "runAsNonRoot"), sec(tpl, c, "runAsUser")
    if is_unknown(non_root) or is_unknown(user):
        yield Defer(f"{path}.securityContext")
    elif user == 0:
        yield f"{label(path, c)} runs as UID 0"
    elif non_root is not True:
        yield f"{label(path, c)} does not set runAsNonRoot: true"


_workload_policy(
    name="k8s-run-as-non-root", area=Area.K8S, severity=Severity.HIGH,
    description="Containers run as a non-root user.",
    remediation="Set securityContext.runAsNonRoot: true (pod or container) and a non-zero runAsUser; build "
                "images with a USER.",
    url=_PSS, compliance=checkov("CKV_K8S_23", "CKV_K8S_40") + pss("restricted", "Running as Non-root"),
)(container_check(_non_root))


def _no_escalation(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    escalation, privileged = dig(c, "securityContext.allowPrivilegeEscalation"), dig(c, "securityContext.privileged")
    if is_unknown(escalation) or is_unknown(privileged):
        yield Defer(f"{path}.securityContext")
        return
    if privileged is True:
        yield f"{label(path, c)} is privileged"
    if escalation is not False:
        yield f"{label(path, c)} does not set allowPrivilegeEscalation: false"


_workload_policy(
    name="k8s-no-privilege-escalation", area=Area.K8S, severity=Severity.HIGH,
    description="Containers are not privileged and cannot gain privileges (no setuid escalation).",
    remediation="Set securityContext.allowPrivilegeEscalation: false and never privileged: true.",
    url=_PSS, compliance=checkov("CKV_K8S_20", "CKV_K8S_16") + pss("restricted", "Privilege Escalation"),
)(container_check(_no_escalation))


_DANGEROUS_CAPS = frozenset({"ALL", "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "SYS_MODULE", "DAC_OVERRIDE"})


def _capabilities(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    caps = dig(c, "securityContext.capabilities")
    if is_unknown(caps):
        yield Defer(f"{path}.securityContext.capabilities")
        return
    drop, add = as_list(dig(caps or {}, "drop")), as_list(dig(caps or {}, "add"))
    if "ALL" not in drop:
        yield f"{label(path, c)} does not drop ALL capabilities"
    risky = sorted(str(a) for a in add if str(a).upper() in _DANGEROUS_CAPS)
    if risky:
        yield f"{label(path, c)} adds {fmt(risky)}"


_workload_policy(
    name="k8s-drop-capabilities", area=Area.K8S, severity=Severity.MEDIUM,
    description="Containers drop all Linux capabilities and add none of the dangerous ones.",
    remediation="Set securityContext.capabilities.drop: [ALL]; add back only NET_BIND_SERVICE if a port < 1024 "
                "is unavoidable.",
    url=_PSS, compliance=checkov("CKV_K8S_28", "CKV_K8S_37", "CKV_K8S_39") + pss("restricted", "Capabilities"),
)(container_check(_capabilities))


def _seccomp(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    profile = sec(tpl, c, "seccompProfile")
    kind = dig(profile, "type") if isinstance(profile, dict) else profile
    if is_unknown(kind):
        yield Defer(f"{path}.securityContext.seccompProfile")
    elif kind not in ("RuntimeDefault", "Localhost"):
        yield f"{label(path, c)} seccompProfile is {fmt(kind)}, not RuntimeDefault"


_workload_policy(
    name="k8s-seccomp", area=Area.K8S, severity=Severity.LOW,
    description="Pods run with the container runtime's default seccomp profile (or a local one).",
    remediation="Set securityContext.seccompProfile.type: RuntimeDefault on the pod.",
    url=f"{_K8S_DOCS}/tutorials/security/seccomp/", compliance=checkov("CKV_K8S_31") + pss("restricted", "Seccomp"),
)(container_check(_seccomp))


def _read_only_root(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str | Defer]:
    value = dig(c, "securityContext.readOnlyRootFilesystem")
    if is_unknown(value):
        yield Defer(f"{path}.securityContext.readOnlyRootFilesystem")
    elif value is not True:
        yield f"{label(path, c)} has a writable root filesystem"


_workload_policy(
    name="k8s-read-only-root-fs", area=Area.K8S, severity=Severity.LOW,
    description="Container root filesystems are read-only; writable paths are explicit volumes.",
    remediation="Set securityContext.readOnlyRootFilesystem: true and mount emptyDir volumes for /tmp and caches.",
    url=f"{_K8S_DOCS}/tasks/configure-pod-container/security-context/", compliance=checkov("CKV_K8S_22"),
)(container_check(_read_only_root))


@_workload_policy(
    name="k8s-no-host-namespaces", area=Area.K8S, severity=Severity.HIGH,
    description="Pods do not share the node's network, PID or IPC namespace.",
    remediation="Remove hostNetwork, hostPID and hostIPC (node agents belong in reviewed Helm charts).",
    url=_PSS, compliance=checkov("CKV_K8S_17", "CKV_K8S_18", "CKV_K8S_19") + pss("baseline", "Host Namespaces"),
    unknown_note="Deferred when a host* flag is unknown.",
)
def k8s_no_host_namespaces(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    for tpl in pod_templates(res):
        if tpl.spec is UNKNOWN:
            yield Defer(tpl.path)
            continue
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            value = tpl.spec.get(flag)
            if is_unknown(value):
                yield Defer(f"{tpl.path}.{flag}")
            elif value is True:
                yield f"{tpl.path}.{flag} is true"


@_workload_policy(
    name="k8s-no-host-path", area=Area.K8S, severity=Severity.HIGH,
    description="Pods mount no hostPath volumes.",
    remediation="Use emptyDir, a PersistentVolumeClaim, a ConfigMap/Secret or a CSI volume instead.",
    url=f"{_K8S_DOCS}/concepts/storage/volumes/#hostpath", compliance=pss("baseline", "HostPath Volumes"),
    unknown_note="Deferred when the volume list is unknown.",
)
def k8s_no_host_path(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    for tpl in pod_templates(res):
        volumes = UNKNOWN if tpl.spec is UNKNOWN else tpl.spec.get("volumes")
        if is_unknown(volumes):
            yield Defer(f"{tpl.path}.volumes")
            continue
        for i, vol in enumerate(as_list(volumes)):
            if isinstance(vol, dict) and vol.get("hostPath") is not None:
                host = fmt(dig(vol, "hostPath.path"))
                yield f"{tpl.path}.volumes[{i}] ({fmt(vol.get('name'))}) mounts hostPath {host}"


def _probes(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str]:
    missing = [p for p in ("readinessProbe", "livenessProbe") if c.get(p) is None]
    if missing:
        yield f"{label(path, c)} has no {' or '.join(missing)}"


_workload_policy(
    name="k8s-probes", area=Area.K8S, severity=Severity.LOW, resource_types=tuple(sorted(LONG_RUNNING)),
    description="Long-running containers declare readiness and liveness probes.",
    remediation="Add a readinessProbe (traffic only when ready) and a livenessProbe (restart when stuck); "
                "model servers usually need a generous initialDelaySeconds or a startupProbe.",
    url=f"{_K8S_DOCS}/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
    compliance=checkov("CKV_K8S_8", "CKV_K8S_9"), on_unknown=OnUnknown.PASS,
    unknown_note="An unknown probe is still a probe.",
)(container_check(_probes, init=False))


_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.I)
_SECRET_VALUE = re.compile(r"(AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|ghp_[0-9A-Za-z]{36})")


def _env_secrets(tpl: PodTemplate, path: str, c: dict[str, Any], _: PolicySettings) -> Iterator[str]:
    for i, env in enumerate(as_list(c.get("env"))):
        if not isinstance(env, dict) or not isinstance(env.get("value"), str) or not env["value"]:
            continue  # valueFrom (secretKeyRef) or unknown: nothing literal in the spec
        name, value = str(env.get("name", "")), env["value"]
        if _SECRET_NAME.search(name) or _SECRET_VALUE.search(value):
            yield f"{label(path, c)} env[{i}] {name!r} carries a literal secret value"


_workload_policy(
    name="k8s-no-secrets-in-env", area=Area.K8S, severity=Severity.HIGH,
    description="No credential is written literally into a container's environment.",
    remediation="Reference a Secret (env.valueFrom.secretKeyRef) or, for AWS, use the IRSA role of the "
                "ServiceAccount instead of keys.",
    url=f"{_K8S_DOCS}/concepts/configuration/secret/#using-secrets-as-environment-variables",
    compliance=checkov("CKV_K8S_35"), on_unknown=OnUnknown.PASS,
    unknown_note="An unknown env value is computed by the program (e.g. from a secret output), not a literal.",
)(container_check(_env_secrets))


_INTERNAL = {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
             "service.beta.kubernetes.io/aws-load-balancer-internal": "true"}


@resource_policy(
    name="k8s-no-public-loadbalancer", area=Area.K8S, resource_types=(t.K8S_SERVICE,), severity=Severity.HIGH,
    description="Services of type LoadBalancer are internal.",
    remediation="Annotate the Service with service.beta.kubernetes.io/aws-load-balancer-scheme: internal, or use "
                "ClusterIP behind the platform's ingress.",
    url="https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations/",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the type or annotations are unknown.",
)
def k8s_no_public_loadbalancer(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    kind, annotations = res.get("spec.type"), res.get("metadata.annotations")
    if is_unknown(kind) or is_unknown(annotations):
        yield Defer("spec.type / metadata.annotations")
    elif kind == "LoadBalancer" and not any(
            str((annotations or {}).get(k, "")).lower() == v for k, v in _INTERNAL.items()):
        yield "type LoadBalancer without an internal scheme annotation gets an internet-facing load balancer"


_EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


@resource_policy(
    name="helm-release-pinned", area=Area.K8S, resource_types=(t.HELM_RELEASE,), severity=Severity.MEDIUM,
    description="Helm releases pin an exact chart version (chart drift breaks upgrades).",
    remediation="Set version to an exact chart version from mlops_platform/core/versions.py; bump it in a reviewed "
                "commit.",
    url="https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/",
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the version is unknown.",
)
def helm_release_pinned(res: Res, _: PolicySettings) -> Iterator[str | Defer]:
    version = res.get("version")
    if is_unknown(version):
        yield Defer("version")
    elif not isinstance(version, str) or not _EXACT_VERSION.match(version):
        yield f"chart {fmt(res.get('chart'))} version is {fmt(version)}, not an exact x.y.z"


_PSA = "pod-security.kubernetes.io/enforce"


@resource_policy(
    name="k8s-namespace-pod-security", area=Area.K8S, resource_types=(t.K8S_NAMESPACE,), severity=Severity.MEDIUM,
    description="Namespaces enforce a Pod Security Standard through admission; project namespaces enforce "
                "`restricted`.",
    remediation="Label the namespace pod-security.kubernetes.io/enforce: restricted (baseline or privileged only "
                "for reviewed system namespaces such as the GPU operator's), with a pinned enforce-version.",
    url="https://kubernetes.io/docs/concepts/security/pod-security-admission/",
    compliance=cis_eks("4.2.1") + pss("restricted", "Pod Security Admission"), settings=("project_label",),
    on_unknown=OnUnknown.DEFER, unknown_note="Deferred when the namespace labels are unknown.",
)
def k8s_namespace_pod_security(res: Res, settings: PolicySettings) -> Iterator[str | Defer]:
    labels = res.get("metadata.labels")
    if is_unknown(labels):
        yield Defer("metadata.labels")
        return
    labels = labels if isinstance(labels, dict) else {}
    level = labels.get(_PSA)
    if is_unknown(level):
        yield Defer(f"metadata.labels.{_PSA}")
    elif level not in ("restricted", "baseline", "privileged"):
        yield f"no {_PSA} label: pods are admitted without any Pod Security Standard"
    elif settings.project_label in labels and level != "restricted":
        yield f"project namespace enforces {level!r}, not 'restricted'"
