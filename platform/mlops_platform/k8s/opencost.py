"""Cost allocation: OpenCost on the platform's own Prometheus, so every namespace's CPU, memory, GPU and
volume cost is a Prometheus series the tenants' Grafana dashboards read (k8s/cost_dashboards.py).

Pricing, as OpenCost 1.120's AWS provider does it (opencost/opencost pkg/cloud/aws/provider.go):
on-demand prices come from the public price list (`pricing.us-east-1.amazonaws.com/offers/...`, plain
HTTPS, no credentials), so OpenCost needs no AWS API access for them. Spot nodes (the
`eks.amazonaws.com/capacityType: SPOT` label) are priced from the account's Spot Instance Data Feed when
`cost_allocation.spot_data_feed` names it — then, and only then, OpenCost gets an IRSA role reading that
bucket and prefix — else at the public on-demand price, so spot pools read high (docs/cost.md).
GPU cost: a node's GPU count is its `nvidia.com/gpu` capacity (the device plugin advertises it) and its
GPU price the instance price split by OpenCost's default CPU/RAM/GPU base prices; a container's GPU
allocation is its `nvidia.com/gpu` request. DCGM is not needed for cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.core.errors import ConfigError, ConfigIssue
from mlops_platform.k8s._helm import helm_release, namespace
from mlops_platform.k8s.manifests import (
    container_security_context,
    irsa_annotation,
    pod_security_context,
    resources,
    tmp_volume,
)
from mlops_platform.k8s.netpol import MONITORING_NAMESPACE
from mlops_platform.k8s.provider import k8s_opts

OPENCOST_NAMESPACE = "opencost"
RELEASE = "opencost"
SERVICE_ACCOUNT = "opencost"
PRICING_CONFIGMAP = "opencost-pricing"
HOURS_PER_MONTH = 730
#: OpenCost's own AWS base prices, USD per hour (opencost/opencost configs/aws.json): they split a node's
#: public price into CPU, RAM and GPU. The pricing ConfigMap replaces the provider's config, so they are
#: restated, as monthly values: OpenCost divides these keys by 730 when it reads a ConfigMap
#: (pkg/cloud/provider/providerconfig.go `UpdateFromMap`).
AWS_BASE_PRICES_HOURLY = {"CPU": 0.031611, "spotCPU": 0.006655, "RAM": 0.004237, "spotRAM": 0.000892,
                          "GPU": 0.95, "storage": 0.00005479452}
#: Per-GB network prices of the same file (read as given, not divided).
AWS_NETWORK_PRICES = {"zoneNetworkEgress": 0.01, "regionNetworkEgress": 0.01, "internetNetworkEgress": 0.143}
#: Pod port of kube-prometheus-stack's Prometheus (its `kps-prometheus` Service, monitoring.PROMETHEUS_URL).
PROMETHEUS_PORT = 9090
#: The cluster's DNS domain (EKS: the Kubernetes default).
CLUSTER_DOMAIN = "cluster.local"
#: The image's user (opencost/opencost Dockerfile: `USER 1001`).
OPENCOST_UID = 1001
#: OpenCost's config and cache directory (opencost pkg/env DefaultConfigMountPath), absent from the image:
#: writable on a read-only root filesystem.
CONFIG_DIR = "/var/configs"


@dataclass(frozen=True, kw_only=True)
class SpotFeed:
    """Where the account's Spot Instance Data Feed writes (the subscription's bucket and prefix)."""

    bucket: str
    """S3 bucket of the feed. Required."""
    region: str
    """Region of the bucket. Required."""
    prefix: str = ""
    """The subscription's prefix, no trailing slash. Default: none."""


@dataclass(frozen=True, kw_only=True)
class CostAllocationArgs:
    """Arguments of `CostAllocation`."""

    cluster_name: str
    """OpenCost's cluster id (the `cluster_id` it reports). Required."""
    k8s_version: str
    """Kubernetes minor version of the namespace's PSA labels. Required."""
    prometheus_service: str
    """Service name of the platform's Prometheus in the monitoring namespace (`kps-prometheus`). Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    account_id: str
    """Account the spot feed's files are named after (OpenCost's `ProjectID`). Required."""
    spot_feed: SpotFeed | None = None
    """Read spot prices from this feed as `spot_feed_role_arn`. Default: none (spot priced on demand)."""
    spot_feed_role_arn: pulumi.Input[str] | None = None
    """OpenCost's IRSA role reading the feed (`aws.service_roles.spot_feed_reader`, made by the cluster
    layer); required with `spot_feed`, refused without. Default: none."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What the release waits for: the monitoring release (ServiceMonitor CRD, Prometheus). Default: nothing."""

    def __post_init__(self) -> None:
        if (self.spot_feed is None) is not (self.spot_feed_role_arn is None):
            raise ConfigError([ConfigIssue(
                "spot_feed_role_arn", "goes with spot_feed", self.spot_feed_role_arn,
                "set both spot_feed and spot_feed_role_arn (aws.service_roles.spot_feed_reader), or neither")])


