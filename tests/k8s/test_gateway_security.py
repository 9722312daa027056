"""The models' gateway: HTTPS per project on its own Gateway, all merged onto one Envoy fleet (cert-manager or
ACM), HTTP only redirects, inference routes authenticate in staging and prod, routes reach only their own
namespace.

Upstream facts relied on (recorded CRD schemas under tests/fixtures/upstream/crds, sources in its README):
- Gateway API v1.3.0 `Listener.tls.certificateRefs` (a Secret in the Gateway's namespace needs no
  ReferenceGrant), `AllowedRoutes.namespaces.from: Same | Selector`, `HTTPRouteFilter` `RequestRedirect`
  (scheme https with no port → the scheme's port, 443): https://gateway-api.sigs.k8s.io/reference/spec/.
- cert-manager v1.17.2: a ClusterIssuer's `ca.secretName` is read from the cluster resource namespace (the
  controller's own namespace by default); wildcards need an ACME DNS-01 solver
  (https://cert-manager.io/docs/configuration/ca/, https://cert-manager.io/docs/configuration/acme/dns01/).
- Envoy Gateway v1.4.2 SecurityPolicy `apiKeyAuth`, `jwt`, `targetSelectors` (inference_auth.py docstring).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import celpy
import jsonschema
import pytest
from mlops_platform.aws.service_roles import route53_statements
from mlops_platform.config import PlatformConfig, repo_root, stack_file_for
from mlops_platform.config.sections import CertificateSource, InferenceAuthMode
from mlops_platform.core import iam
from mlops_platform.core.errors import ConfigError
from mlops_platform.engine import Plan, Resource, run_platform
from mlops_platform.engine.recorder import SECRET
from mlops_platform.k8s.gateway_tls import (
    GatewayTlsArgs,
    acm_annotations,
    acme_issuer_spec,
)
from mlops_platform.k8s.inference_auth import InferenceAuthArgs, InferenceAuthSettings, security_policy_spec
from mlops_platform.k8s.lb_controller import envoy_proxy_spec
from mlops_platform.k8s.project_gateway import CERTIFICATE_SECRET, project_gateway_spec, project_listener
from mlops_platform.k8s.route_isolation import backend_expression
from mlops_platform.k8s.serving import cert_manager_values, gateway_class_spec, gateway_spec, kserve_values
from mlops_platform.programs.cluster_layer import serving_tls
from mlops_platform.programs.tenants_layer import physical_name
from mlops_platform.workflows.review import Subject, platform_config, resolve_waivers, review
from ruamel.yaml import YAML

from .cel_rules import cel_report
from .crds import manifest
from .planview import k8s_of
from .test_upstream_fixtures import as_sent
from .upstream import VALUES_DIR, crd_validator

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
ISSUER = "kubernetes:cert-manager.io/v1:ClusterIssuer"
SECURITY_POLICY = "kubernetes:gateway.envoyproxy.io/v1alpha1:SecurityPolicy"
ENVOY_PROXY = "kubernetes:gateway.envoyproxy.io/v1alpha1:EnvoyProxy"
#: Plan type → recorded schema (group, kind, version) of every gateway-security object the platform plans.
SCHEMAS = {GATEWAY: ("gateway.networking.k8s.io", "Gateway", "v1"),
           "kubernetes:gateway.networking.k8s.io/v1:GatewayClass": ("gateway.networking.k8s.io", "GatewayClass", "v1"),
           ROUTE: ("gateway.networking.k8s.io", "HTTPRoute", "v1"),
           CERTIFICATE: ("cert-manager.io", "Certificate", "v1"), ISSUER: ("cert-manager.io", "ClusterIssuer", "v1"),
           SECURITY_POLICY: ("gateway.envoyproxy.io", "SecurityPolicy", "v1alpha1"),
           ENVOY_PROXY: ("gateway.envoyproxy.io", "EnvoyProxy", "v1alpha1")}
DOMAIN = "models.example.internal"
ACM_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0123-4567-89ab-0123456789ab"


def schema_errors(kind: tuple[str, str, str], obj: dict[str, Any]) -> list[str]:
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in crd_validator(*kind).iter_errors(as_sent(obj))]


def custom(kind: tuple[str, str, str], spec: dict[str, Any], namespace: str = "kserve") -> dict[str, Any]:
    group, name, version = kind
    return {"apiVersion": f"{group}/{version}", "kind": name, "metadata": {"name": "x", "namespace": namespace},
            "spec": spec}


def tls_args(source: CertificateSource, **extra: Any) -> GatewayTlsArgs:
    return GatewayTlsArgs(source=source, domain=DOMAIN, cert_manager_namespace="cert-manager", **extra)


def one(plan: Plan, type_: str, name: str) -> Resource:
    found = [r for r in k8s_of(plan, type_) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}"
    return found[0]


# ------------------------------------------------------------------ published schemas
def test_every_planned_gateway_security_object_validates_against_its_published_schema(plan: Plan) -> None:
    found = [r for t in SCHEMAS for r in k8s_of(plan, t)]
    assert {r.type for r in found} >= set(SCHEMAS) - {SECURITY_POLICY}
    for res in found:
        assert schema_errors(SCHEMAS[res.type], manifest(res)) == [], res.name


def cel_problems(kind: tuple[str, str, str], obj: dict[str, Any]) -> tuple[list[str], int]:
    """(violations and unevaluable rules, rules evaluated) of the CRD's CEL rules over `obj`."""
    report = cel_report(crd_validator(*kind).schema, as_sent(obj))
    return report.violations + report.unevaluated, report.evaluated


