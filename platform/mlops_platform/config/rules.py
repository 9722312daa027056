"""Cross-field and per-tier rules of the stack schema, as pure functions.

Each rule returns `ConfigIssue`s with the dotted path, the bad value and the fix; `check_rules` runs
them all so a user sees every problem at once. Documented in docs/configuration.md.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator

from mlops_platform.config.gpu_provisioning import karpenter_rules
from mlops_platform.config.issues import issue
from mlops_platform.config.rules_air_gap import air_gap_rules, air_gap_warnings
from mlops_platform.config.rules_gpu import (
    gpu_pool_rules,
    gpu_warnings,
    node_group_release_rules,
    project_gpu_rules,
    queueing_rules,
)
from mlops_platform.config.rules_gpu import pool_gpu_type as pool_gpu_type  # re-exported: node pools use it
from mlops_platform.config.rules_serving import serving_rules
from mlops_platform.config.sections import GpuPoolConfig, PlatformSections, PoolConfig, ProjectConfig
from mlops_platform.core import instances, webhook_urls
from mlops_platform.core.errors import ConfigIssue
from mlops_platform.core.naming import bucket_name
from mlops_platform.core.versions import SUPPORTED_EKS_VERSIONS

#: CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
RESERVED_TAGS = ("environment", "owner", "cost-center", "managed-by")
RESERVED_LABEL_PREFIXES = ("mlops.io/", "nvidia.com/", "kubernetes.io/", "k8s.io/", "eks.amazonaws.com/")
#: Namespaces the platform itself uses (a project is a namespace of its name, so none may take one of these:
#: its tenancy would land in a platform component's namespace). tests/k8s/test_namespaces.py checks that every
#: namespace constant of the components is listed here.
RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease", "monitoring",
                                 "node-agents", "kserve", "mlflow", "kuberay", "nvidia-gpu", "gpu-system",
                                 "cert-manager", "istio-system", "opencost", "argo", "flagger-system", "keda",
                                 "kueue-system", "envoy-gateway-system"})
MAX_AZS = 6

Issues = Iterator[ConfigIssue]


class RuleViolations(ValueError):
    """Raised inside pydantic validation; the loader unpacks the issues with their own paths."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{i.path}: {i.message}" for i in issues))


def network_rules(cfg: PlatformSections) -> Issues:
    net = cfg.network
    if net.mode == "existing":
        if net.existing is None:
            yield issue("network.existing", "mode 'existing' needs the VPC and subnet ids", None,
                        "add network.existing.vpc_id and private_subnet_ids, or use mode: managed")
        elif cfg.is_prod and len(net.existing.private_subnet_ids) < 3:
            yield issue("network.existing.private_subnet_ids", "prod needs private subnets in >= 3 AZs",
                        net.existing.private_subnet_ids, "list one private subnet in each of 3+ AZs")
        return
    if net.existing is not None:
        yield issue("network.existing", "only allowed with mode: existing", "set", "remove it or set mode: existing")
    prefix = ipaddress.IPv4Network(net.cidr).prefixlen
    if not 16 <= prefix <= 24:
        yield issue("network.cidr", "VPC CIDR must be between /16 and /24", net.cidr, "use e.g. 10.20.0.0/16")
    yield from _az_rules(cfg)
    if cfg.is_prod and net.nat == "single":
        yield issue("network.nat", "prod may not depend on a single NAT gateway", net.nat.value,
                    "use nat: one_per_az (or none for an air-gapped VPC)")
    if len(set(net.interface_endpoints)) != len(net.interface_endpoints):
        # each endpoint is one resource named by its service: a repeat would be a duplicate URN at `pulumi up`
        yield issue("network.interface_endpoints", "endpoints repeat", list(net.interface_endpoints),
                    "list each endpoint once")
    yield from air_gap_rules(cfg)
    if net.flow_log_retention_days not in LOG_RETENTION_DAYS:
        yield issue("network.flow_log_retention_days", "not a CloudWatch retention value",
                    net.flow_log_retention_days, f"use one of {LOG_RETENTION_DAYS}")


