"""Which URLs a project may give Flagger as Canary webhooks: pure, shared by the config checks
(k8s.delivery), the admission policy (k8s.metric_isolation, as CEL) and the review policy
(policy.rules.delivery_webhooks).

Flagger calls every `spec.analysis.webhooks[].url` of a Canary from its own pod in `flagger-system`
(docs.flagger.app/usage/webhooks: confirm-rollout, pre-rollout, rollout, confirm-traffic-increase,
confirm-promotion, post-rollout, rollback and event hooks; each is an HTTP POST whose status decides the
step). A tenant who picks the URL picks what a platform pod calls: the instance metadata service
(169.254.169.254, fd00:ec2::254), the EKS Pod Identity agent (169.254.170.23), loopback, the Kubernetes API
(`kubernetes.default.svc`) or another tenant's Services (SSRF). So a URL is allowed only when it is

- a Service of the project's own namespace by its cluster name, `http(s)://<service>.<namespace>.svc[.cluster.local]`
  (the Flagger loadtester too: Flagger's docs install it in the application's namespace). The short form
  `<service>.<namespace>` of Flagger's examples is refused: when no such Service exists the resolver's
  search list falls through to public DNS, and a namespace named like a top-level domain (`io`) would make
  it an external name;
- or an `https` URL whose host is exactly one of the platform's `serving.delivery.allow_external_webhook_hosts`
  (empty by default: no external webhooks). A list, not a switch: Flagger's pod resolves names through the
  cluster resolver, whose search list (`<ns>.svc.cluster.local svc.cluster.local cluster.local`, ndots:5)
  completes a short name like `kubernetes.default` or `grafana.monitoring` into an in-cluster Service, so no
  shape rule tells an external name from an internal one. Each listed host is checked once, at config time
  (host_problem: a public FQDN whose last label is no cluster or namespace name).

The URL must match one strict shape (no user info, no IP literal, no backslash or fragment, lowercase host)
so the checks here and Flagger's Go URL parser agree on the host. A listed external name can still resolve to
an internal address (its owner controls its DNS); that is why the list is empty by default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence

#: A Service name (DNS-1035 label: starts with a letter, so never part of an IP literal).
SERVICE = r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?"
#: A character of a path or query: printable ASCII (`!`..`~`) but quotes, `<`, `>`, a backslash and the
#: fragment's `#`. Written as explicit ranges, never `\s` or a negated class: Python's `\s` matches `\x0b`
#: and Unicode blanks where RE2's (the CEL copy) does not, and a negated class would admit control
#: characters and quotes (a URL pasted into a generated program's string literal must not close it).
PATH_CHAR = r"[!$-&(-;=?-\[\]-~]"
#: Port, then path and query (Flagger sends no fragment).
_TAIL = rf"(:[0-9]{{1,5}})?([/?]{PATH_CHAR}*)?"
#: An external DNS name: two or more labels, the last alphabetic (so never an IPv4 literal; `[` of an IPv6
#: literal and `@` of user info are outside the character set).
EXTERNAL_HOST = r"([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
#: Name suffixes that are never external: cluster DNS, mDNS/private zones and EC2's internal names.
INTERNAL_SUFFIXES = (".svc", ".cluster.local", ".local", ".internal", ".localhost", ".localdomain", ".arpa")
#: Last labels the cluster resolver's search list completes into a cluster name (`<x>.default` →
#: `<x>.default.svc.cluster.local`, `<x>.svc` → `<x>.svc.cluster.local`); namespaces are added by the caller.
CLUSTER_LABELS = frozenset({"default", "svc", "pod", "cluster", "local", "localhost", "localdomain", "internal"})


def in_cluster_regex(namespace_regex: str) -> str:
    """RE2/Python regex of a URL of a Service in the namespace `namespace_regex` matches (a literal name, or a
    CEL string concatenation the caller builds)."""
    return rf"^https?://{SERVICE}\.{namespace_regex}\.svc(\.cluster\.local)?{_TAIL}$"


EXTERNAL_REGEX = rf"^https://{EXTERNAL_HOST}{_TAIL}$"
#: A URL whose host ends in one of INTERNAL_SUFFIXES.
INTERNAL_HOST_REGEX = rf"^https?://[^/:?]*({'|'.join(re.escape(s) for s in INTERNAL_SUFFIXES)})([/:?]|$)"


def in_namespace(url: str, namespace: str) -> bool:
    """Whether `url` names a Service of `namespace` in the one shape allowed."""
    # fullmatch: Python's `$` also matches before a final newline, RE2's (the CEL copy) does not
    return re.fullmatch(in_cluster_regex(re.escape(namespace)), url) is not None


def is_external(url: str) -> bool:
    """Whether `url` has the shape of an https URL of an external DNS name (listed or not)."""
    return re.fullmatch(EXTERNAL_REGEX, url) is not None and re.search(INTERNAL_HOST_REGEX, url) is None


def host_problem(host: object, *, namespaces: Collection[str]) -> str | None:
    """Why `host` may not be listed in `serving.delivery.allow_external_webhook_hosts`; None when it is a public
    FQDN. `namespaces`: the cluster's namespaces (platform and projects), each a name the resolver's search
    list would complete (`hooks.monitoring` → `hooks.monitoring.svc.cluster.local`)."""
    if not isinstance(host, str):
        return "is not a string"
    try:
        ipaddress.ip_address(host.strip("[]"))
        return "is an IP address"
    except ValueError:
        pass
    if host != host.lower():
        return "is not lowercase"
    if len(host) > 253 or re.fullmatch(EXTERNAL_HOST, host) is None:
        return ("is not a DNS name of two or more labels (letters, digits, inner hyphens; at most 63 characters "
                "each) ending in an alphabetic label of two or more letters")
    last = host.rsplit(".", 1)[-1]
    if host.endswith((*INTERNAL_SUFFIXES, ".home.arpa")):
        return "is a cluster, private-zone or link-local name"
    if last in CLUSTER_LABELS or last in namespaces:
        return (f"ends in {last!r}, which the cluster resolver's search list completes into an in-cluster name "
                "(a namespace or the cluster domain)")
    return None


#: An https URL of a listed host: LISTED_HEAD + `host` with each `.` written `[.]` + LISTED_TAIL (hosts passed
#: host_problem: letters, digits, `-` and `.` only, so `[.]` is the one regex character; no escape a CEL
#: string could mangle).
LISTED_HEAD = "^https://("
LISTED_TAIL = rf"){_TAIL}$"


def _plain_hosts(hosts: Sequence[str]) -> list[str]:
    """The hosts made only of letters, digits, `-` and `.`: a review reads its list from policy config or stack
    outputs, which host_problem never saw, and a regex character there would widen (or break) the match."""
    return [h for h in hosts if re.fullmatch(r"[a-z0-9.-]+", h)]


def external_host_regex(hosts: Sequence[str]) -> str:
    """RE2/Python regex of an https URL whose host is exactly one of `hosts`."""
    return LISTED_HEAD + "|".join(h.replace(".", "[.]") for h in _plain_hosts(hosts)) + LISTED_TAIL


def is_listed_external(url: str, hosts: Sequence[str]) -> bool:
    """Whether `url` is an https URL of exactly one of `hosts` (no subdomain of them)."""
    return bool(_plain_hosts(hosts)) and re.fullmatch(external_host_regex(hosts), url) is not None


def url_problem(url: object, *, namespace: str, external_hosts: Sequence[str] = ()) -> str | None:
    """Why Flagger must not call `url` for a Canary in `namespace`; None when it may."""
    if not isinstance(url, str):
        return "is not a string"
    if in_namespace(url, namespace) or is_listed_external(url, external_hosts):
        return None
    if is_external(url) or re.fullmatch(rf"^https?://{EXTERNAL_HOST}{_TAIL}$", url):
        listed = ", ".join(external_hosts) or "none"
        return (f"is not a Service of namespace {namespace!r}, and its host is not one of the platform's "
                f"external webhook hosts ({listed}); a short name like kubernetes.default or <service>.<namespace> "
                "resolves inside the cluster")
    return (f"is not a Service of namespace {namespace!r} (Flagger would call it from the platform's network "
            "position: instance metadata, the Kubernetes API and other tenants are reachable from there)")


def url_fix(namespace: str, *, external_hosts: Sequence[str] = ()) -> str:
    """What a refused URL should look like."""
    own = f"http://<service>.{namespace}.svc.cluster.local[:port]/path (e.g. the Flagger loadtester " \
          f"http://flagger-loadtester.{namespace}.svc.cluster.local/)"
    if external_hosts:
        return f"use {own}, or https://<host>[:port]/path with <host> one of {', '.join(external_hosts)}"
    return (f"use {own}; an external https hook needs its host listed in the platform's "
            "serving.delivery.allow_external_webhook_hosts")
