"""Authentication of a project's inference routes: one Envoy Gateway `SecurityPolicy` in the project's
namespace that selects every HTTPRoute and GRPCRoute there (KServe makes the routes at runtime, so the policy
selects by kind rather than naming them).

Upstream facts (envoyproxy/gateway v1.4.2, recorded CRD tests/fixtures/upstream/crds/gateway.envoyproxy.io/
securitypolicy_v1alpha1.json): `targetSelectors[].kind` with no labels selects every route of that kind in the
policy's namespace (internal/gatewayapi/helpers.go: an empty label selector matches everything); `apiKeyAuth`
reads keys from Opaque Secrets whose each key is a client id and whose value is that client's API key,
taken from the request header given in `extractFrom`; `jwt.providers[].remoteJWKS.uri` fetches the IdP's keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from mlops_platform.config.sections_serving import InferenceAuthMode
from mlops_platform.core.errors import ConfigError, ConfigIssue
from mlops_platform.k8s.manifests import meta
from mlops_platform.k8s.provider import k8s_opts

POLICY_NAME = "inference-auth"
API_KEYS_SECRET = "inference-api-keys"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")


_HEADER = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True, kw_only=True)
class InferenceAuthSettings:
    """How an environment's inference routes authenticate (`serving.auth`), the same for every project;
    checked when built (the stack config's rules say the same to users first)."""

    mode: InferenceAuthMode
    """api_key or jwt. Required."""
    api_key_header: str = "x-api-key"
    """Header carrying the API key (api_key): lower-case letters, digits and '-'. Default: x-api-key."""
    jwt_issuer: str = ""
    """The IdP's issuer (jwt: required, https). Default: ''."""
    jwt_jwks_uri: str = ""
    """The IdP's JWKS endpoint (jwt: required, https). Default: ''."""
    jwt_audiences: tuple[str, ...] = ()
    """Accepted audiences (jwt). Default: none (any)."""

    def __post_init__(self) -> None:
        if issues := settings_issues(self):
            raise ConfigError(issues)


def settings_issues(s: InferenceAuthSettings) -> list[ConfigIssue]:
    """Every problem of the settings at once, named like the stack config's `serving.auth` fields."""
    out: list[ConfigIssue] = []
    if not isinstance(s.mode, InferenceAuthMode):
        out.append(ConfigIssue("serving.auth.mode", "unknown mode", s.mode, "api_key or jwt"))
    elif s.mode is InferenceAuthMode.API_KEY and not _HEADER.match(s.api_key_header):
        out.append(ConfigIssue("serving.auth.api_key_header", "not a header name", s.api_key_header,
                               "lower-case letters, digits and '-', e.g. x-api-key"))
    elif s.mode is InferenceAuthMode.JWT:
        out += [ConfigIssue(f"serving.auth.{f}", "must be an https:// URL when mode is jwt", getattr(s, f),
                            "set the identity provider's URL") for f in ("jwt_issuer", "jwt_jwks_uri")
                if not getattr(s, f).startswith("https://")]
    return out


@dataclass(frozen=True, kw_only=True)
class InferenceAuthArgs:
    """Arguments of `InferenceAuth`: one project's namespace and the environment's settings."""

    namespace: str
    """The project's namespace (a DNS label). Required."""
    settings: InferenceAuthSettings
    """The environment's `serving.auth`. Required."""
    provider: k8s.Provider
    """Kubernetes provider of the cluster. Required."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """What must exist first (the namespace). Default: none."""

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise ConfigError([ConfigIssue("namespace", "not a Kubernetes namespace name", self.namespace,
                                           "the project's namespace: a DNS label of at most 63 characters")])


_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def route_selectors() -> list[dict[str, Any]]:
    """Every HTTPRoute and GRPCRoute of the policy's namespace."""
    return [{"group": "gateway.networking.k8s.io", "kind": kind} for kind in ROUTE_KINDS]


def api_key_auth(header: str) -> dict[str, Any]:
    return {"apiKeyAuth": {"credentialRefs": [{"group": "", "kind": "Secret", "name": API_KEYS_SECRET}],
                           "extractFrom": [{"headers": [header]}]}}


def jwt_auth(s: InferenceAuthSettings) -> dict[str, Any]:
    provider: dict[str, Any] = {"name": "idp", "issuer": s.jwt_issuer, "remoteJWKS": {"uri": s.jwt_jwks_uri}}
    if s.jwt_audiences:
        provider["audiences"] = list(s.jwt_audiences)
    return {"jwt": {"providers": [provider]}}


def security_policy_spec(s: InferenceAuthSettings) -> dict[str, Any]:
    auth = api_key_auth(s.api_key_header) if s.mode is InferenceAuthMode.API_KEY else jwt_auth(s)
    return {"targetSelectors": route_selectors(), **auth}


class InferenceAuth(pulumi.ComponentResource):
    """The project's SecurityPolicy (`<name>-policy`) and, with API keys, its generated key (`<name>-key`) in
    the Secret `inference-api-keys` (`<name>-keys`): client id = the namespace. The key lives only in Pulumi's
    encrypted state and that Secret; nothing exports it."""

    def __init__(self, name: str, args: InferenceAuthArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:k8s:InferenceAuth", name, None, opts)
        kopts = k8s_opts(self, args.provider, list(args.depends_on))
        after = list(args.depends_on)
        if args.settings.mode is InferenceAuthMode.API_KEY:
            key = random.RandomPassword(f"{name}-key", length=48, special=False,
                                        opts=pulumi.ResourceOptions(parent=self))
            after.append(k8s.core.v1.Secret(
                f"{name}-keys", metadata=meta(API_KEYS_SECRET, args.namespace), type="Opaque",
                string_data={args.namespace: key.result}, opts=kopts))
        k8s.apiextensions.CustomResource(
            f"{name}-policy", api_version="gateway.envoyproxy.io/v1alpha1", kind="SecurityPolicy",
            metadata=meta(POLICY_NAME, args.namespace), spec=security_policy_spec(args.settings),
            opts=k8s_opts(self, args.provider, after))
        self.register_outputs({"policy": POLICY_NAME})
