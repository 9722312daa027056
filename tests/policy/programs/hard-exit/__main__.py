"""Hostile: a public bucket, then os._exit(7), which skips every handler in the process."""

import os

import pulumi_aws as aws

aws.s3.Bucket("public-data", acl="public-read")
os._exit(7)
