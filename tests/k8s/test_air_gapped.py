"""An air-gapped environment planned for real (offline engine): the staging stack with `nat: none`, every
VPC endpoint, the registry mirror, the runner image and Karpenter (every pinned chart but those EFA and MIG
pools add, whose releases tests/foundation/test_air_gap.py runs through the same rewrite).

What no mock can see is encoded here: an image whose registry is not the account's ECR would hang in
ImagePullBackOff on nodes without egress (https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html:
"container images ... must be pulled from ECR"); a chart fetched from its repository would fail the runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
from mlops_platform.aws.registry_cache import FIRST_PULL_ACTIONS
from mlops_platform.config import PlatformConfig, load_env, load_stack_file, shipped_envs
from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS, RUNNER_ENDPOINTS
from mlops_platform.core.chart_images import CHART_IMAGES, ImageStyle
from mlops_platform.core.image_mirror import PULL_THROUGH_UPSTREAMS
from mlops_platform.core.versions import CHARTS
from mlops_platform.engine import Plan, Resource, run_platform
from mlops_platform.k8s.air_gap import is_image_key
from mlops_platform.programs.common import installed_charts

from .planview import helm_values, layer_resources
from .test_chart_values import FREE_FORM
from .upstream import chart_basename, crd_schema, unknown_values, upstream_values

pytestmark = pytest.mark.slow  # one more full plan (three layers, every chart): scheduled first under xdist
RELEASE = "kubernetes:helm.sh/v3:Release"
CACHE_RULE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
TEMPLATE = "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate"
#: Chart name in a vendored file (`helm pull` names it after Chart.yaml `name`) → its key in CHART_IMAGES.
KEY_OF = {**{chart_basename(c.chart): key for key, c in CHARTS.items()}, "cluster-autoscaler": "cluster-autoscaler"}
ACCOUNT = "321098765432"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
NAMESPACE = "mlops-staging"
CHART_DIR = "/opt/mlplat/charts"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/"
#: What turns staging air-gapped (the shipped stack keeps its NAT gateways). Staging is in us-east-1, where IAM's
#: endpoint can be created; its GitHub management is dropped (refused without egress: api.github.com), the
#: repositories' subject claims set from outside (the CI roles stay pinned: policy github-deploy-workflow-pinned).
AIR_GAP: dict[str, Any] = {
    "network": {"nat": "none",
                "interface_endpoints": list(dict.fromkeys([*PRIVATE_NODE_ENDPOINTS, *RUNNER_ENDPOINTS, "iam",
                                                           "secretsmanager", "sqs"]))},
    "github": {"manage": False, "subject_claim_managed_elsewhere": True},
    "registry": {"repositories": ["base-images", "model-servers", "deploy-runner"],
                 "mirror": {"docker_hub_credential_arn": f"{SECRET}docker-hub-AbCdEf",
                            "github_credential_arn": f"{SECRET}ghcr-AbCdEf"}},
    "cluster": {"deployer_image": "deploy-runner:2026.11.1"},
    "gpu": {"provisioner": "karpenter"},
}


@pytest.fixture(scope="module")
def air_gapped_stack(tmp_path_factory: pytest.TempPathFactory, shipped_variant: Any) -> Path:
    return shipped_variant("staging", AIR_GAP, tmp_path_factory.mktemp("air-gapped"))


@pytest.fixture(scope="module")
def gapped(air_gapped_stack: Path) -> Plan:
    return run_platform(stack_file=air_gapped_stack)


@pytest.fixture(scope="module")
def gapped_cfg(air_gapped_stack: Path) -> PlatformConfig:
    return load_stack_file(air_gapped_stack)


def releases(plan: Plan) -> list[Resource]:
    return [r for r in layer_resources(plan) if r.type == RELEASE]


def chart_name(rel: Resource) -> str:
    """A vendored chart file `<dir>/<name>-<version>.tgz` → `<name>`."""
    return chart_basename(rel.get("chart")).removesuffix(f"-{rel.get('version')}.tgz")


def images_in(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, reference) of every image a values map or spec names: `image`/`*Image` strings, and
    registry + repository maps (a chart joins them)."""
    if isinstance(node, dict):
        if isinstance(node.get("repository"), str) and ("registry" in node or "." in node["repository"]):
            yield path, f"{node.get('registry', '')}/{node['repository']}".lstrip("/")
        for key, value in node.items():
            if is_image_key(key) and isinstance(value, str):
                yield f"{path}.{key}", value
            else:
                yield from images_in(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from images_in(value, f"{path}.{i}")


def value_at(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def test_every_release_sets_every_image_of_its_chart_to_the_accounts_ecr(gapped: Plan,
                                                                         gapped_cfg: PlatformConfig) -> None:
    """Walk every Helm release: each image entry of its chart (core/chart_images.py, itself checked against
    the chart's values.yaml in tests/foundation/test_air_gap.py) is set, and names the account's ECR."""
    seen = set()
    for rel in releases(gapped):
        key = KEY_OF[chart_name(rel)]
        seen.add(key)
        values = rel.get("values") or {}
        for image in CHART_IMAGES[key]:
            ref = reference(value_at(values, image.path), image.style)
            assert ref.startswith(f"{REGISTRY}/{NAMESPACE}/"), f"{rel.name}: {image.path} = {ref}"
    assert sorted(seen) == sorted(installed_charts(gapped_cfg))
    # every pinned chart but two: an EFA pool needs managed node groups (multi_node is refused with Karpenter,
    # which this variant runs) and MIG needs p4d/p5 pools; tests/k8s/test_gpu_devices.py air-gaps their
    # planned releases instead
    assert seen == set(CHART_IMAGES) - {"aws-efa-k8s-device-plugin", "gpu-operator"}, \
        "the air-gapped plan installs every pinned chart"
    # (and tests/foundation/test_air_gap.py test_every_charts_release_is_rewritten_to_the_mirror)


def reference(entry: Any, style: ImageStyle) -> str:
    """The image a chart renders from one entry of its values, in each spelling core/chart_images.py knows."""
    if isinstance(entry, str):
        return entry
    if style is ImageStyle.NAMED:
        return f"{entry['repository']}/{entry['image']}"
    return f"{entry.get('registry', '')}/{entry['repository']}".lstrip("/")


def test_no_image_anywhere_in_the_cluster_layer_leaves_the_account(gapped: Plan) -> None:
    """Every image string of every release's values and every manifest (CR specs: EnvoyProxy, Argo Events'
    event bus images, KServe, ...) names the account's ECR."""
    outside = [f"{res.name}{path}: {ref}" for res in layer_resources(gapped)
               for path, ref in images_in(res.inputs)
               if ref and not ref.startswith(REGISTRY) and "unknown" not in ref.lower()]
    assert outside == []


def test_the_cluster_layer_has_no_packaged_component_the_rewrite_could_miss(gapped: Plan) -> None:
    """The rewrite is a `transformations` option (k8s/air_gap.py), run by the SDK in the program's process: it
    reaches every resource the program registers, but not the children a packaged (multi-language) component
    creates in its provider, e.g. `kubernetes:helm.sh/v4:Chart` or `kubernetes:yaml/v2:ConfigGroup`
    (https://www.pulumi.com/docs/iac/concepts/options/transformations/: "Transforms support modifying child
    resources of packaged components ... whereas Transformations do not"). Such children never reach the
    offline engine either, so their images could not be checked above: every component of the layer must be
    the platform's own (`mlops:`), the Helm charts `helm.sh/v3:Release` (a custom resource, whose values the
    rewrite sets). Adding a packaged component means moving to `transforms` first (docs/air-gapped.md)."""
    layer = layer_resources(gapped)
    packaged = sorted({res.type for res in layer if not res.custom and not res.type.startswith("mlops:")})
    assert packaged == []
    assert any(res.type == RELEASE and res.custom for res in layer)


def test_the_envoy_data_plane_image_is_named_by_the_envoyproxy(gapped: Plan) -> None:
    """Envoy Gateway v1.4.2 defaults the data plane to docker.io/envoyproxy/envoy (api/v1alpha1/shared_types.go)."""
    proxy = next(r for r in layer_resources(gapped) if r.get("kind") == "EnvoyProxy")
    assert proxy.get("spec.provider.kubernetes.envoyDeployment.container.image") == \
        f"{REGISTRY}/{NAMESPACE}/docker-hub/envoyproxy/envoy:distroless-v1.34.1"


def test_charts_come_from_the_runner_image_not_their_repositories(gapped: Plan) -> None:
    for rel in releases(gapped):
        assert rel.get("chart").startswith(f"{CHART_DIR}/") and rel.get("chart").endswith(".tgz"), rel.name
        assert not rel.get("repositoryOpts"), rel.name


def test_mirrored_values_exist_in_each_charts_values(gapped: Plan) -> None:
    """The keys the mirror sets are real chart keys (Helm ignores unknown ones silently)."""
    problems = []
    for rel in releases(gapped):
        name = chart_name(rel)
        problems += [f"{rel.name}: {p}" for p in unknown_values(
            rel.get("values") or {}, upstream_values(name, rel.get("version")), FREE_FORM.get(name, {}))]
    assert problems == []


def test_installed_charts_are_the_releases_the_cluster_layer_plans(gapped: Plan, gapped_cfg: PlatformConfig,
                                                                   plans: Any) -> None:
    """programs.common.installed_charts drives the mirror repositories and `mlplat mirror`: it must match,
    here and in every shipped environment."""
    assert sorted(KEY_OF[chart_name(r)] for r in releases(gapped)) == sorted(installed_charts(gapped_cfg))
    for env in shipped_envs():
        planned = [KEY_OF[chart_basename(r.get("chart"))] for r in releases(plans[env])]
        assert sorted(planned) == sorted(installed_charts(load_env(env))), env


def test_the_aws_layer_caches_every_upstream_under_the_environments_prefix(gapped: Plan) -> None:
    """One rule per upstream; Docker Hub and ghcr.io with their `ecr-pullthroughcache/` secrets; a creation
    template per prefix (KMS, a custom role: ECR User Guide repository-creation-templates-create.html)."""
    rules = {r.get("ecrRepositoryPrefix"): r for r in gapped.of_type(CACHE_RULE)}
    assert set(rules) == {f"{NAMESPACE}/{u.prefix}" for u in PULL_THROUGH_UPSTREAMS.values()}
    assert rules[f"{NAMESPACE}/docker-hub"].get("upstreamRegistryUrl") == "registry-1.docker.io"
    assert rules[f"{NAMESPACE}/docker-hub"].get("credentialArn") == f"{SECRET}docker-hub-AbCdEf"
    assert rules[f"{NAMESPACE}/github"].get("credentialArn") == f"{SECRET}ghcr-AbCdEf"
    assert rules[f"{NAMESPACE}/quay"].get("credentialArn") is None
    templates = {t.get("prefix"): t for t in gapped.of_type(TEMPLATE)}
    assert set(templates) == set(rules)
    for template in templates.values():
        assert template.get("appliedFors") == ["PULL_THROUGH_CACHE"]
        assert template.get("encryptionConfigurations.0.encryptionType") == "KMS"
        assert template.get("imageTagMutability") == "MUTABLE"
    for rule in rules.values():  # ECR applies a template only to repositories created after it
        assert any(d.startswith("urn:") and "RepositoryCreationTemplate" in d for d in rule.dependencies)


def test_every_node_role_may_make_the_first_pull(gapped: Plan) -> None:
    """ECR User Guide pull-through-cache-iam.html: a first pull creates the repository and imports the image
    as the pulling principal (the node role; with Karpenter, its node role too)."""
    policies = [r for r in gapped.of_type("aws:iam/rolePolicy:RolePolicy") if "-first-pull-" in r.name]
    assert len(policies) == 2
    for policy in policies:
        doc = json.loads(policy.get("policy"))
        assert doc["Statement"][0]["Action"] == list(FIRST_PULL_ACTIONS)
        assert all(f"repository/{NAMESPACE}/" in arn for arn in doc["Statement"][0]["Resource"])


def test_images_no_cache_serves_get_platform_repositories(gapped: Plan) -> None:
    names = {r.get("name") for r in gapped.of_type("aws:ecr/repository:Repository")}
    assert {f"{NAMESPACE}/mirror/nvidia/k8s-device-plugin", f"{NAMESPACE}/mirror/nvidia/k8s/dcgm-exporter",
            f"{NAMESPACE}/mirror/nvidia/tritonserver", f"{NAMESPACE}/mirror/mlflow"} <= names


def test_the_runner_runs_its_own_image_and_installs_nothing_from_the_internet(gapped: Plan) -> None:
    """CodeBuild pulls a private ECR image with SERVICE_ROLE credentials (CodeBuild User Guide sample-ecr.html)."""
    project = gapped.of_type("aws:codebuild/project:Project")[0]
    assert project.get("environment.imagePullCredentialsType") == "SERVICE_ROLE"
    spec = project.get("source.buildspec")
    assert "get.pulumi.com" not in spec and "--no-index" in spec and "runtime-versions" not in spec
    policy = next(r for r in gapped.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-runner-policy"))
    actions = {a for s in json.loads(policy.get("policy"))["Statement"] for a in s["Action"]}
    assert {"ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"} <= actions


def test_shipped_stacks_are_not_air_gapped(plans: Any) -> None:
    dev = plans["dev"]
    assert dev.of_type(CACHE_RULE) == []
    assert all(not r.get("chart").startswith("/") for r in releases(dev))


def test_the_air_gapped_plan_passes_the_policy_pack(gapped: Plan, air_gapped_stack: Path) -> None:
    """What `mlplat up` reviews before any cloud call: the mirror's rules, templates, grants and the runner's
    image pull add no unwaived violation (the waivers are the shipped stacks/waivers.yaml)."""
    from mlops_platform.config.loader import repo_root
    from mlops_platform.workflows.review import Subject, platform_config, resolve_waivers, review

    subject = Subject(gapped.to_json(), air_gapped_stack, platform_config(None, air_gapped_stack))
    report = review(subject, resolve_waivers(None, repo_root()))
    assert [(f.policy, f.resource) for f in report.blocking] == []


# --- Karpenter and IAM without egress (review H6, M6) -----------------------------------------------------------

def test_karpenter_names_the_aws_layers_instance_profile_and_never_calls_iam(gapped: Plan) -> None:
    """With `role`, Karpenter creates the instance profile through IAM before its first launch, and IAM's endpoint
    exists only in us-east-1 (IAM User Guide, reference_iam_vpc_endpoint_create.html); with `instanceProfile`
    it only copies the name to its status (karpenter-provider-aws v1.14.1
    pkg/controllers/nodeclass/instanceprofile.go). The CRD takes exactly one of the two (its CEL rule, run here)."""
    (profile,) = gapped.of_type("aws:iam/instanceProfile:InstanceProfile")
    role = next(r for r in gapped.of_type("aws:iam/role:Role") if r.name.endswith("-karpenter-node-role"))
    assert profile.get("role") == role.get("name")
    rules = [v["rule"] for v in crd_schema("karpenter.k8s.aws", "EC2NodeClass", "v1")["properties"]["spec"][
        "x-kubernetes-validations"] if "instanceProfile" in v["rule"]]
    classes = [r for r in layer_resources(gapped) if r.type == "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"]
    assert classes and rules
    for cls in classes:
        spec = cls.get("spec")
        assert spec["instanceProfile"] == profile.get("name") and "role" not in spec
        env = celpy.Environment()
        assert all(env.program(env.compile(rule)).evaluate({"self": celpy.json_to_cel(spec)}) for rule in rules)


def test_karpenter_assumes_an_isolated_vpc(gapped: Plan) -> None:
    """karpenter 1.14.1 values.yaml `settings.isolatedVPC`: "assume we can't reach AWS services which don't have
    a VPC endpoint. This also has the effect of disabling look-ups to the AWS pricing endpoint"."""
    assert helm_values(gapped, "karpenter")["settings"]["isolatedVPC"] is True
    assert "settings.isolatedVPC" in upstream_values("karpenter", CHARTS["karpenter"].version).keys


def test_iams_endpoint_has_its_global_service_name(gapped: Plan) -> None:
    """"The AWS PrivateLink interface VPC endpoint service name for IAM is com.amazonaws.iam" (IAM User Guide,
    reference_iam_vpc_endpoint_create.html): not com.amazonaws.<region>.iam like the regional services."""
    names = {r.get("serviceName") for r in gapped.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert "com.amazonaws.iam" in names and "com.amazonaws.us-east-1.iam" not in names
    assert "com.amazonaws.us-east-1.sts" in names


def test_with_egress_karpenter_keeps_managing_the_profile_from_its_role(karpenter_plan: Plan) -> None:
    assert karpenter_plan.of_type("aws:iam/instanceProfile:InstanceProfile") == []
    for cls in karpenter_plan.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"):
        assert "role" in cls.get("spec") and "instanceProfile" not in cls.get("spec")
    assert "isolatedVPC" not in helm_values(karpenter_plan, "karpenter")["settings"]
