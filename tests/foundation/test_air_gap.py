"""An environment without internet egress: config rules (one report of every missing piece), the mapping of
upstream images to the account's ECR, and the chart image table against each chart's values.yaml.

Sources: ECR pull-through cache (User Guide pull-through-cache-creating-rule.html, pull-through-cache-working-
pulling.html; API Reference CreatePullThroughCacheRule `upstreamRegistryUrl`), EKS private clusters
(https://docs.aws.amazon.com/eks/latest/userguide/private-clusters.html), the charts' values.yaml at their
pinned versions (tests/fixtures/upstream/images.json).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mlops_platform.aws.deployer import RUNNER_IMAGE_VENV, buildspec
from mlops_platform.config import PlatformConfig
from mlops_platform.config.rules import check_warnings
from mlops_platform.config.rules_air_gap import PRIVATE_NODE_ENDPOINTS, RUNNER_ENDPOINTS
from mlops_platform.config.sections_aws import MIRROR_CREDENTIAL_FIELDS, MirrorConfig
from mlops_platform.core.chart_images import CHART_IMAGES, ImageStyle, manual_copies, mirrored_values
from mlops_platform.core.image_mirror import (
    MANUAL_PREFIX,
    PULL_THROUGH_UPSTREAMS,
    Mirror,
    needs_manual_copy,
    parse_image,
)
from mlops_platform.core.versions import CHARTS, KUEUE_IMAGE, VERSION_MATRIX, autoscaler_chart
from mlops_platform.k8s.air_gap import AirGap, UnmirroredChart, release_props
from mlops_platform.programs.common import installed_charts, mirror_repositories
from ruamel.yaml import YAML

from .stackfiles import ACCOUNT, issue_at, issues_of, sections

IMAGES = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "images.json").read_text())
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
MIRROR = Mirror(REGISTRY, "mlops-dev")
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:ecr-pullthroughcache/"
#: Everything an air-gapped dev environment needs (its runner is on: dev lists a deployer role below; dev is in
#: us-east-1, where IAM's endpoint can be created).
AIR_GAPPED: dict[str, Any] = {
    "network": {"nat": "none", "interface_endpoints": list(dict.fromkeys([*PRIVATE_NODE_ENDPOINTS, *RUNNER_ENDPOINTS,
                                                                          "iam", "secretsmanager"]))},
    "registry": {"repositories": ["base-images", "deploy-runner"],
                 "mirror": {"docker_hub_credential_arn": f"{SECRET}docker-hub-AbCdEf",
                            "github_credential_arn": f"{SECRET}ghcr-AbCdEf"}},
    "cluster": {"deployer_role_arns": [f"arn:aws:iam::{ACCOUNT}:role/platform-deployer"],
                "deployer_image": "deploy-runner:2026.11.1"},
}


# --- rules -----------------------------------------------------------------------------------------------

def test_nat_none_is_accepted_with_every_endpoint_the_mirror_and_the_runner_image() -> None:
    assert issues_of(sections("dev", AIR_GAPPED)) == []
    cfg = PlatformConfig.model_validate(sections("dev", AIR_GAPPED))
    assert cfg.mirroring and cfg.in_vpc_deployer


def test_nat_none_reports_every_missing_piece_at_once_with_its_fix() -> None:
    """One report: endpoints (nodes and runner), both pull-through credentials, the runner image."""
    bare = sections("dev", {"network": {"nat": "none"}, "cluster": AIR_GAPPED["cluster"] | {"deployer_image": None}})
    issues = issues_of(bare)
    assert {i.path for i in issues} == {"network.interface_endpoints", "registry.mirror.docker_hub_credential_arn",
                                        "registry.mirror.github_credential_arn", "cluster.deployer_image"}
    endpoints = issue_at(issues, "network.interface_endpoints")
    missing = ("ec2, eks, eks-auth, elasticloadbalancing, autoscaling, secretsmanager, sns, kms, rds, servicequotas, "
               "ssm, iam")
    assert endpoints.message.endswith(f"need VPC endpoints for {missing}")
    assert endpoints.value == ["ecr.api", "ecr.dkr", "sts", "logs"]
    assert f"add {missing} to network.interface_endpoints" in endpoints.fix
    docker = issue_at(issues, "registry.mirror.docker_hub_credential_arn")
    assert "docker.io" in docker.message and "ecr-pullthroughcache/" in docker.fix
    runner = issue_at(issues, "cluster.deployer_image")
    assert "Pulumi CLI" in runner.message and "docs/air-gapped.md" in runner.fix


def test_turning_the_mirror_off_without_nat_is_refused() -> None:
    over = {**AIR_GAPPED, "registry": {**AIR_GAPPED["registry"], "mirror": {"enabled": False}}}
    issue = issue_at(issues_of(sections("dev", over)), "registry.mirror.enabled")
    assert issue.value is False and "registry.k8s.io" in issue.message and "nat: single" in issue.fix


def test_the_in_vpc_runner_cannot_manage_github_without_egress() -> None:
    """Review H4: pulumi-github calls api.github.com (k8s/github_trust.py), which no VPC endpoint reaches
    (PrivateLink Guide, aws-services-privatelink-support.html lists AWS services only)."""
    token = {"github": {"manage": True, "token_secret": "mlops-dev/github-token"}}
    issue = issue_at(issues_of(sections("dev", {**AIR_GAPPED, **token})), "github.manage")
    assert "api.github.com" in issue.message and issue.value is True
    assert "set github.manage: false" in issue.fix and "cluster.in_vpc_deployer: false" in issue.fix
    # with egress, or deploying from outside the VPC, GitHub stays manageable
    assert "github.manage" not in {i.path for i in issues_of(sections("dev", token))}
    outside = {**AIR_GAPPED, **token, "cluster": {**AIR_GAPPED["cluster"], "in_vpc_deployer": False,
                                                  "deployer_image": None}}
    assert "github.manage" not in {i.path for i in issues_of(sections("dev", outside))}
    assert set(RUNNER_ENDPOINTS) >= {"sts", "kms", "eks", "logs", "elasticloadbalancing"}


def test_a_subject_claim_managed_elsewhere_keeps_the_ci_roles_pinned() -> None:
    """What an air-gapped environment uses instead of github.manage: the trust stays pinned to the workflows
    (policy github-deploy-workflow-pinned; tests/k8s/test_air_gapped.py runs the pack on such a plan); claiming
    both is refused."""
    elsewhere = {"github": {"manage": False, "subject_claim_managed_elsewhere": True}}
    cfg = PlatformConfig.model_validate(sections("dev", {**AIR_GAPPED, **elsewhere}))
    assert issues_of(sections("dev", {**AIR_GAPPED, **elsewhere})) == [] and cfg.github.pins_workflows
    both = {"github": {"manage": True, "subject_claim_managed_elsewhere": True}}
    issue = issue_at(issues_of(sections("dev", both)), "github.subject_claim_managed_elsewhere")
    assert "already manages" in issue.message and "github.manage: false" in issue.fix


def test_acme_certificates_are_refused_without_egress() -> None:
    """Review M3: DNS-01 writes Route 53 records (a global API with no interface endpoint) and talks to the
    ACME directory on the internet (cert-manager ACME DNS01 Route53 docs; k8s/gateway_tls.py)."""
    acme = {"serving": {"tls": {"source": "acme", "acme_email": "ops@example.com",
                                "acme_hosted_zone_id": "Z0123456789ABCDEFGHIJ"}}}
    issue = issue_at(issues_of(sections("dev", {**AIR_GAPPED, **acme})), "serving.tls.source")
    assert issue.value == "acme" and "Route 53" in issue.message and "source: acm" in issue.fix
    assert "serving.tls.source" not in {i.path for i in issues_of(sections("dev", acme))}


def test_iam_is_a_runner_endpoint_only_where_it_can_exist() -> None:
    """Review M6: IAM's interface endpoint (`com.amazonaws.iam`) can only be created in us-east-1; elsewhere the
    VPC reaches it through a Transit Gateway (IAM User Guide, reference_iam_vpc_endpoint_create.html)."""
    without_iam = {**AIR_GAPPED, "network": {**AIR_GAPPED["network"], "interface_endpoints": [
        e for e in AIR_GAPPED["network"]["interface_endpoints"] if e != "iam"]}}
    issue = issue_at(issues_of(sections("dev", without_iam)), "network.interface_endpoints")
    assert issue.message.endswith("for iam")
    west = {"environment": {"region": "eu-west-1"}, "network": {"availability_zones": ["eu-west-1a", "eu-west-1b"]}}
    gapped_west = sections("dev", {**without_iam, **west, "network": {**without_iam["network"], **west["network"]}})
    assert "network.interface_endpoints" not in {i.path for i in issues_of(gapped_west)}
    (warning,) = [w for w in check_warnings(PlatformConfig.model_validate(gapped_west))
                  if w.path == "environment.region"]
    assert warning.value == "eu-west-1" and "Transit Gateway" in warning.fix
    listed = sections("dev", {**AIR_GAPPED, **west, "network": {**AIR_GAPPED["network"], **west["network"]}})
    issue = issue_at(issues_of(listed), "network.interface_endpoints")
    assert "only be created in us-east-1" in issue.message and "remove iam" in issue.fix
    with_nat = sections("dev", {**west, "network": {**west["network"], "interface_endpoints": ["sts", "iam"]}})
    assert issue_at(issues_of(with_nat), "network.interface_endpoints").value == "eu-west-1"


def test_components_add_the_endpoints_their_pods_call() -> None:
    """MLflow reads its database secret, Alertmanager publishes to SNS, Karpenter reads SSM and SQS."""
    endpoints = AIR_GAPPED["network"]["interface_endpoints"]
    karpenter = {**AIR_GAPPED, "gpu": {"provisioner": "karpenter"}}
    issue = issue_at(issues_of(sections("dev", karpenter)), "network.interface_endpoints")
    assert issue.message.endswith("for sqs") and "sns" in endpoints and "ssm" in endpoints
    off = {**AIR_GAPPED, "tracking": {"enabled": False}, "network": {
        "nat": "none", "interface_endpoints": [e for e in endpoints if e != "secretsmanager"]}}
    assert "network.interface_endpoints" not in {i.path for i in issues_of(sections("dev", off))}


def test_mirroring_can_be_opted_into_with_nat_and_then_needs_its_credentials() -> None:
    issues = issues_of(sections("dev", {"registry": {"mirror": {"enabled": True}}}))
    assert {i.path for i in issues} == {"registry.mirror.docker_hub_credential_arn",
                                        "registry.mirror.github_credential_arn"}


def test_the_runner_image_must_live_in_a_platform_repository() -> None:
    over = {**AIR_GAPPED, "cluster": {**AIR_GAPPED["cluster"], "deployer_image": "elsewhere:1"}}
    issue = issue_at(issues_of(sections("dev", over)), "cluster.deployer_image")
    assert issue.value == "elsewhere:1" and "add elsewhere to registry.repositories" in issue.fix


def test_each_upstream_that_needs_a_credential_has_one_field_for_it() -> None:
    """The host → field mapping lives on the model once (MirrorConfig.credentials) and covers exactly the
    upstreams whose cache rule needs a secret; the rule, the aws program and the preflight read it."""
    assert set(MIRROR_CREDENTIAL_FIELDS) == {h for h, u in PULL_THROUGH_UPSTREAMS.items() if u.needs_credential}
    mirror = PlatformConfig.model_validate(sections("dev", AIR_GAPPED)).registry.mirror
    assert {host: arn for host, (_, arn) in mirror.credentials().items()} == {
        host: AIR_GAPPED["registry"]["mirror"][field] for host, field in MIRROR_CREDENTIAL_FIELDS.items()}
    assert set(MirrorConfig.model_fields) >= set(MIRROR_CREDENTIAL_FIELDS.values())


def test_the_runner_image_splits_into_repository_and_tag_in_one_place() -> None:
    cluster = PlatformConfig.model_validate(sections("dev", AIR_GAPPED)).cluster
    repository, tag = AIR_GAPPED["cluster"]["deployer_image"].split(":")
    assert cluster.deployer_image_parts == (repository, tag)
    assert PlatformConfig.model_validate(sections("dev")).cluster.deployer_image_parts is None


def test_an_endpoint_listed_twice_is_reported() -> None:
    """Each endpoint is one resource named by its service (aws/network.py): a repeat is a duplicate URN."""
    issue = issue_at(issues_of(sections("dev", {"network": {"interface_endpoints": ["sts", "logs", "sts"]}})),
                     "network.interface_endpoints")
    assert issue.message == "endpoints repeat" and issue.fix == "list each endpoint once"


def test_cache_prefixes_longer_than_ecr_allows_are_reported() -> None:
    """CreatePullThroughCacheRule: ecrRepositoryPrefix is 2-30 characters."""
    over = {**AIR_GAPPED, "environment": {"name": "development-east"}}
    issue = issue_at(issues_of(sections("dev", over)), "environment.name")
    assert "30 characters ECR allows" in issue.message and issue.value == "development-east"


@pytest.mark.parametrize("arn", ["arn:aws:secretsmanager:us-east-1:123456789012:secret:dockerhub-AbCdEf",
                                 "not-an-arn"])
def test_credentials_must_be_pull_through_cache_secrets(arn: str) -> None:
    over = {**AIR_GAPPED, "registry": {"mirror": {"docker_hub_credential_arn": arn}}}
    assert "registry.mirror.docker_hub_credential_arn" in {i.path for i in issues_of(sections("dev", over))}


# --- image mapping ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ref", "expected"), [
    ("nats:2.10.10", "docker.io/library/nats:2.10.10"),
    ("kserve/agent", "docker.io/kserve/agent"),
    ("quay.io/prometheus/prometheus:v3.4.0", "quay.io/prometheus/prometheus:v3.4.0"),
    ("ghcr.io/opencost/opencost:1.120.1@sha256:b0", "ghcr.io/opencost/opencost:1.120.1@sha256:b0"),
    ("localhost:5000/a:b", "localhost:5000/a:b"),
])
def test_references_are_read_the_way_docker_reads_them(ref: str, expected: str) -> None:
    assert str(parse_image(ref)) == expected


def test_cached_registries_map_under_their_rule_prefix_and_others_under_mirror() -> None:
    """Pull syntax: <account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>:<tag>."""
    assert MIRROR.image("quay.io/prometheus/prometheus:v3.4.0") == \
        f"{REGISTRY}/mlops-dev/quay/prometheus/prometheus:v3.4.0"
    assert MIRROR.image("nats:2.10.10") == f"{REGISTRY}/mlops-dev/docker-hub/library/nats:2.10.10"
    assert MIRROR.image("nvcr.io/nvidia/k8s-device-plugin:v0.17.1") == \
        f"{REGISTRY}/mlops-dev/mirror/nvidia/k8s-device-plugin:v0.17.1"
    already = f"{REGISTRY}/mlops-dev/mirror/mlflow:v3"
    assert MIRROR.image(already) == already
    assert {u.url for u in PULL_THROUGH_UPSTREAMS.values()} == {
        "public.ecr.aws", "registry.k8s.io", "quay.io", "ghcr.io", "registry-1.docker.io"}
    assert {u.host for u in PULL_THROUGH_UPSTREAMS.values() if u.needs_credential} == {"docker.io", "ghcr.io"}


def test_mirrored_values_spell_each_image_the_way_its_chart_reads_it() -> None:
    kps = mirrored_values("kube-prometheus-stack", MIRROR)
    assert kps["prometheus"]["prometheusSpec"]["image"] == {"registry": REGISTRY,
                                                            "repository": "mlops-dev/quay/prometheus/prometheus"}
    assert kps["grafana"]["initChownData"]["image"]["repository"] == "mlops-dev/docker-hub/library/busybox"
    assert mirrored_values("cert-manager", MIRROR)["webhook"]["image"]["repository"] == \
        f"{REGISTRY}/mlops-dev/quay/jetstack/cert-manager-webhook"
    assert mirrored_values("kserve", MIRROR)["kserve"]["controller"]["rbacProxyImage"] == \
        f"{REGISTRY}/mlops-dev/quay/brancz/kube-rbac-proxy:v0.18.0"
    # gpu-operator: `repository` is the path up to the name, `image` the name (values.yaml operator/migManager)
    assert mirrored_values("gpu-operator", MIRROR)["migManager"] == {
        "repository": f"{REGISTRY}/mlops-dev/mirror/nvidia/cloud-native", "image": "k8s-mig-manager"}


def test_images_no_cache_serves_are_copied_by_hand_into_platform_repositories() -> None:
    copies = manual_copies(list(CHART_IMAGES), MIRROR)
    # expected from the fixture: every running image no cache serves, at the tag its chart renders
    expected = {f"{image.upstream}:{_recorded_tag(key, image.path)}" for key, images in CHART_IMAGES.items()
                for image in images if image.runs and needs_manual_copy(image.upstream)}
    assert {c.source for c in copies} == expected
    assert len(copies) == len(expected)
    for copy in copies:
        assert copy.target == f"{REGISTRY}/mlops-dev/{MANUAL_PREFIX}/{copy.source.split('/', 1)[1]}"
    cfg = PlatformConfig.model_validate(sections("dev", AIR_GAPPED))
    assert set(mirror_repositories(cfg)) >= {"mirror/mlflow", *(c.repository for c in
                                                                manual_copies(installed_charts(cfg), MIRROR))}
    assert "mirror/nvidia/tritonserver" not in mirror_repositories(PlatformConfig.model_validate(sections("dev")))


def test_every_image_copied_by_hand_has_the_tag_its_pinned_chart_renders() -> None:
    """`ChartImage.tag` is what air-gapped nodes pull: a chart bump that updates the fixture but not the table
    must fail here, not as ImagePullBackOff (tags from images.json: the entry's `tag`/`version`, else
    `_tags_outside_image_entries`)."""
    for key, images in CHART_IMAGES.items():
        for image in images:
            if image.runs and needs_manual_copy(image.upstream):
                assert image.tag, f"{key} {image.path}: copied by hand, so it needs the chart's tag"
            if image.tag:
                assert image.tag == _recorded_tag(key, image.path), f"{key} {image.path}"


# --- the table against the charts' values.yaml ------------------------------------------------------------

def _fixture_images(chart_key: str, version: str) -> dict[str, dict[str, Any]]:
    """Image paths of a chart's values.yaml (subcharts under their key), from tests/fixtures/upstream."""
    name = CHARTS[chart_key].chart.rsplit("/", 1)[-1] if chart_key in CHARTS else chart_key
    values = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "upstream" / "values" /
                         f"{name}-{version}.json").read_text())
    out = dict(IMAGES[f"{name}-{version}"]["images"])
    for prefix, sub in values.get("subcharts", {}).items():
        out |= {f"{prefix}.{p}": img for p, img in IMAGES[sub]["images"].items()}
    return out


