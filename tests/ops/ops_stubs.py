"""botocore Stubber responses for the APIs moto has no usable backend for: Service Quotas, Pricing and AWS's public
SSM parameters of EKS AMIs.

Shapes follow real responses (captured field names, units, ARNs and usage metrics as AWS returns them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.stub import Stubber
from mlops_platform.core.instances import QUOTA_CODES, QuotaFamily

QUOTA_NAMES = {
    "L-1216C47A": ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", "Standard/OnDemand"),
    "L-34B43A08": ("All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests", "Standard/Spot"),
    "L-DB2E81BA": ("Running On-Demand G and VT instances", "G/OnDemand"),
    "L-3819A6DF": ("All G and VT Spot Instance Requests", "G/Spot"),
    "L-417A185B": ("Running On-Demand P instances", "P/OnDemand"),
    "L-7212CCBC": ("All P Spot Instance Requests", "P/Spot"),
}


def quota_response(code: str, value: float, region: str = "us-east-1", account: str = "123456789012") -> dict[str, Any]:
    name, klass = QUOTA_NAMES[code]
    return {"Quota": {
        "ServiceCode": "ec2", "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
        "QuotaArn": f"arn:aws:servicequotas:{region}:{account}:ec2/{code}", "QuotaCode": code,
        "QuotaName": name, "Value": value, "Unit": "None", "Adjustable": True, "GlobalQuota": False,
        "UsageMetric": {"MetricNamespace": "AWS/Usage", "MetricName": "ResourceCount",
                        "MetricDimensions": {"Class": klass, "Resource": "vCPU", "Service": "EC2",
                                             "Type": "Resource"},
                        "MetricStatisticRecommendation": "Maximum"},
        "QuotaAppliedAtLevel": "ACCOUNT"}}


def stub_quotas(client: Any, values: dict[tuple[QuotaFamily, str], float],
                defaults_only: frozenset[tuple[QuotaFamily, str]] = frozenset()) -> Stubber:
    """Queue one GetServiceQuota answer per key, in the order preflight asks (sorted keys).

    Keys in `defaults_only` answer NoSuchResourceException first (never-adjusted quota), then the AWS
    default through GetAWSDefaultServiceQuota — the path real fresh accounts take.
    """
    stubber = Stubber(client)
    for key in sorted(values):
        code = QUOTA_CODES[key]
        params = {"ServiceCode": "ec2", "QuotaCode": code}
        if key in defaults_only:
            stubber.add_client_error("get_service_quota", "NoSuchResourceException",
                                     "The request failed because the specified service quota does not exist.",
                                     400, expected_params=params)
            stubber.add_response("get_aws_default_service_quota", quota_response(code, values[key]), params)
        else:
            stubber.add_response("get_service_quota", quota_response(code, values[key]), params)
    stubber.activate()
    return stubber


def _price_item(attributes: dict[str, str], usd: str, family: str, service: str, what: str) -> str:
    """One `PriceList` entry of `pricing.get_products` (aws_v1 format): product, OnDemand term, version."""
    sku = "".join(c for c in f"{attributes['instanceType']}{attributes['regionCode']}".upper() if c.isalnum())[:16]
    rate = f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    return json.dumps({
        "product": {"productFamily": family, "sku": sku, "attributes": {"servicecode": service, **attributes}},
        "serviceCode": service,
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
            "termAttributes": {},
            "priceDimensions": {rate: {"rateCode": rate, "unit": "Hrs", "beginRange": "0", "endRange": "Inf",
                                       "description": f"${usd} per {what}", "appliesTo": [],
                                       "pricePerUnit": {"USD": usd}}}}}},
        "version": "20261101000000", "publicationDate": "2026-11-01T00:00:00Z"})


def ec2_price_item(instance_type: str, usd: str, region: str = "us-east-1") -> str:
    """Linux, shared tenancy, on-demand EC2 — what preflight's price lookup asks for."""
    return _price_item({"instanceType": instance_type, "regionCode": region, "location": LOCATIONS[region],
                        "locationType": "AWS Region", "operatingSystem": "Linux", "tenancy": "Shared",
                        "preInstalledSw": "NA", "capacitystatus": "Used", "licenseModel": "No License required",
                        "usagetype": f"BoxUsage:{instance_type}", "operation": "RunInstances"},
                       usd, "Compute Instance", "AmazonEC2", f"On Demand Linux {instance_type} Instance Hour")


def rds_price_item(instance_class: str, usd: str, region: str = "us-east-1") -> str:
    return _price_item({"instanceType": instance_class, "regionCode": region, "location": LOCATIONS[region],
                        "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ",
                        "usagetype": f"InstanceUsage:{instance_class}", "operation": "CreateDBInstance:0014"},
                       usd, "Database Instance", "AmazonRDS", f"RDS {instance_class} Single-AZ instance hour "
                       "(or partial hour) running PostgreSQL")


LOCATIONS = {"us-east-1": "US East (N. Virginia)", "eu-west-1": "EU (Ireland)"}


def products_response(*items: str) -> dict[str, Any]:
    return {"FormatVersion": "aws_v1", "PriceList": list(items)}


#: The newest EKS-optimized AMI release per minor (awslabs/amazon-eks-ami CHANGELOG, v20260714): the values of
#: the public SSM parameters /aws/service/eks/optimized-ami/<minor>/<ami-path>/recommended/release_version, which
#: the moto server does not serve (and, like AWS, refuses to store under /aws).
AMI_RELEASES: dict[str, str] = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "upstream" / "eks-ami-releases.json").read_text())["release_versions"]


def ami_parameter(name: str, value: str) -> dict[str, Any]:
    return {"Parameter": {"Name": name, "Type": "String", "Value": value, "Version": 1, "DataType": "text",
                          "ARN": f"arn:aws:ssm:us-east-1::parameter{name}"}}


def stub_ami_releases(client: Any, cfg: Any, releases: dict[str, str] | None = None) -> Stubber:
    """Answer preflight's AMI release reads (one per pinned AMI type of the pools, sorted) from the fixture."""
    from mlops_platform.ops.ami_checks import parameter_name

    version = cfg.cluster.version
    published = (releases or AMI_RELEASES).get(version)
    stubber = Stubber(client)
    for ami_type in sorted({cfg.node_pools.system.ami_type, *(p.ami_type for p in cfg.node_pools.gpu)}):
        name = parameter_name(version, ami_type)
        if published is None:
            stubber.add_client_error("get_parameter", "ParameterNotFound", http_status_code=400,
                                     expected_params={"Name": name})
        else:
            stubber.add_response("get_parameter", ami_parameter(name, published), {"Name": name})
    stubber.activate()
    return stubber
