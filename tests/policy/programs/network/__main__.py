"""Hostile: an "offline" review must not let a program phone home, even one that hides the failure."""

import contextlib
import socket

import pulumi_aws as aws

with contextlib.suppress(BaseException):  # even a program hiding the refusal fails the review
    socket.create_connection(("203.0.113.7", 443), timeout=1)  # TEST-NET-3: never routed
aws.s3.Bucket("data")