def _az_rules(cfg: PlatformSections) -> Issues:
    azs, region = cfg.network.availability_zones, cfg.environment.region
    minimum = 3 if cfg.is_prod else 2
    if not minimum <= len(azs) <= MAX_AZS:
        yield issue("network.availability_zones", f"{cfg.tier.value} needs {minimum}..{MAX_AZS} AZs",
                    azs, f"list {minimum} or more AZs of {region}, e.g. {region}a, {region}b, {region}c")
    if len(set(azs)) != len(azs):
        yield issue("network.availability_zones", "AZs repeat", azs, "list each AZ once")
    for i, az in enumerate(azs):
        if not (az.startswith(region) and len(az) == len(region) + 1 and az[-1].isalpha()):
            yield issue(f"network.availability_zones[{i}]", f"not an AZ of region {region}", az,
                        f"use {region}a, {region}b, ...")


def cluster_rules(cfg: PlatformSections) -> Issues:
    cl = cfg.cluster
    if cl.version not in SUPPORTED_EKS_VERSIONS:
        yield issue("cluster.version", "EKS version not supported by this platform release", cl.version,
                    f"use one of {', '.join(SUPPORTED_EKS_VERSIONS)}")
    public = cl.endpoint_access == "public_and_private"
    if public and not cl.allow_public_endpoint_cidrs:
        yield issue("cluster.allow_public_endpoint_cidrs", "a public endpoint needs explicit CIDRs", [],
                    "list the CIDRs allowed to reach the API, or use endpoint_access: private")
    if not public and cl.allow_public_endpoint_cidrs:
        yield issue("cluster.allow_public_endpoint_cidrs", "only used with endpoint_access: public_and_private",
                    cl.allow_public_endpoint_cidrs, "remove it, or opt in with endpoint_access")
    for i, cidr in enumerate(cl.allow_public_endpoint_cidrs):
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            yield issue(f"cluster.allow_public_endpoint_cidrs[{i}]", "the whole internet is not allowed", cidr,
                        "list your office/VPN egress CIDRs")
    if cfg.is_prod and public:
        yield issue("cluster.endpoint_access", "prod API endpoint must be private", cl.endpoint_access.value,
                    "set endpoint_access: private and reach the API through the VPC (VPN, bastion, SSM)")
    if cfg.is_prod and cl.deletion_protection is False:
        yield issue("cluster.deletion_protection", "prod needs deletion protection", False,
                    "remove the field (defaults to true in prod)")
    if cl.log_retention_days not in LOG_RETENTION_DAYS:
        yield issue("cluster.log_retention_days", "not a CloudWatch retention value", cl.log_retention_days,
                    f"use one of {LOG_RETENTION_DAYS}")
    if cl.in_vpc_deployer is True and not cl.deployer_role_arns:
        yield issue("cluster.deployer_role_arns", "the in-VPC deploy runner needs a role to deploy as", [],
                    "list the role `mlplat up` runs as (it must trust the runner role <cluster>-deployer), "
                    "or set cluster.in_vpc_deployer: false and deploy from a machine that reaches the API")
    runner = bool(cl.deployer_role_arns) if cl.in_vpc_deployer is None else cl.in_vpc_deployer
    if runner and cfg.github.manage and not cfg.github.token_secret:
        # pulumi-github's provider needs GITHUB_TOKEN; the runner's build has only what the project gives it.
        yield issue("github.token_secret", "github.manage needs a GitHub token in the in-VPC deploy runner's "
                    "build (pulumi-github reads GITHUB_TOKEN)", None,
                    "store a token with admin rights on the projects' repositories in Secrets Manager and name "
                    "the secret here, or set github.manage: false")
    if not cl.admin_principal_arns:
        yield issue("cluster.admin_principal_arns", "no cluster administrator: nobody could reach the cluster",
                    [], "list at least one IAM role ARN (the cluster creator gets no implicit admin)")


