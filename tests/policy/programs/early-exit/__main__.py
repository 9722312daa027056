"""Hostile: a public bucket, then sys.exit(0) before the engine sees the rest of the program."""

import sys

import pulumi_aws as aws

aws.s3.Bucket("public-data", acl="public-read")
sys.exit(0)