def writable_dirs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, mounts): /tmp and OpenCost's config directory on a read-only root filesystem."""
    tmp, tmp_mount = tmp_volume()
    configs = {"name": "configs", "emptyDir": {"sizeLimit": "256Mi"}}
    return [tmp, configs], [tmp_mount, {"name": "configs", "mountPath": CONFIG_DIR}]


def exporter_values(args: CostAllocationArgs) -> dict[str, Any]:
    return {
        "defaultClusterId": args.cluster_name,
        # one replica: two would emit the same series twice (honorLabels keeps the workloads' labels, so the
        # replicas' samples collide); a restart loses nothing, the cost history lives in Prometheus
        "replicas": 1,
        # the public EC2 price list of a region is large and decoded in memory (1Gi is the chart's own limit)
        "resources": resources("100m", "256Mi", memory_limit="1Gi"),
        "securityContext": container_security_context(),
        "extraVolumeMounts": writable_dirs()[1],
    }


def opencost_values(args: CostAllocationArgs) -> dict[str, Any]:
    return {
        "fullnameOverride": RELEASE,
        # not the EKS cluster's name: the chart builds the Prometheus URL as
        # http://<serviceName>.<namespaceName>.svc.<clusterName>:<port> (templates/_helpers.tpl
        # "opencost.prometheusServerEndpoint"), so this is the cluster's DNS domain
        "clusterName": CLUSTER_DOMAIN,
        "podSecurityContext": pod_security_context(OPENCOST_UID),
        "extraVolumes": writable_dirs()[0],
        "opencost": {
            "exporter": exporter_values(args),
            "prometheus": {"internal": {"enabled": True, "serviceName": args.prometheus_service,
                                        "namespaceName": MONITORING_NAMESPACE, "port": PROMETHEUS_PORT}},
            # cost is read in Grafana; the UI and the AI-agent (MCP) endpoint would be unauthenticated
            "ui": {"enabled": False}, "mcp": {"enabled": False},
            # cloudCost reads the Cost and Usage Report through Athena: an account-level integration the
            # platform does not own; allocation needs only the price list
            "cloudCost": {"enabled": False},
            # honorLabels: OpenCost's `namespace`/`pod` labels name the workload, not the exporter's own pod
            "metrics": {"serviceMonitor": {"enabled": True, "honorLabels": True, "scrapeInterval": "1m"}},
        },
    }


def pricing_config(feed: SpotFeed, account_id: str) -> dict[str, str]:
    """The pricing ConfigMap's keys: OpenCost's AWS base prices (monthly) and the spot feed. Keys are the Go
    field names of OpenCost's CustomPricing after title-casing the first letter (`SpotDataBucket`, not the
    JSON tag `awsSpotDataBucket`: models.SetCustomPricingField looks fields up by name)."""
    base = {key: f"{price * HOURS_PER_MONTH:.6f}" for key, price in AWS_BASE_PRICES_HOURLY.items()}
    network = {key: f"{price:g}" for key, price in AWS_NETWORK_PRICES.items()}
    return {"description": "AWS base prices (opencost configs/aws.json) and the account's spot data feed",
            **base, **network, "SpotDataBucket": feed.bucket, "SpotDataRegion": feed.region,
            "SpotDataPrefix": feed.prefix, "ProjectID": account_id}


def spot_feed_values(feed: SpotFeed, account_id: str, role_arn: Any) -> dict[str, Any]:
    """Values that make OpenCost read the feed as its IRSA role."""
    return {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, "annotations": irsa_annotation(role_arn)},
            "opencost": {"customPricing": {"enabled": True, "createConfigmap": True, "provider": "aws",
                                           "configmapName": PRICING_CONFIGMAP,
                                           "costModel": pricing_config(feed, account_id)}}}


class CostAllocation(pulumi.ComponentResource):
    """OpenCost (no UI, no MCP, restricted PSA, fenced namespace) scraped by the platform's Prometheus."""

    def __init__(self, name: str, args: CostAllocationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:CostAllocation", name, None, opts)
        # reached only by Prometheus (the fence admits the monitoring namespace); egress stays open for the
        # API server and the public price list. The monitoring namespace admits this one to Prometheus's port
        # (cluster_layer.query_namespaces → MonitoringArgs.query_namespaces).
        ns = namespace(f"{name}-ns", OPENCOST_NAMESPACE, "restricted", args.k8s_version,
                       k8s_opts(self, args.provider, list(args.depends_on)))
        values = opencost_values(args)
        if args.spot_feed is not None:
            extra = spot_feed_values(args.spot_feed, args.account_id, args.spot_feed_role_arn)
            values = {**values, "serviceAccount": extra["serviceAccount"],
                      "opencost": {**values["opencost"], **extra["opencost"]}}
        self.release = helm_release(f"{name}-opencost", "opencost", RELEASE, OPENCOST_NAMESPACE, values,
                                    k8s_opts(self, args.provider, [ns, *args.depends_on]))
        self.register_outputs({"namespace": OPENCOST_NAMESPACE})
