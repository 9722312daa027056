"""Network policies of a project namespace: deny everything, then allow exactly what a tenant needs."""

from __future__ import annotations

from dataclasses import dataclass

from mlops_platform.k8s.manifests import PROJECT_LABEL, Manifest

NS_NAME_LABEL = "kubernetes.io/metadata.name"
#: The node's instance metadata service: pods must never reach it (it would hand out the node role).
IMDS_CIDR = "169.254.169.254/32"


@dataclass(frozen=True)
class PlatformPeers:
    """Platform namespaces a project talks to (None/empty when that component is off)."""

    ingress_namespaces: tuple[str, ...] = ()  # gateway data plane and KServe controller
    monitoring_namespace: str | None = None
    tracking_namespace: str | None = None
    tracking_port: int = 5000
    #: Flagger's namespace when progressive delivery is on: it calls the project's Canary webhooks
    hook_caller_namespace: str | None = None


#: Label a project sets on the pods its Canary webhooks reach (the Flagger loadtester): the only pods
#: Flagger may open a connection to (project namespaces deny all other ingress from the platform).
HOOK_TARGET_LABEL = "mlops.io/flagger-hook"
#: Flagger's own pods (flagger chart templates/deployment.yaml: `app.kubernetes.io/name: {{ flagger.name }}`).
FLAGGER_POD = {"app.kubernetes.io/name": "flagger"}


def _from_namespaces(names: tuple[str, ...]) -> list[Manifest]:
    return [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: n}}} for n in names]


EVERYONE: Manifest = {"podSelector": {}}


def _egress_anywhere_but_imds(port: int) -> Manifest:
    return {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [IMDS_CIDR]}}],
        "ports": [{"protocol": "TCP", "port": port}]}]}


def base_policies() -> list[tuple[str, Manifest]]:
    """Deny everything, then DNS and TLS egress (AWS APIs: S3, ECR, STS for IRSA), never the metadata service."""
    return [
        ("default-deny", {**EVERYONE, "policyTypes": ["Ingress", "Egress"]}),
        ("allow-dns", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
            "to": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}),
        ("allow-https-egress", _egress_anywhere_but_imds(443)),
    ]


#: Namespace Prometheus scrapes from; every platform namespace admits it.
MONITORING_NAMESPACE = "monitoring"


def system_fence(open_ports: tuple[int, ...]) -> list[Manifest]:
    """Ingress fence for a third-party platform namespace (operators, webhooks, gateways).

    Pods of the namespace talk freely to each other and Prometheus may scrape them; everyone else,
    including the API server calling admission webhooks and internal load balancers, reaches only the
    listed ports. Egress stays open: operators need the API server and AWS APIs, and a generic egress
    deny would break them in ways a chart upgrade cannot see.
    """
    policies: list[tuple[str, Manifest]] = [
        ("allow-same-namespace", {**EVERYONE, "policyTypes": ["Ingress"],
                                  "ingress": [{"from": [{"podSelector": {}}]}]}),
        ("allow-monitoring", {**EVERYONE, "policyTypes": ["Ingress"],
                              "ingress": [{"from": _from_namespaces((MONITORING_NAMESPACE,))}]}),
    ]
    if open_ports:
        policies.append(("allow-service-ports", {**EVERYONE, "policyTypes": ["Ingress"], "ingress": [{
            "ports": [{"protocol": "TCP", "port": p} for p in open_ports]}]}))
    return [{"name": n, "spec": s} for n, s in policies]


def query_policy(namespaces: tuple[str, ...], port: int) -> Manifest:
    """{name, spec} admitting pods of `namespaces` to `port` (controllers that query Prometheus)."""
    return {"name": "allow-queries", "spec": {**EVERYONE, "policyTypes": ["Ingress"], "ingress": [{
        "from": _from_namespaces(namespaces), "ports": [{"protocol": "TCP", "port": port}]}]}}


def tracking_policies(project_label: str, port: int, monitoring_namespace: str | None,
                      db_port: int = 5432) -> list[Manifest]:
    """The MLflow namespace: clients are project namespaces (and Prometheus); MLflow reaches its database."""
    clients = [{"namespaceSelector": {"matchExpressions": [{"key": project_label, "operator": "Exists"}]}}]
    if monitoring_namespace:
        clients += _from_namespaces((monitoring_namespace,))
    policies = [*base_policies(),
                ("allow-clients", {**EVERYONE, "policyTypes": ["Ingress"], "ingress": [{
                    "from": clients, "ports": [{"protocol": "TCP", "port": port}]}]}),
                ("allow-database-egress", _egress_anywhere_but_imds(db_port))]
    return [{"name": n, "spec": s} for n, s in policies]


