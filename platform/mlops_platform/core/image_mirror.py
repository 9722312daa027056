"""Where an air-gapped cluster pulls each upstream image from: the account's ECR, by pull-through cache or by
an operator's copy.

- Registries ECR can cache (`PULL_THROUGH_UPSTREAMS`) get a pull-through cache rule each: the first pull of
  `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<path>:<tag>` fetches `<upstream>/<path>:<tag>` into a
  repository ECR creates. Upstream URLs and default prefixes: Amazon ECR API Reference,
  CreatePullThroughCacheRule `upstreamRegistryUrl`; pull syntax: ECR User Guide
  pull-through-cache-working-pulling.html. Docker Hub and GitHub Container Registry need a Secrets Manager
  credential whose name starts with `ecr-pullthroughcache/` (ECR User Guide, pull-through-cache-creating-rule.html).
- Anything else (nvcr.io, gcr.io, ...) maps to `<account ECR>/mirror/<path>`: a platform repository an
  operator fills with `mlplat mirror ENV` before `pulumi up` (nothing in ECR can fetch it).

Pure functions: no AWS, no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The prefix of every repository an operator fills by hand (core/versions.py MIRRORED_IMAGES uses it too).
MANUAL_PREFIX = "mirror"
#: Docker Hub's registry host as image references spell it (and its implicit namespace of official images).
DOCKER_HUB = "docker.io"


@dataclass(frozen=True, kw_only=True)
class Upstream:
    """A registry ECR pull-through cache supports."""

    host: str
    """Host as image references name it, e.g. `quay.io`."""
    prefix: str
    """ECR repository prefix of its cache rule (the console's default namespace)."""
    url: str
    """`upstreamRegistryUrl` of CreatePullThroughCacheRule."""
    needs_credential: bool
    """Whether ECR needs a `ecr-pullthroughcache/` secret to pull from it."""


#: Registries the cluster layer's images come from that ECR pull-through cache supports.
PULL_THROUGH_UPSTREAMS: dict[str, Upstream] = {u.host: u for u in (
    Upstream(host="public.ecr.aws", prefix="ecr-public", url="public.ecr.aws", needs_credential=False),
    Upstream(host="registry.k8s.io", prefix="k8s", url="registry.k8s.io", needs_credential=False),
    Upstream(host="quay.io", prefix="quay", url="quay.io", needs_credential=False),
    Upstream(host="ghcr.io", prefix="github", url="ghcr.io", needs_credential=True),
    Upstream(host=DOCKER_HUB, prefix="docker-hub", url="registry-1.docker.io", needs_credential=True),
)}


@dataclass(frozen=True)
class ImageRef:
    """An image reference split the way registries see it (`docker.io` and `library/` made explicit)."""

    host: str
    path: str
    suffix: str
    """`:tag`, `@sha256:...`, `:tag@sha256:...` or ''."""

    def __str__(self) -> str:
        return f"{self.host}/{self.path}{self.suffix}"


def parse_image(ref: str) -> ImageRef:
    """`nats:2.10` → docker.io/library/nats:2.10; `quay.io/a/b@sha256:..` keeps its digest. A first segment
    with a dot or colon (or `localhost`) is a registry host, as Docker reads references."""
    name, at, digest = ref.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    tag = name[colon:] if colon > last_slash else ""
    name = name[: len(name) - len(tag)]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = DOCKER_HUB, name
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(host, path, tag + (at + digest if at else ""))


#: Longest `ecrRepositoryPrefix` ECR accepts (API Reference, CreatePullThroughCacheRule: length 2-30).
MAX_PREFIX_LENGTH = 30


@dataclass(frozen=True)
class Mirror:
    """The account's registry as an environment's air-gapped cluster pulls from it. Every repository is under
    the environment's namespace (its cluster name, like `naming.ecr_repository`), so two environments of one
    account never share a cache rule or a repository."""

    registry: str
    """`<account>.dkr.ecr.<region>.amazonaws.com`."""
    namespace: str
    """The environment's cluster name."""

    def prefix(self, upstream: Upstream) -> str:
        """Repository prefix of an upstream's pull-through cache rule."""
        return f"{self.namespace}/{upstream.prefix}"

    def repository(self, ref: str) -> str:
        """The repository an image has in the account's ECR: under its cache rule's prefix, or under
        `<namespace>/mirror/` when an operator copies it."""
        parsed = parse_image(ref)
        upstream = PULL_THROUGH_UPSTREAMS.get(parsed.host)
        prefix = self.prefix(upstream) if upstream else f"{self.namespace}/{MANUAL_PREFIX}"
        return f"{prefix}/{parsed.path}"

    def image(self, ref: str) -> str:
        """`ref` as pulled from the account's registry (a reference already there stays as it is)."""
        if is_in_registry(ref, self.registry):
            return ref
        return f"{self.registry}/{self.repository(ref)}{parse_image(ref).suffix}"


def needs_manual_copy(ref: str) -> bool:
    """Whether no pull-through cache can serve the image (an operator copies it with `mlplat mirror`)."""
    return parse_image(ref).host not in PULL_THROUGH_UPSTREAMS


def ecr_registry(account_id: str, region: str) -> str:
    """The account's private registry host."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com"


def is_in_registry(ref: str, registry: str) -> bool:
    """Whether a reference names the given registry (what an air-gapped node can pull)."""
    return ref.startswith(f"{registry}/")
