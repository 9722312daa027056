"""Bootstrap turns AWS failures into one actionable error, never a traceback."""

from __future__ import annotations

import socket

import pytest
from mlops_platform.core.errors import PreflightError, ToolMissingError
from mlops_platform.ops.bootstrap import bootstrap


def test_unreachable_endpoint_is_reported_with_what_was_done(aws_env, make_cfg, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    with pytest.raises(PreflightError, match=r"bootstrap stopped after: nothing; AWS said EndpointConnectionError"):
        bootstrap(make_cfg())


def test_missing_credentials_name_the_fix(no_credentials, make_cfg):
    with pytest.raises(ToolMissingError, match=r"AWS credentials not found; mlplat bootstrap needs them.*AWS_PROFILE"):
        bootstrap(make_cfg())