def _fixture_key(chart_key: str) -> str:
    """The images.json key of a pinned chart (charts with a manual copy are all in versions.CHARTS)."""
    return f"{CHARTS[chart_key].chart.rsplit('/', 1)[-1]}-{CHARTS[chart_key].version}"


def _recorded_tag(chart_key: str, path: str) -> str:
    """The tag the pinned chart renders an image with, as the fixture records it."""
    entry = _fixture_images(chart_key, CHARTS[chart_key].version).get(path, {})
    outside = IMAGES["_tags_outside_image_entries"].get(_fixture_key(chart_key), {}).get("tags", {})
    return str(entry.get("tag") or entry.get("version") or outside.get(path, ""))


def _upstream_of(default: dict[str, Any]) -> str:
    """The reference a values.yaml image entry defaults to (registry + repository, repository + image name
    (NVIDIA GPU Operator), or the string)."""
    if "image" in default and "repository" in default:
        return str(parse_image(f"{default['repository']}/{default['image']}"))
    if "image" in default:
        return str(parse_image(default["image"]))
    ref = f"{default['registry']}/{default['repository']}" if default.get("registry") else default["repository"]
    return str(parse_image(ref))


#: Images the platform's own values replace (the table lists what runs): Kueue's git values name a staging
#: image the release job rewrites (core/versions.py KUEUE_IMAGE).
PINNED_BY_PLATFORM = {("kueue", "controllerManager.manager.image"): KUEUE_IMAGE[0]}
CHART_VERSIONS = [(k, c.version) for k, c in CHARTS.items()] + \
    [("cluster-autoscaler", autoscaler_chart(v).version) for v in VERSION_MATRIX]