def _size_rules(path: str, pool: PoolConfig) -> Issues:
    if not pool.min_size <= pool.desired_size <= pool.max_size:
        yield issue(f"{path}.desired_size", "needs min_size <= desired_size <= max_size",
                    f"{pool.min_size} <= {pool.desired_size} <= {pool.max_size}",
                    "adjust the three sizes so they are ordered")
    for key in pool.labels:
        if key.startswith(RESERVED_LABEL_PREFIXES):
            yield issue(f"{path}.labels.{key}", "label key is reserved for the platform", key,
                        "use your own prefix, e.g. team.example.com/…")


def _instance_rules(path: str, pool: PoolConfig, gpu: bool, ami_arch: dict[str, instances.Arch],
                    ami_type: str) -> Issues:
    if ami_type not in ami_arch:
        yield issue(f"{path}.ami_type", "unsupported AMI type for this pool", ami_type,
                    f"use one of {', '.join(ami_arch)}")
    for i, name in enumerate(pool.instance_types):
        itype = instances.lookup(name)
        kind = "GPU" if gpu else "CPU"
        if itype is None or (itype.gpus > 0) != gpu:
            yield issue(f"{path}.instance_types[{i}]", f"not a known {kind} instance type", name,
                        f"use one of {', '.join(instances.known_types(gpu))}")
        elif ami_type in ami_arch and ami_arch[ami_type] != itype.arch:
            yield issue(f"{path}.instance_types[{i}]",
                        f"{itype.arch.value} instance does not match AMI type {ami_type}", name,
                        f"use an {ami_arch[ami_type].value} {kind} instance or the matching AMI type")


def node_pool_rules(cfg: PlatformSections) -> Issues:
    pools, system = cfg.node_pools, cfg.node_pools.system
    yield from _size_rules("node_pools.system", system)
    yield from _instance_rules("node_pools.system", system, False, instances.CPU_AMI_ARCH, system.ami_type)
    yield from node_group_release_rules(cfg, "node_pools.system", system)
    if cfg.is_prod and system.capacity != "on_demand":
        yield issue("node_pools.system.capacity", "prod system pool must be on-demand", system.capacity.value,
                    "set capacity: on_demand (spot reclaims would take cluster add-ons down)")
    if cfg.is_prod and system.min_size < 2:
        yield issue("node_pools.system.min_size", "prod system pool needs >= 2 nodes", system.min_size,
                    "set min_size: 2 or more")
    names = [system.name, *(p.name for p in pools.gpu)]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        yield issue("node_pools", "pool names must be unique", dup, "rename one of the pools")
    for i, pool in enumerate(pools.gpu):
        yield from _gpu_pool_rules(cfg, f"node_pools.gpu[{i}]", pool)
    total = total_max_gpus(cfg)
    if total > cfg.gpu.max_total_gpus:
        yield issue("node_pools.gpu", f"pools can scale to {total} GPUs, above gpu.max_total_gpus",
                    total, f"lower max_size or raise gpu.max_total_gpus ({cfg.gpu.max_total_gpus})")


def _gpu_pool_rules(cfg: PlatformSections, path: str, pool: GpuPoolConfig) -> Issues:
    yield from _size_rules(path, pool)
    yield from _instance_rules(path, pool, True, instances.GPU_AMI_ARCH, pool.ami_type)
    kinds = {t.gpu_type for n in pool.instance_types if (t := instances.lookup(n)) and t.gpu_type}
    if len(kinds) > 1:
        yield issue(f"{path}.instance_types", "a pool must hold one GPU model (it is the node label)",
                    sorted(k.value for k in kinds), "split the pool by GPU model")
    if cfg.tier == "dev" and pool.min_size != 0:
        yield issue(f"{path}.min_size", "dev GPU pools must scale to zero", pool.min_size,
                    "set min_size: 0 and desired_size: 0")
    yield from gpu_pool_rules(cfg, path, pool)


def pool_max_gpus_per_node(pool: GpuPoolConfig) -> int:
    return max((t.gpus for n in pool.instance_types if (t := instances.lookup(n))), default=0)


def total_max_gpus(cfg: PlatformSections) -> int:
    return sum(p.max_size * pool_max_gpus_per_node(p) for p in cfg.node_pools.gpu)


