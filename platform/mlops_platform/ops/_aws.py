"""boto3 clients for one environment, created on first use.

Every AWS call of bootstrap, preflight and cost goes through `Aws`, so the endpoint (the standard
`AWS_ENDPOINT_URL`, honoured by botocore itself), retries and timeouts are set in one place, and a test
can swap a single client for a stubbed one (`aws.quotas = stubbed`) while the rest talk to a real server.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from mlops_platform.core.errors import ToolMissingError

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_pricing import PricingClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient

#: The Price List API is served from a few regions only; us-east-1 answers for every region.
PRICING_REGION = "us-east-1"
# Fail fast: a user waiting on a preflight wants an answer, not five silent retries.
_CONFIG = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30)
_PRICING_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=15)

CREDENTIALS_FIX = ("export AWS_PROFILE=<profile> (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or run "
                   "`aws sso login --profile <profile>`; check with `aws sts get-caller-identity`")


class Aws:
    """Lazily created clients for `region`; one instance per command run."""

    def __init__(self, region: str, session: boto3.Session | None = None) -> None:
        import boto3  # here, not at module level: it costs most of a second, and most commands never call AWS

        self.region = region
        self.session = session or boto3.Session()

    def has_credentials(self) -> bool:
        return self.session.get_credentials() is not None

    def require_credentials(self, action: str) -> None:
        """Raise one actionable error before any call when no credentials can be found."""
        if not self.has_credentials():
            raise ToolMissingError(f"AWS credentials not found; {action} needs them — fix: {CREDENTIALS_FIX}")

    @cached_property
    def s3(self) -> S3Client:
        return self.session.client("s3", region_name=self.region, config=_CONFIG)

    @cached_property
    def kms(self) -> KMSClient:
        return self.session.client("kms", region_name=self.region, config=_CONFIG)

    @cached_property
    def sts(self) -> STSClient:
        return self.session.client("sts", region_name=self.region, config=_CONFIG)

    @cached_property
    def ec2(self) -> EC2Client:
        return self.session.client("ec2", region_name=self.region, config=_CONFIG)

    @cached_property
    def eks(self) -> EKSClient:
        return self.session.client("eks", region_name=self.region, config=_CONFIG)

    @cached_property
    def eks_catalog(self) -> EKSClient:
        """A second EKS client for catalogue reads (DescribeAddonVersions): tests answer them with botocore's
        Stubber, the moto server having no add-on catalogue, while cluster calls still reach moto."""
        return self.session.client("eks", region_name=self.region, config=_CONFIG)

    @cached_property
    def ssm_public(self) -> SSMClient:
        """SSM for AWS's public parameters (/aws/service/eks/optimized-ami/...): the moto server serves none of the
        EKS ones and refuses to store names under /aws, so tests answer them with botocore's Stubber."""
        return self.session.client("ssm", region_name=self.region, config=_CONFIG)

    @cached_property
    def elbv2(self) -> Any:  # no mypy_boto3_elbv2 in the venv: typed loosely
        return self.session.client("elbv2", region_name=self.region, config=_CONFIG)

    @cached_property
    def secrets(self) -> Any:  # no mypy_boto3_secretsmanager in the venv: typed loosely
        return self.session.client("secretsmanager", region_name=self.region, config=_CONFIG)

    @cached_property
    def ecr(self) -> Any:  # no mypy_boto3_ecr in the venv: typed loosely
        return self.session.client("ecr", region_name=self.region, config=_CONFIG)

    @cached_property
    def iam(self) -> IAMClient:
        return self.session.client("iam", region_name=self.region, config=_CONFIG)

    @cached_property
    def quotas(self) -> ServiceQuotasClient:
        return self.session.client("service-quotas", region_name=self.region, config=_CONFIG)

    @cached_property
    def pricing(self) -> PricingClient:
        # Prices are optional (the table stands in): give up quickly when the API is out of reach.
        return self.session.client("pricing", region_name=PRICING_REGION, config=_PRICING_CONFIG)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a failed call ("NoSuchBucket", "AccessDenied", "404"), or the class name."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def describe(exc: BaseException, limit: int = 200) -> str:
    """`code: first line of the message`, short: some endpoints answer errors with whole HTML pages."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"{error_code(exc)}: {text}"


AwsFailure = (ClientError, BotoCoreError)