def test_every_planned_gateway_security_object_passes_the_crds_cel_rules(plan: Plan) -> None:
    """The rules the API server evaluates beyond the schema (x-kubernetes-validations), e.g. Gateway API v1.3.0:
    HTTP listeners carry no tls, a Terminate listener has certificateRefs, listener names and port/protocol/
    hostname combinations are unique; SecurityPolicy: targetRefs or targetSelectors."""
    evaluated = 0
    for type_, kind in SCHEMAS.items():
        for res in k8s_of(plan, type_):
            problems, count = cel_problems(kind, manifest(res))
            assert problems == [], res.name
            evaluated += count
    assert evaluated >= 40


def test_the_cel_rules_do_catch_a_broken_gateway() -> None:
    """Control: an HTTPS listener without certificates, and a repeated listener, are refused."""
    spec = project_gateway_spec("fraud", DOMAIN, CertificateSource.PLATFORM_CA)
    spec["listeners"].append(dict(spec["listeners"][0]))
    spec["listeners"][0]["tls"] = {"mode": "Terminate", "certificateRefs": []}
    problems, _ = cel_problems(SCHEMAS[GATEWAY], custom(SCHEMAS[GATEWAY], spec, "fraud"))
    assert len(problems) >= 2, problems


@pytest.mark.parametrize("source", list(CertificateSource))
def test_gateway_and_proxy_of_every_certificate_source_validate(source: CertificateSource) -> None:
    args = tls_args(source, acm_certificate_arns=(ACM_ARN,))
    for gateway in (custom(SCHEMAS[GATEWAY], gateway_spec(args)),
                    custom(SCHEMAS[GATEWAY], project_gateway_spec("fraud", DOMAIN, source), "fraud")):
        assert schema_errors(SCHEMAS[GATEWAY], gateway) == []
        assert cel_problems(SCHEMAS[GATEWAY], gateway)[0] == []
    proxy = custom(SCHEMAS[ENVOY_PROXY], envoy_proxy_spec(acm_annotations(args)), "envoy-gateway-system")
    assert schema_errors(SCHEMAS[ENVOY_PROXY], proxy) == []
    assert cel_problems(SCHEMAS[ENVOY_PROXY], proxy)[0] == []