def project_policies(peers: PlatformPeers) -> list[Manifest]:
    """[{name, spec}] in a fixed order; the first denies all ingress and egress of every pod."""
    default_deny, *egress = base_policies()
    policies = [
        default_deny,
        ("allow-same-namespace", {**EVERYONE, "policyTypes": ["Ingress", "Egress"],
                                  "ingress": [{"from": [{"podSelector": {}}]}],
                                  "egress": [{"to": [{"podSelector": {}}]}]}),
        *egress,
    ]
    sources = peers.ingress_namespaces + ((peers.monitoring_namespace,) if peers.monitoring_namespace else ())
    if sources:
        policies.append(("allow-from-platform", {**EVERYONE, "policyTypes": ["Ingress"],
                                                 "ingress": [{"from": _from_namespaces(sources)}]}))
    if peers.tracking_namespace:
        policies.append(("allow-tracking-egress", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
            "to": _from_namespaces((peers.tracking_namespace,)),
            "ports": [{"protocol": "TCP", "port": peers.tracking_port}]}]}))
    if peers.hook_caller_namespace:
        policies.append(("allow-from-flagger", hook_target_policy(peers.hook_caller_namespace)))
    return [{"name": n, "spec": s} for n, s in policies]


def hook_target_policy(flagger_namespace: str) -> Manifest:
    """Flagger's pods may reach the project's pods labelled HOOK_TARGET_LABEL=true (its webhook targets),
    nothing else of the namespace: a Canary webhook that times out fails the analysis and rolls back."""
    return {"podSelector": {"matchLabels": {HOOK_TARGET_LABEL: "true"}}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: flagger_namespace}},
                                   "podSelector": {"matchLabels": FLAGGER_POD}}]}]}


#: The `kubernetes` Service's ClusterIP under either of EKS's default service CIDRs (CreateCluster
#: `serviceIpv4Cidr`: 10.100.0.0/16, or 172.20.0.0/16 when the VPC overlaps it; the first address is the
#: API server's Service). Flagger reaches the API server there (in-cluster config).
API_SERVER_CLUSTER_IPS = ("10.100.0.1/32", "172.20.0.1/32")
#: Never an external webhook's address: private, shared (CGNAT) and link-local ranges (instance metadata,
#: the EKS Pod Identity agent); an external name may resolve into them.
NOT_EXTERNAL = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


def flagger_egress(*, prometheus_port: int, vpc_cidr: str, allow_external: bool) -> list[Manifest]:
    """Egress of Flagger's namespace: DNS, the API server, the platform Prometheus and projects' hook pods
    (HOOK_TARGET_LABEL); external https only when the platform allows external webhooks. The URL rule alone
    is not the boundary: a hook may answer with a redirect (Flagger's client follows it) or a name may be
    re-pointed, and only this fence holds for wherever the connection really goes (never instance metadata).
    The platform sends no Flagger alerts (Alertmanager does), so no chat provider needs reaching."""
    dns, *_ = (p for n, p in base_policies() if n == "allow-dns")
    api = [{"ipBlock": {"cidr": c}} for c in (*API_SERVER_CLUSTER_IPS, vpc_cidr)]  # the control plane's ENIs
    hooks = [{"namespaceSelector": {"matchExpressions": [{"key": PROJECT_LABEL, "operator": "Exists"}]},
              "podSelector": {"matchLabels": {HOOK_TARGET_LABEL: "true"}}}]
    policies: list[tuple[str, Manifest]] = [
        ("default-deny-egress", {**EVERYONE, "policyTypes": ["Egress"]}),
        ("allow-dns", dns),
        ("allow-api-server", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
            "to": api, "ports": [{"protocol": "TCP", "port": 443}]}]}),
        ("allow-prometheus", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
            "to": _from_namespaces((MONITORING_NAMESPACE,)),
            "ports": [{"protocol": "TCP", "port": prometheus_port}]}]}),
        ("allow-project-hooks", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{"to": hooks}]}),
    ]
    if allow_external:
        policies.append(("allow-external-hooks", {**EVERYONE, "policyTypes": ["Egress"], "egress": [{
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_EXTERNAL)}}],
            "ports": [{"protocol": "TCP", "port": 443}]}]}))
    return [{"name": n, "spec": s} for n, s in policies]