def storage_rules(cfg: PlatformSections) -> Issues:
    art = cfg.artifacts
    if cfg.is_prod and art.allow_force_destroy:
        yield issue("artifacts.allow_force_destroy", "prod data buckets are retained", True,
                    "remove allow_force_destroy from the prod stack")
    if len(set(art.buckets)) != len(art.buckets):
        yield issue("artifacts.buckets", "bucket roles repeat", [b.value for b in art.buckets], "list each once")
    longest = bucket_name(cfg.environment, "access-logs")
    if len(longest) > 63:
        yield issue("environment.name_prefix", "bucket names would exceed 63 characters", longest,
                    "shorten environment.name_prefix or environment.name")
    regs = cfg.registry.repositories
    if len(set(regs)) != len(regs):
        yield issue("registry.repositories", "repository names repeat", regs, "list each once")


def budget_and_tag_rules(cfg: PlatformSections) -> Issues:
    th = cfg.budget.alert_thresholds_pct
    if not th or any(not 1 <= t <= 200 for t in th) or sorted(set(th)) != th:
        yield issue("budget.alert_thresholds_pct", "need ascending, unique percentages in 1..200", th,
                    "e.g. [50, 80, 100]")
    for key in cfg.environment.tags:
        if key in RESERVED_TAGS:
            yield issue(f"environment.tags.{key}", "tag is set by the platform", key,
                        f"remove it; {key} comes from the environment section")
    if cfg.is_prod and cfg.monitoring.enabled is False:
        yield issue("monitoring.enabled", "prod must run monitoring and alerting", False, "remove the field")
    if cfg.cost_allocation.enabled and not cfg.component_enabled(cfg.monitoring):
        yield issue("cost_allocation.enabled", "OpenCost reads the platform's Prometheus, which monitoring "
                    "provides", True, "turn monitoring on (drop monitoring.enabled: false) or drop "
                    "cost_allocation.enabled")
    gh = cfg.github
    if cfg.is_prod and gh.manage and not (gh.reviewer_team_ids or gh.reviewer_user_ids):
        yield issue("github.reviewer_team_ids", "prod deployments need a required reviewer", [],
                    "list a GitHub team id (or github.reviewer_user_ids), or set github.manage: false")
    if gh.manage and gh.subject_claim_managed_elsewhere:
        yield issue("github.subject_claim_managed_elsewhere", "github.manage already manages the subject claim",
                    True, "drop subject_claim_managed_elsewhere, or set github.manage: false")


def _rename_rules(cfg: PlatformSections) -> Issues:
    names = {p.name for p in cfg.projects}
    for i, proj in enumerate(cfg.projects):
        for j, old in enumerate(proj.previous_names):
            if old == proj.name or old in names:
                yield issue(f"projects[{i}].previous_names[{j}]", "a former name must not be a current project name",
                            old, "list only names the project had before (the oldest first)")


def project_rules(cfg: PlatformSections) -> Issues:
    names = [p.name for p in cfg.projects]
    for i, proj in enumerate(cfg.projects):
        path = f"projects[{i}]"
        if names.count(proj.name) > 1:
            yield issue(f"{path}.name", "project names must be unique", proj.name, "rename or merge the entries")
        if proj.name in RESERVED_NAMESPACES:
            yield issue(f"{path}.name", "name is a reserved platform namespace", proj.name, "choose another slug")
        yield from project_limits(cfg, proj, path)
        yield from project_gpu_rules(cfg, proj, path)
    yield from _rename_rules(cfg)
    total = sum(p.monthly_budget_usd for p in cfg.projects)
    if total > cfg.budget.monthly_usd:
        yield issue("projects", "project budgets add up to more than the environment budget", total,
                    f"lower project budgets or raise budget.monthly_usd ({cfg.budget.monthly_usd})")