def test_the_acme_issuer_validates_and_solves_dns01_in_the_configured_zone() -> None:
    args = tls_args(CertificateSource.ACME, region="eu-west-1", acme_email="pki@example.com",
                    acme_server="https://acme-staging-v02.api.letsencrypt.org/directory",
                    acme_hosted_zone_id="Z0123456789ABC")
    spec = acme_issuer_spec(args)
    assert schema_errors(SCHEMAS[ISSUER], custom(SCHEMAS[ISSUER], spec)) == []
    assert spec["acme"]["solvers"] == [{"selector": {"dnsZones": [DOMAIN]}, "dns01": {"route53": {
        "region": "eu-west-1", "hostedZoneID": "Z0123456789ABC"}}}]


@pytest.mark.parametrize("mode", list(InferenceAuthMode))
def test_security_policies_of_both_modes_validate(mode: InferenceAuthMode) -> None:
    settings = InferenceAuthSettings(mode=mode, jwt_issuer="https://idp.example.com",
                                     jwt_jwks_uri="https://idp.example.com/jwks", jwt_audiences=("models",))
    spec = security_policy_spec(settings)
    assert schema_errors(SCHEMAS[SECURITY_POLICY], custom(SCHEMAS[SECURITY_POLICY], spec, "fraud")) == []
    assert cel_problems(SCHEMAS[SECURITY_POLICY], custom(SCHEMAS[SECURITY_POLICY], spec, "fraud"))[0] == []
    assert ("apiKeyAuth" in spec) is (mode is InferenceAuthMode.API_KEY)


def test_inference_auth_args_are_valid_when_built() -> None:
    """No placeholder namespace and no half-configured mode reach the component: each is refused, named."""
    both = r"(?s)serving\.auth\.jwt_issuer: must be an https.*serving\.auth\.jwt_jwks_uri"
    with pytest.raises(ConfigError, match=both):
        InferenceAuthSettings(mode=InferenceAuthMode.JWT)
    with pytest.raises(ConfigError, match=r"serving\.auth\.api_key_header: not a header name"):
        InferenceAuthSettings(mode=InferenceAuthMode.API_KEY, api_key_header="X Api Key")
    settings = InferenceAuthSettings(mode=InferenceAuthMode.API_KEY)
    for bad in ("", "Fraud", "-fraud", "a" * 64):
        with pytest.raises(ConfigError, match="namespace: not a Kubernetes namespace name"):
            InferenceAuthArgs(namespace=bad, settings=settings, provider=None)  # type: ignore[arg-type]
    assert InferenceAuthArgs(namespace="fraud", settings=settings, provider=None).namespace == "fraud"  # type: ignore[arg-type]


# ------------------------------------------------------------------ HTTPS and the redirect
def test_each_project_has_its_own_gateway_and_certificate_in_its_namespace(plan: Plan, cfg: PlatformConfig) -> None:
    domain, namespaces = cfg.serving.ingress_domain, {physical_name(p) for p in cfg.projects}
    gateways = {g.inputs["metadata"]["namespace"]: g.inputs["spec"] for g in k8s_of(plan, GATEWAY)
                if g.inputs["metadata"]["name"] == "models"}
    certs = {c.inputs["metadata"]["namespace"]: c.inputs["spec"] for c in k8s_of(plan, CERTIFICATE)
             if c.inputs["spec"].get("secretName") == CERTIFICATE_SECRET}
    assert set(gateways) == set(certs) == namespaces
    for ns in namespaces:
        [https] = gateways[ns]["listeners"]
        assert gateways[ns]["gatewayClassName"] == "mlops-models"
        assert (https["protocol"], https["port"], https["hostname"]) == ("HTTPS", 443, f"*.{ns}.{domain}")
        assert https["allowedRoutes"] == {"namespaces": {"from": "Same"}}
        assert https["tls"]["certificateRefs"] == [{"group": "", "kind": "Secret", "name": CERTIFICATE_SECRET}]
        assert certs[ns]["dnsNames"] == [f"*.{ns}.{domain}"]
        assert certs[ns]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer",
                                          "name": "mlops-platform-ca"}


