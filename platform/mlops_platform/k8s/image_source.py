"""Image source: pods in project namespaces run images from the account's ECR only (review M5).

Without it a tenant Deployment, a CI job or a workflow could run any public image, and with registry
mirroring (aws/registry_cache.py) every node role may create repositories and import upstream images on
first pull, so naming `<registry>/<cluster>/docker-hub/<anything>` would import any Docker Hub image into
the account under the organisation's credential. CrossGuard judges only the planned project program, not
what CI or a workflow creates at runtime; this ValidatingAdmissionPolicy judges every pod (containers,
initContainers, ephemeralContainers: CREATE and UPDATE of `pods` and of `pods/ephemeralcontainers`, the
subresource `kubectl debug` writes) in the namespaces tenancy labels as projects.

Admitted: the project's own repository `<account>.dkr.ecr.<region>.amazonaws.com/<cluster>/projects/<namespace>`
(a project's namespace is its name, naming.project_namespace) with a tag and/or digest, and, by exact
repository, the images platform controllers inject into project pods (`INJECTED_PATHS`, `INJECTED_IMAGES`:
Argo's executor, Argo Events' EventSource/Sensor and EventBus images, KServe's sidecars). The mirror prefixes are
NOT admitted as such: that would keep the first-pull import open. What the other controllers put into
project namespaces needs nothing: Flagger's primary Deployments and KServe's RawDeployment predictors copy
the project's containers, KubeRay's pods (and a RayJob's submitter Job) take the RayJob's image, KEDA creates
no pods, and Envoy Gateway runs the merged data plane in its own namespace (serving.py, `mergeGateways`).
No identity is exempted: every injected image is fixed by the platform's chart values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core import naming
from mlops_platform.core.chart_images import CHART_IMAGES
from mlops_platform.core.image_mirror import DOCKER_HUB, Mirror, parse_image
from mlops_platform.core.versions import EVENT_BUS_IMAGES
from mlops_platform.k8s.admission import OWN_NAMESPACE_CEL, Check, Rule, policy_spec, project_admission

POLICY_NAME = "mlops-image-source"
#: Chart key → values paths (core/chart_images.py) of the images its controller injects into project pods:
#: Argo's executor (the `init` and `wait` containers of every workflow pod, argo-workflows chart
#: `executor.image`); Argo Events' own image, which runs each EventSource and Sensor Deployment in the
#: project's namespace (pipeline_tenant.py; chart `global.image`); KServe's storage initializer (initContainer
#: of a predictor with a `storageUri`), agent (logger/batcher sidecar) and router (InferenceGraph pods),
#: rendered into its inferenceservice ConfigMap from `kserve.storage.image`, `kserve.agent.image`,
#: `kserve.router.image`.
INJECTED_PATHS: dict[str, tuple[str, ...]] = {
    "argo-workflows": ("executor.image",),
    "argo-events": ("global.image",),
    "kserve": ("kserve.storage.image", "kserve.agent.image", "kserve.router.image"),
}
#: Charts whose controller runs further fixed images in project namespaces: the EventBus JetStream pods of each
#: project (pipeline_tenant.py) run the images the events controller is configured with (pipelines.py).
INJECTED_IMAGES: dict[str, tuple[str, ...]] = {"argo-events": tuple(EVENT_BUS_IMAGES.values())}
#: A tag and/or a digest after a repository (distribution reference grammar: tag `[\w][\w.-]{0,127}`).
SUFFIX_RE = r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
_CONTAINERS = ("containers", "initContainers", "ephemeralContainers")


def injected_references(chart_keys: Iterable[str]) -> list[str]:
    """Upstream references of every image the installed charts' controllers inject into project pods."""
    keys = list(chart_keys)
    upstreams = {i.path: i.upstream for key in keys for i in CHART_IMAGES.get(key, ())}
    return [*(upstreams[p] for key in keys for p in INJECTED_PATHS.get(key, ())),
            *(ref for key in keys for ref in INJECTED_IMAGES.get(key, ()))]


def _upstream_forms(ref: str) -> list[str]:
    """The repository of `ref` as written upstream: Docker Hub's also without its host (the KServe chart renders
    `kserve/agent`) and an official image also without `library/` (the EventBus's `nats`)."""
    parsed = parse_image(ref)
    forms = [f"{parsed.host}/{parsed.path}"]
    if parsed.host == DOCKER_HUB:
        forms.append(parsed.path)
        if parsed.path.startswith("library/"):
            forms.append(parsed.path.removeprefix("library/"))
    return forms


def injected_images(chart_keys: Iterable[str], mirror: Mirror | None) -> tuple[str, ...]:
    """Repositories (no tag) of the images the installed charts inject into project pods, as pods name them:
    in the mirror when the environment mirrors (chart values and `*Image` strings are rewritten to it,
    air_gap.py), otherwise as written upstream."""
    refs = injected_references(chart_keys)
    if mirror:
        return tuple(dict.fromkeys(f"{mirror.registry}/{mirror.repository(r)}" for r in refs))
    return tuple(dict.fromkeys(form for r in refs for form in _upstream_forms(r)))


def project_prefix(registry: str, cluster_name: str) -> str:
    """`<registry>/<cluster>/projects/`: a project's repository is this followed by its name."""
    return f"{registry}/{naming.ecr_repository(cluster_name, 'projects/')}"


def images_cel() -> str:
    """CEL: every image of the pod (containers, init and ephemeral containers)."""
    return " + ".join(f"(has(object.spec.{c}) ? object.spec.{c}.map(c, c.image) : [])" for c in _CONTAINERS)


def image_allowed(image: str, prefix: str, injected: tuple[str, ...]) -> str:
    """CEL over the string `image`: the project's repository or an injected one, with a tag and/or digest."""
    own = f"{image}.matches(r'^{re.escape(prefix)}' + {OWN_NAMESPACE_CEL} + r'{SUFFIX_RE}')"
    exact = [f"{image}.matches(r'^{re.escape(r)}{SUFFIX_RE}')" for r in injected]
    return "(" + " || ".join([own, *exact]) + ")"


def image_expression(prefix: str, injected: tuple[str, ...]) -> str:
    """CEL over a Pod: every image allowed."""
    return f"({images_cel()}).all(i, {image_allowed('i', prefix, injected)})"


def image_message(prefix: str, injected: tuple[str, ...]) -> str:
    """CEL string: the first refused image and the fix."""
    first = f"({images_cel()}).filter(i, !{image_allowed('i', prefix, injected)})[0]"
    platform = f"; platform images: {', '.join(injected)}" if injected else ""
    return (f"\"image \" + {first} + \" is refused: pods in project namespaces run images from the project's \""
            f" + \"ECR repository {prefix}\" + {OWN_NAMESPACE_CEL} + \" only (build and push it there in CI, "
            f"copying a public base image into it){platform}\"")


def image_policy(prefix: str, injected: tuple[str, ...]) -> dict[str, Any]:
    """Spec of the ValidatingAdmissionPolicy: pods run the project's own images or the injected ones."""
    return policy_spec([Rule(group="", resources=("pods", "pods/ephemeralcontainers"))], [Check(
        expression=image_expression(prefix, injected), message=image_message(prefix, injected))])


def image_source_policy(name: str, parent: pulumi.Resource, provider: k8s.Provider, *, prefix: str,
                        injected: tuple[str, ...]) -> None:
    """The policy and its project binding, children of `parent` named `<name>-image-source[-binding]`."""
    project_admission(f"{name}-image-source", POLICY_NAME, image_policy(prefix, injected), parent, provider)
