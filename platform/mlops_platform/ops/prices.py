"""Prices the cost model uses: the shipped, dated table (`prices.json` + the instance catalog) by default,
the AWS Price List API when credentials exist and the caller asks for it (or `auto` finds credentials).

Table prices are us-east-1 and scaled by a per-region multiplier; API prices are the region's own, so
no multiplier is applied to them. Whatever the API cannot price falls back to the table, and the
`Prices.source` / `notes` say exactly what came from where.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from mlops_platform.core import instances
from mlops_platform.core.errors import UsageError
from mlops_platform.core.instances import QuotaFamily
from mlops_platform.ops._aws import Aws, AwsFailure, describe, error_code

if TYPE_CHECKING:
    from mlops_platform.config import PlatformConfig

Range = tuple[float, float]


class PriceSource(StrEnum):
    AUTO = "auto"  # the Pricing API when credentials exist, else the table
    TABLE = "table"
    API = "api"


class Assumptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nat_processed_gb_month_per_gateway: Range
    s3_stored_gb_month_per_bucket: Range


class PriceTable(BaseModel):
    """The shipped `prices.json`: every number with its source and date."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    currency: str = Field(pattern="^USD$")
    base_region: str
    eks_control_plane_hourly: float = Field(ge=0)
    eks_extended_support_hourly: float = Field(ge=0)
    nat_gateway_hourly: float = Field(ge=0)
    nat_gateway_per_gb: float = Field(ge=0)
    s3_standard_gb_month: float = Field(ge=0)
    ebs_gp3_gb_month: float = Field(ge=0)
    rds_postgres_hourly: dict[str, float]
    rds_gp3_gb_month: float = Field(ge=0)
    spot_savings: dict[QuotaFamily, Range]
    region_multiplier: dict[str, float]
    default_region_multiplier: float = Field(gt=0)
    assumptions: Assumptions
    notes: list[str]


@cache
def price_table() -> PriceTable:
    text = resources.files("mlops_platform.ops").joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable.model_validate_json(text)


@dataclass(frozen=True)
class Prices:
    """Prices resolved for one region; what the cost model multiplies with."""

    region: str
    source: str
    as_of: str
    ec2_hourly: Mapping[str, float]
    rds_hourly: Mapping[str, float]
    eks_hourly: float
    eks_extended_hourly: float
    nat_hourly: float
    nat_per_gb: float
    s3_gb_month: float
    ebs_gb_month: float
    rds_storage_gb_month: float
    spot_savings: Mapping[QuotaFamily, Range]
    assumptions: Assumptions
    notes: tuple[str, ...] = field(default=())


def table_prices(region: str) -> Prices:
    """The shipped table scaled to `region` (a region missing from the table gets the default, noted)."""
    t = price_table()
    m = t.region_multiplier.get(region)
    notes = list(t.notes)
    if m is None:
        m = t.default_region_multiplier
        notes.append(f"{region} is not in the price table: prices scaled by the default multiplier {m}")
    return Prices(
        region=region, source=f"price table {t.as_of} × {m:g} for {region}", as_of=t.as_of,
        ec2_hourly={n: i.price_usd_hour * m for n, i in instances.INSTANCE_TYPES.items()},
        rds_hourly={n: p * m for n, p in t.rds_postgres_hourly.items()},
        eks_hourly=t.eks_control_plane_hourly * m, eks_extended_hourly=t.eks_extended_support_hourly * m,
        nat_hourly=t.nat_gateway_hourly * m, nat_per_gb=t.nat_gateway_per_gb * m,
        s3_gb_month=t.s3_standard_gb_month * m, ebs_gb_month=t.ebs_gp3_gb_month * m,
        rds_storage_gb_month=t.rds_gp3_gb_month * m, spot_savings=dict(t.spot_savings),
        assumptions=t.assumptions, notes=tuple(notes))


# --- Price List API ------------------------------------------------------------------------------

class PriceNotFound(LookupError):
    """The Price List API returned no usable on-demand hourly price for a product."""


def _terms(filters: Mapping[str, str]) -> list[Any]:
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]


def hourly_on_demand(price_list: Iterable[str]) -> float:
    """The on-demand USD hourly rate in a `get_products` PriceList (JSON strings, one per product)."""
    for raw in price_list:
        product = json.loads(raw)
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dim in term.get("priceDimensions", {}).values():
                usd = float(dim.get("pricePerUnit", {}).get("USD", "0"))
                if dim.get("unit") == "Hrs" and usd > 0:
                    return usd
    raise PriceNotFound("no on-demand hourly price in the response")


def _ec2_price(aws: Aws, region: str, instance_type: str) -> float:
    response = aws.pricing.get_products(ServiceCode="AmazonEC2", FormatVersion="aws_v1", MaxResults=10,
                                        Filters=_terms({
                                            "instanceType": instance_type, "regionCode": region,
                                            "operatingSystem": "Linux", "tenancy": "Shared",
                                            "preInstalledSw": "NA", "capacitystatus": "Used"}))
    return hourly_on_demand(response["PriceList"])


def _rds_price(aws: Aws, region: str, instance_class: str) -> float:
    response = aws.pricing.get_products(ServiceCode="AmazonRDS", FormatVersion="aws_v1", MaxResults=10,
                                        Filters=_terms({
                                            "instanceType": instance_class, "regionCode": region,
                                            "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"}))
    return hourly_on_demand(response["PriceList"])


def api_prices(cfg: PlatformConfig, aws: Aws) -> Prices:
    """Table prices with the configured instance types and DB class priced by the Price List API.

    Raises the AWS error when the API cannot be reached at all; a single product it cannot price keeps
    its table price and is named in `notes`.
    """
    region = cfg.environment.region
    base = table_prices(region)
    ec2, rds, notes = dict(base.ec2_hourly), dict(base.rds_hourly), list(base.notes)
    pool_types = {t for p in (cfg.node_pools.system, *cfg.node_pools.gpu) for t in p.instance_types}
    for name in sorted(pool_types):
        try:
            ec2[name] = _ec2_price(aws, region, name)
        except PriceNotFound:
            notes.append(f"Pricing API has no price for {name} in {region}: table price used")
    db_class = cfg.tracking.db_instance_class
    try:
        rds[db_class] = _rds_price(aws, region, db_class)
    except PriceNotFound:
        notes.append(f"Pricing API has no price for {db_class} in {region}: table price used")
    source = f"AWS Pricing API for EC2 and RDS instances in {region}; other items from the {base.source}"
    return replace(base, source=source, ec2_hourly=ec2, rds_hourly=rds, notes=tuple(notes))


def resolve_prices(cfg: PlatformConfig, source: PriceSource = PriceSource.TABLE, aws: Aws | None = None) -> Prices:
    """Prices for `cfg`'s region from the chosen source; `auto` falls back to the table, noting why."""
    region = cfg.environment.region
    if source is PriceSource.TABLE:
        return table_prices(region)
    aws = aws or Aws(region)
    if source is PriceSource.API:
        aws.require_credentials("--prices api")
        try:
            return api_prices(cfg, aws)
        except AwsFailure as exc:
            raise UsageError(f"the AWS Pricing API failed: {describe(exc)} — fix: grant "
                             "pricing:GetProducts, or use --prices auto / --prices table") from None
    if not aws.has_credentials():
        return table_prices(region)
    try:
        return api_prices(cfg, aws)
    except AwsFailure as exc:
        fallback = table_prices(region)
        why = f"Pricing API unavailable ({error_code(exc)}): price table used"
        return replace(fallback, notes=(*fallback.notes, why))