def test_the_cluster_layer_gateway_has_no_project_listener_and_all_gateways_merge(plan: Plan) -> None:
    """Envoy Gateway v1.4 "Merged Gateways onto a single EnvoyProxy fleet": with `mergeGateways` every Gateway
    of the class shares one Envoy fleet and Service (one NLB); (port, protocol, hostname) must be unique across
    the merged listeners, and only the platform Gateway listens on port 80."""
    platform = one(plan, GATEWAY, "kserve-ingress-gateway").inputs["spec"]
    assert [li["name"] for li in platform["listeners"]] == ["http"]
    assert not [c for c in k8s_of(plan, CERTIFICATE) if c.inputs["metadata"]["namespace"] == "kserve"]
    [proxy] = k8s_of(plan, ENVOY_PROXY)
    assert proxy.inputs["spec"]["mergeGateways"] is True
    merged = [(li["port"], li["protocol"], li.get("hostname")) for g in k8s_of(plan, GATEWAY)
              for li in g.inputs["spec"]["listeners"]]
    assert len(merged) == len(set(merged))
    assert [t for t in merged if t[0] == 80] == [(80, "HTTP", platform["listeners"][0]["hostname"])]


def test_the_platform_ca_is_a_self_signed_root_whose_key_stays_in_cert_managers_namespace(plan: Plan) -> None:
    root = one(plan, CERTIFICATE, "mlops-platform-root-ca").inputs
    assert root["metadata"]["namespace"] == "cert-manager"
    assert root["spec"]["isCA"] is True and root["spec"]["issuerRef"]["name"] == "mlops-selfsigned"
    assert one(plan, ISSUER, "mlops-selfsigned").inputs["spec"] == {"selfSigned": {}}
    ca = one(plan, ISSUER, "mlops-platform-ca")
    assert ca.inputs["spec"] == {"ca": {"secretName": "mlops-platform-root-ca"}}
    by_urn = plan.by_urn()
    assert any(by_urn[d].type == CERTIFICATE for d in ca.dependencies), "the CA issuer waits for its root"


def test_port_80_only_redirects_to_https(plan: Plan, cfg: PlatformConfig) -> None:
    route = one(plan, ROUTE, "https-redirect").inputs
    assert route["metadata"]["namespace"] == "kserve"
    assert route["spec"]["parentRefs"] == [{"name": "kserve-ingress-gateway", "sectionName": "http"}]
    assert route["spec"]["rules"] == [{"filters": [{"type": "RequestRedirect", "requestRedirect": {
        "scheme": "https", "statusCode": 301.0}}]}]
    http = one(plan, GATEWAY, "kserve-ingress-gateway").inputs["spec"]["listeners"][0]
    assert (http["name"], http["port"], http["allowedRoutes"]) == ("http", 80, {"namespaces": {"from": "Same"}})


def test_with_acm_the_nlb_terminates_tls_and_cert_manager_issues_nothing_for_the_gateway() -> None:
    args = tls_args(CertificateSource.ACM, acm_certificate_arns=(ACM_ARN,))
    listener = project_listener("fraud", DOMAIN, CertificateSource.ACM)
    assert (listener["port"], listener["protocol"]) == (443, "HTTP") and "tls" not in listener
    annotations = envoy_proxy_spec(acm_annotations(args))["provider"]["kubernetes"]["envoyService"]["annotations"]
    prefix = "service.beta.kubernetes.io/aws-load-balancer-"
    assert annotations[f"{prefix}ssl-cert"] == ACM_ARN and annotations[f"{prefix}ssl-ports"] == "443"