@pytest.mark.parametrize(("chart_key", "version"), CHART_VERSIONS)
def test_the_table_lists_every_image_of_each_charts_values(chart_key: str, version: str) -> None:
    """Every image entry of the pinned values.yaml is in core/chart_images.py, with the same upstream and the
    style its keys have (a chart whose default is templated is listed with the template's default)."""
    table = {i.path: i for i in CHART_IMAGES[chart_key]}
    recorded = _fixture_images(chart_key, version)
    # an empty entry inherits the chart's global image (argo-events 2.4.22 templates: `default
    # .Values.global.image.repository .Values.controller.image.repository`), which the table then lists
    inherited = {p for p, d in recorded.items() if d.get("repository") == "" and "global.image" in table}
    assert set(recorded) - inherited <= set(table), f"{chart_key}: images missing from the table"
    for path, default in recorded.items():
        if path in inherited or default.get("repository") == "":
            continue  # templated default (envoy gateway `eg.image`): the table names the template's default
        image = table[path]
        upstream = PINNED_BY_PLATFORM.get((chart_key, path)) or _upstream_of(default)
        assert str(parse_image(image.upstream)).split(":")[0] == upstream.split(":")[0], path
        style = ImageStyle.NAMED if "image" in default and "repository" in default else \
            ImageStyle.STRING if "image" in default else \
            ImageStyle.SPLIT if default.get("registry") else ImageStyle.REPOSITORY
        assert image.style is style, path