def delivery_rules(cfg: PlatformSections) -> Issues:
    """Each external webhook host is a public FQDN: the cluster resolver completes a name ending in a
    namespace (platform or project, current or former) into an in-cluster Service (core.webhook_urls)."""
    names = RESERVED_NAMESPACES | {p.name for p in cfg.projects} | {n for p in cfg.projects for n in p.previous_names}
    for i, host in enumerate(cfg.serving.delivery.allow_external_webhook_hosts):
        problem = webhook_urls.host_problem(host, namespaces=names)
        if problem:
            yield issue(f"serving.delivery.allow_external_webhook_hosts[{i}]",
                        f"must be a public, fully qualified DNS name; it {problem}", host,
                        "list the public, fully qualified DNS name of the hook's server (e.g. hooks.example.com), "
                        "or drop it and call a Service of the project's namespace")


def cluster_capacity(cfg: PlatformSections) -> tuple[int, int]:
    """(vCPUs, GiB of memory) of every node pool at max_size, counting each pool's largest known type:
    no namespace quota can be used beyond what the cluster can ever schedule."""
    vcpus = memory = 0
    for pool in [cfg.node_pools.system, *cfg.node_pools.gpu]:
        types = [t for t in (instances.lookup(n) for n in pool.instance_types) if t is not None]
        if types:
            vcpus += pool.max_size * max(t.vcpus for t in types)
            memory += pool.max_size * max(t.memory_gib for t in types)
    return vcpus, memory


def project_limits(cfg: PlatformSections, proj: ProjectConfig, path: str) -> Issues:
    """A project's quotas against the environment's limits (also what `mlplat new` checks answers with)."""
    if proj.gpu_quota and not cfg.node_pools.gpu:
        yield issue(f"{path}.gpu_quota", "no GPU pool exists to serve this quota", proj.gpu_quota,
                    "add a node_pools.gpu entry or set gpu_quota: 0")
    elif proj.gpu_quota > cfg.gpu.max_total_gpus:
        yield issue(f"{path}.gpu_quota", "quota exceeds the environment GPU cap", proj.gpu_quota,
                    f"use at most gpu.max_total_gpus ({cfg.gpu.max_total_gpus})")
    vcpus, memory = cluster_capacity(cfg)
    if vcpus and proj.cpu_quota > vcpus:
        yield issue(f"{path}.cpu_quota", f"quota exceeds the {vcpus} vCPUs the node pools can ever provide",
                    proj.cpu_quota, f"use at most {vcpus}, or raise the pools' max_size")
    if memory and proj.memory_quota_gib > memory:
        yield issue(f"{path}.memory_quota_gib", f"quota exceeds the {memory} GiB the node pools can ever "
                    "provide", proj.memory_quota_gib, f"use at most {memory}, or raise the pools' max_size")


RULES: tuple[Callable[[PlatformSections], Issues], ...] = (
    network_rules, cluster_rules, node_pool_rules, karpenter_rules, storage_rules, budget_and_tag_rules,
    project_rules, queueing_rules, serving_rules, delivery_rules,
)


def check_rules(cfg: PlatformSections) -> list[ConfigIssue]:
    """Every rule violation of a structurally valid config."""
    return [issue for rule in RULES for issue in rule(cfg)]


#: RFC 6598 shared address space: not `is_private` to Python, yet routable only inside a network (EKS
#: documents 100.64.0.0/10 for pod and secondary VPC CIDRs).
_SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")


def network_warnings(cfg: PlatformSections) -> Issues:
    net = ipaddress.IPv4Network(cfg.network.cidr)
    if cfg.network.mode == "managed" and not (net.is_private or net.subnet_of(_SHARED_SPACE)):
        yield issue("network.cidr", "is public address space: the VPC would shadow those internet addresses "
                    "and cannot peer with networks that use them", cfg.network.cidr,
                    "use a private range (RFC 1918), e.g. 10.20.0.0/16")


#: Checks that do not fail validation but are printed by `mlplat validate` as warnings.
WARNINGS: tuple[Callable[[PlatformSections], Issues], ...] = (network_warnings, gpu_warnings, air_gap_warnings)


def check_warnings(cfg: PlatformSections) -> list[ConfigIssue]:
    """Every warning of a valid config (allowed, but most likely a mistake)."""
    return [issue for rule in WARNINGS for issue in rule(cfg)]
