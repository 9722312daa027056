"""Hostile: raises half-way through, after creating a resource."""

import pulumi_aws as aws

aws.s3.Bucket("data")


def tenants():
    raise ValueError("tenant list is empty")


tenants()
