"""Price sources: the shipped dated table, and the Pricing API through botocore's Stubber."""

from __future__ import annotations

import re

import pytest
from botocore.stub import Stubber
from mlops_platform.core import instances
from mlops_platform.core.errors import ToolMissingError, UsageError
from mlops_platform.ops._aws import Aws
from mlops_platform.ops.prices import PriceSource, hourly_on_demand, price_table, resolve_prices, table_prices
from ops_stubs import ec2_price_item, products_response, rds_price_item


def test_shipped_table_records_source_and_date_and_prices_every_tracking_class():
    table = price_table()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.as_of)
    assert "AWS" in table.source
    assert table.eks_control_plane_hourly == 0.10
    assert {"db.t4g.small", "db.t4g.medium", "db.r6g.large"} <= set(table.rds_postgres_hourly)
    assert all(low < high < 1 for low, high in table.spot_savings.values())


def test_table_prices_scale_by_region_and_note_unknown_regions():
    base, eu = table_prices("us-east-1"), table_prices("eu-west-1")
    assert base.ec2_hourly["g5.xlarge"] == instances.INSTANCE_TYPES["g5.xlarge"].price_usd_hour
    assert eu.ec2_hourly["g5.xlarge"] == pytest.approx(base.ec2_hourly["g5.xlarge"] * 1.11)
    assert eu.nat_hourly == pytest.approx(0.045 * 1.11)
    unknown = table_prices("me-south-1")
    assert unknown.nat_hourly == pytest.approx(0.045 * 1.25)
    assert any("me-south-1 is not in the price table" in n for n in unknown.notes)


def _stub_pricing(aws: Aws, answers: list[tuple[dict[str, str], str]]) -> Stubber:
    stubber = Stubber(aws.pricing)
    for expected, item in answers:
        stubber.add_response("get_products", products_response(item) if item else products_response(),
                             {"ServiceCode": expected["service"], "FormatVersion": "aws_v1", "MaxResults": 10,
                              "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v}
                                          for k, v in expected.items() if k != "service"]})
    stubber.activate()
    return stubber


def _ec2_filters(instance_type: str) -> dict[str, str]:
    return {"service": "AmazonEC2", "instanceType": instance_type, "regionCode": "us-east-1",
            "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}


RDS_SMALL = {"service": "AmazonRDS", "instanceType": "db.t4g.small", "regionCode": "us-east-1",
             "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}


def test_pricing_api_prices_configured_types_and_db_class(aws_env, make_cfg):
    cfg = make_cfg({"tracking": {"db_instance_class": "db.t4g.small"}})
    aws = Aws("us-east-1")
    stubber = _stub_pricing(aws, [
        (_ec2_filters("g6.xlarge"), ec2_price_item("g6.xlarge", "0.8100000000")),
        (_ec2_filters("m6i.xlarge"), ec2_price_item("m6i.xlarge", "0.1920000000")),
        (RDS_SMALL, rds_price_item("db.t4g.small", "0.0330000000")),
    ])
    prices = resolve_prices(cfg, PriceSource.API, aws)
    stubber.assert_no_pending_responses()
    assert prices.ec2_hourly["g6.xlarge"] == 0.81
    assert prices.rds_hourly["db.t4g.small"] == 0.033
    assert prices.ec2_hourly["g5.xlarge"] == instances.INSTANCE_TYPES["g5.xlarge"].price_usd_hour  # not asked
    assert prices.source.startswith("AWS Pricing API")


def test_product_without_price_keeps_the_table_price_and_says_so(aws_env, make_cfg):
    cfg = make_cfg({"tracking": {"db_instance_class": "db.t4g.small"}})
    aws = Aws("us-east-1")
    _stub_pricing(aws, [(_ec2_filters("g6.xlarge"), ""),
                        (_ec2_filters("m6i.xlarge"), ec2_price_item("m6i.xlarge", "0.1920000000")),
                        (RDS_SMALL, rds_price_item("db.t4g.small", "0.0330000000"))])
    prices = resolve_prices(cfg, PriceSource.API, aws)
    assert prices.ec2_hourly["g6.xlarge"] == instances.INSTANCE_TYPES["g6.xlarge"].price_usd_hour
    assert "Pricing API has no price for g6.xlarge in us-east-1: table price used" in prices.notes


def test_auto_falls_back_to_the_table_when_the_api_refuses(aws_env, make_cfg):
    cfg = make_cfg()
    aws = Aws("us-east-1")
    stubber = Stubber(aws.pricing)
    stubber.add_client_error("get_products", "AccessDeniedException", "User is not authorized to perform: "
                             "pricing:GetProducts", 400)
    stubber.activate()
    prices = resolve_prices(cfg, PriceSource.AUTO, aws)
    assert prices.source.startswith("price table")
    assert "Pricing API unavailable (AccessDeniedException): price table used" in prices.notes


def test_auto_without_credentials_uses_the_table_and_api_demands_them(no_credentials, make_cfg):
    cfg = make_cfg()
    assert resolve_prices(cfg, PriceSource.AUTO).source.startswith("price table")
    with pytest.raises(ToolMissingError, match="AWS credentials not found; --prices api needs them"):
        resolve_prices(cfg, PriceSource.API)


def test_hourly_price_skips_zero_rate_dimensions():
    zero, real = ec2_price_item("g5.xlarge", "0.0000000000"), ec2_price_item("g5.xlarge", "1.0060000000")
    assert hourly_on_demand([zero, real]) == 1.006
    with pytest.raises(LookupError):
        hourly_on_demand([zero])


def test_api_mode_failure_is_one_clear_error(aws_env, make_cfg):
    cfg = make_cfg()
    aws = Aws("us-east-1")
    stubber = Stubber(aws.pricing)
    stubber.add_client_error("get_products", "ThrottlingException", "Rate exceeded", 400)
    stubber.activate()
    with pytest.raises(UsageError, match=r"Pricing API failed: ThrottlingException.*--prices table"):
        resolve_prices(cfg, PriceSource.API, aws)