def test_with_acme_cert_managers_values_carry_its_role_and_pass_the_charts_own_schema() -> None:
    """cert-manager v1.17.2 values.schema.json (recorded): `serviceAccount.annotations` is a string map; Helm
    rejects values outside the schema. ClusterIssuers use the controller's ambient (IRSA) credentials."""
    schema = json.loads((VALUES_DIR / "schemas" / "cert-manager-v1.17.2.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    values = cert_manager_values("arn:aws:iam::123456789012:role/mlops-prod-cert-manager-dns01")
    assert [e.message for e in validator.iter_errors(values)] == []
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/mlops-prod-cert-manager-dns01"}
    assert cert_manager_values(None) == {"crds": {"enabled": True}}


def test_cert_managers_dns01_role_changes_only_acme_challenge_txt_records_of_its_zone() -> None:
    by_action = {s["Action"][0]: s for s in route53_statements("Z0123456789ABC")}
    change = by_action["route53:ChangeResourceRecordSets"]
    assert change["Resource"] == ["arn:aws:route53:::hostedzone/Z0123456789ABC"]
    assert change["Condition"]["ForAllValues:StringEquals"] == {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}


# ------------------------------------------------------------------ authentication
def test_staging_and_prod_projects_authenticate_and_dev_opts_out(plan: Plan, cfg: PlatformConfig) -> None:
    policies = {r.inputs["metadata"]["namespace"]: r.inputs for r in k8s_of(plan, SECURITY_POLICY)}
    if not cfg.inference_auth_required:
        assert cfg.tier == "dev" and policies == {}
        return
    assert set(policies) == {physical_name(p) for p in cfg.projects}
    for policy in policies.values():
        assert policy["spec"]["targetSelectors"] == [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
                                                     {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}]
        assert policy["spec"]["apiKeyAuth"]["credentialRefs"] == [
            {"group": "", "kind": "Secret", "name": "inference-api-keys"}]


def test_api_keys_live_only_in_a_secret_never_in_plain_inputs_or_outputs(plan: Plan, cfg: PlatformConfig) -> None:
    secrets = [r for r in k8s_of(plan, "kubernetes:core/v1:Secret")
               if r.inputs["metadata"]["name"] == "inference-api-keys"]
    assert len(secrets) == (len(cfg.projects) if cfg.inference_auth_required else 0)
    for secret in secrets:
        assert secret.inputs["stringData"] == SECRET
    assert "inference-api-keys" not in repr(plan.outputs) and "apiKey" not in repr(plan.outputs)


# ------------------------------------------------------------------ route isolation (admission)
def admits(route: dict[str, Any], namespace: str = "fraud") -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(backend_expression()))
    return bool(program.evaluate({"object": celpy.json_to_cel(route),
                                  "namespaceObject": celpy.json_to_cel({"metadata": {"name": namespace}})}))


def rules(*rule: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"rules": list(rule)}}


MIRROR_TO_RISK = {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "m", "namespace": "risk"}}}


@pytest.mark.parametrize(("route", "admitted"), [
    (rules({"backendRefs": [{"name": "model", "port": 80}]}), True),
    (rules({"backendRefs": [{"name": "model", "namespace": "fraud", "port": 80}]}), True),
    ({"spec": {}}, True), (rules({"filters": [{"type": "RequestRedirect"}]}), True),
    (rules({"backendRefs": [{"name": "model", "namespace": "risk", "port": 80}]}), False),
    (rules({"backendRefs": [{"name": "a"}]}, {"backendRefs": [{"name": "b", "namespace": "kserve"}]}), False),
    (rules({"backendRefs": [{"name": "a"}], "filters": [MIRROR_TO_RISK]}), False),
    (rules({"backendRefs": [{"name": "a", "filters": [MIRROR_TO_RISK]}]}), False),
])
def test_the_admission_policy_keeps_backends_in_the_routes_namespace(route: dict[str, Any], admitted: bool) -> None:
    assert admits(route) is admitted


