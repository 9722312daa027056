"""Hostile: a child process would run outside the review's guards."""

import subprocess

import pulumi_aws as aws

aws.s3.Bucket("data")
subprocess.run(["curl", "-s", "https://example.com"], check=False)