def test_every_pinned_chart_has_an_entry() -> None:
    assert set(CHART_IMAGES) == {*CHARTS, "cluster-autoscaler"}
    cfg = PlatformConfig.model_validate(sections("dev", AIR_GAPPED))
    assert set(installed_charts(cfg)) <= set(CHART_IMAGES)


@pytest.mark.parametrize("chart_key", sorted(CHART_IMAGES))
def test_every_charts_release_is_rewritten_to_the_mirror(chart_key: str) -> None:
    """The cluster layer's transformation on a release of each pinned chart (the air-gapped plan in
    tests/k8s/test_air_gapped.py installs most; EFA and MIG pools add theirs): every image entry of the chart
    names the mirror, the chart is the vendored file, no repository is left."""
    chart = CHARTS[chart_key] if chart_key in CHARTS else autoscaler_chart("1.35")
    props = release_props({"chart": chart.chart, "version": chart.version, "values": {},
                           "repository_opts": {"repo": chart.repository}},
                          AirGap(mirror=MIRROR, chart_directory="/opt/mlplat/charts"))
    assert props["chart"] == f"/opt/mlplat/charts/{chart.chart.rsplit('/', 1)[-1]}-{chart.version}.tgz"
    assert props["repository_opts"] is None
    for image in CHART_IMAGES[chart_key]:
        node: Any = props["values"]
        for part in image.path.split("."):
            node = node[part]
        ref = node if isinstance(node, str) else f"{node['repository']}/{node['image']}" \
            if image.style is ImageStyle.NAMED else f"{node.get('registry', '')}/{node['repository']}".lstrip("/")
        assert ref.startswith(f"{REGISTRY}/mlops-dev/"), (chart_key, image.path, ref)