def test_no_reference_grant_is_planned_and_the_backend_policy_binds_to_projects(plan: Plan) -> None:
    assert not [r for r in plan.resources if r.type.endswith(":ReferenceGrant")]
    binding = one(plan, "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
                  "mlops-route-backends").inputs["spec"]
    assert binding["validationActions"] == ["Deny"]
    assert binding["matchResources"]["namespaceSelector"] == {"matchExpressions": [
        {"key": "mlops.io/project", "operator": "Exists"}]}


def test_serving_tls_follows_the_config(cfg: PlatformConfig) -> None:
    tls = serving_tls(cfg)
    assert tls.source is cfg.serving.tls.source and tls.domain == cfg.serving.ingress_domain
    assert gateway_class_spec()["parametersRef"]["kind"] == "EnvoyProxy"
    # KServe reports the model's URL with the only scheme the gateway serves it on
    assert kserve_values(DOMAIN)["kserve"]["controller"]["gateway"]["urlScheme"] == "https"


# ------------------------------------------------------------------ a whole environment on ACME + JWT
def acme_jwt_staging(tmp_path: Path) -> Path:
    yaml = YAML()
    doc = yaml.load(stack_file_for("staging").read_text())
    doc["config"]["mlops-platform:serving"] = {
        "tls": {"source": "acme", "acme_email": "pki@example.com", "acme_hosted_zone_id": "Z0123456789ABC"},
        "auth": {"mode": "jwt", "jwt_issuer": "https://idp.example.com/",
                 "jwt_jwks_uri": "https://idp.example.com/.well-known/jwks.json"}}
    out = tmp_path / "Pulumi.staging.yaml"
    with out.open("w") as fh:
        yaml.dump(doc, fh)
    return out


@pytest.mark.slow
def test_an_acme_and_jwt_environment_plans_its_issuer_dns_role_and_idp_policies(tmp_path: Path) -> None:
    plan = run_platform(stack_file=acme_jwt_staging(tmp_path))
    issuer = one(plan, ISSUER, "mlops-acme")
    assert schema_errors(SCHEMAS[ISSUER], manifest(issuer)) == []
    assert issuer.inputs["spec"]["acme"]["solvers"][0]["dns01"]["route53"]["hostedZoneID"] == "Z0123456789ABC"
    assert {c.inputs["spec"]["issuerRef"]["name"] for c in k8s_of(plan, CERTIFICATE)} == {"mlops-acme"}
    role = next(r for r in plan.resources if r.type == "aws:iam/role:Role" and r.name.endswith("-dns01-role"))
    # built by aws.service_roles now, still the cluster layer's child of the same name: the URN it always had
    assert role.urn.endswith("mlops:k8s:ClusterLayer$aws:iam/role:Role::staging-k8s-cert-manager-dns01-role")
    assert not role.aliases
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert "system:serviceaccount:cert-manager:cert-manager" in json.dumps(trust["Condition"])
    release = next(r for r in k8s_of(plan, "kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "cert-manager")
    assert set(release.inputs["values"]["serviceAccount"]["annotations"]) == {"eks.amazonaws.com/role-arn"}
    policies = k8s_of(plan, SECURITY_POLICY)
    assert policies and all(p.inputs["spec"]["jwt"]["providers"][0]["remoteJWKS"]["uri"] ==
                            "https://idp.example.com/.well-known/jwks.json" for p in policies)
    assert not [r for r in plan.resources if r.name.endswith("-inference-auth-key")], "no API keys with JWT"
    for res in policies:
        assert schema_errors(SCHEMAS[SECURITY_POLICY], manifest(res)) == [], res.name
    dns01 = next(r for r in plan.resources if r.type == "aws:iam/rolePolicy:RolePolicy" and "dns01" in r.name)
    assert iam.check_document(json.loads(dns01.inputs["policy"])) == []
    # reviewed exactly as `mlplat review` does a staging environment: nothing blocks
    report = review(Subject(plan.to_json(), stack_file_for("staging"), platform_config("staging")),
                    waivers=resolve_waivers(None, repo_root()))
    assert [(f.policy, f.resource) for f in report.blocking] == []
