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
- or, when the platform opts in (`serving.delivery.allow_external_webhooks`), an `https` URL of an external
  DNS name (never an IP literal, never a cluster or link-local name).

The URL must match one strict shape (no user info, no IP literal, no backslash or fragment, lowercase host)
so the checks here and Flagger's Go URL parser agree on the host. An external DNS name can still resolve to
an internal address; that is why external webhooks are off by default.
"""

from __future__ import annotations

import re

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
    """Whether `url` is an https URL of an external DNS name."""
    return re.fullmatch(EXTERNAL_REGEX, url) is not None and re.search(INTERNAL_HOST_REGEX, url) is None


def url_problem(url: object, *, namespace: str, allow_external: bool) -> str | None:
    """Why Flagger must not call `url` for a Canary in `namespace`; None when it may."""
    if not isinstance(url, str):
        return "is not a string"
    if in_namespace(url, namespace) or (allow_external and is_external(url)):
        return None
    if is_external(url):
        return "is an external URL, and the platform does not allow external webhooks"
    return (f"is not a Service of namespace {namespace!r} (Flagger would call it from the platform's network "
            "position: instance metadata, the Kubernetes API and other tenants are reachable from there)")


def url_fix(namespace: str, *, allow_external: bool) -> str:
    """What a refused URL should look like."""
    own = f"http://<service>.{namespace}.svc.cluster.local[:port]/path (e.g. the Flagger loadtester " \
          f"http://flagger-loadtester.{namespace}.svc.cluster.local/)"
    if allow_external:
        return f"use {own}, or an https URL of an external DNS name (no IP address)"
    return (f"use {own}; external https hooks need the platform's "
            "serving.delivery.allow_external_webhooks: true")