def test_a_chart_the_table_does_not_know_fails_the_plan() -> None:
    with pytest.raises(UnmirroredChart, match=r"has no entry in core/chart_images\.py"):
        release_props({"chart": "oci://example.com/charts/new", "version": "1.0.0", "values": {}},
                      AirGap(mirror=MIRROR, chart_directory="/opt/mlplat/charts"))


# --- the runner image's build (review H3) ----------------------------------------------------------------------

def test_the_runner_images_build_gives_the_policy_pack_its_venv_and_never_reaches_pypi() -> None:
    """The Pulumi CLI installs a local Python policy pack's requirements.txt into the pack's `virtualenv`
    (PulumiPolicy.yaml `runtime.options`) before each preview/up that names it; the runner image's venv is that
    venv, and PIP_NO_INDEX (pip's environment configuration) keeps any pip call off PyPI."""
    root = Path(__file__).resolve().parents[2]
    pack = YAML(typ="safe").load((root / "platform" / "policypack" / "PulumiPolicy.yaml").read_text())
    spec = YAML(typ="safe").load(buildspec("dev", prebuilt=True))
    assert spec["env"]["variables"] == {"PIP_NO_INDEX": "1"}
    (install,) = spec["phases"]["install"]["commands"]
    venv = f"platform/policypack/{pack['runtime']['options']['virtualenv']}"
    assert f"ln -s {RUNNER_IMAGE_VENV} {venv} &&" in install and install.index(venv) < install.index("pip install")
    # the standard image (with egress) keeps PyPI and lets the CLI make the pack's venv
    assert "env" not in YAML(typ="safe").load(buildspec("dev")) and venv not in buildspec("dev")
    # the image's venv holds what the pack requires: the Dockerfile of docs/air-gapped.md installs both
    docs = (root / "docs" / "air-gapped.md").read_text()
    assert "-r /src/platform/policypack/requirements.txt" in docs
