"""Tenant isolation of the platform's MLflow, proven against a real MLflow server.

The server is started by the very boot script the platform ships in its ConfigMap
(`mlops_platform/k8s/mlflow_boot.py`): same auth config (`NO_PERMISSIONS` by default, users from
`users.json`), same `--app-name basic-auth --no-serve-artifacts` command, with sqlite and local
artifacts instead of RDS and S3. Artifact *bytes* are isolated by IAM (each project's IRSA role reaches
only its own S3 prefix, see test_tenant_iam.py); what this file proves is that no tenant can read,
change or delete another tenant's experiments, runs, metrics, registered models, versions, aliases or
artifact listings, nor grant itself access, while it can do all of that on its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlops_platform.k8s import mlflow_boot
from moto_stand_in import free_port, wait_until_up

# One group: xdist runs the module's tests on one worker, so the server (most of the module's cost: two
# processes importing MLflow and migrating two databases) starts once per run, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mlflow")]

BOOT = Path(mlflow_boot.__file__)
API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class Server:
    url: str
    passwords: dict[str, str]
    artifacts: Path

    def as_user(self, user: str | None) -> httpx.Client:
        auth = (user, self.passwords[user]) if user else None
        return httpx.Client(base_url=self.url + API, auth=auth, timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow")
    auth = root / "auth"
    auth.mkdir()
    passwords = {mlflow_boot.ADMIN_USER: "admin-Pw-0123456789", "alpha": "alpha-Pw-0123456789",
                 "beta": "beta-Pw-0123456789"}
    (auth / "admin-password").write_text(passwords[mlflow_boot.ADMIN_USER] + "\n")
    (auth / "flask-secret-key").write_text("csrf-key-0123456789")
    (auth / "users.json").write_text(json.dumps({"alpha": passwords["alpha"], "beta": passwords["beta"]}))
    port = free_port()
    env = {**os.environ, mlflow_boot.ENV_BACKEND_URI: f"sqlite:///{root / 'mlflow.db'}",
           mlflow_boot.ENV_AUTH_DIR: str(auth), mlflow_boot.ENV_PORT: str(port), mlflow_boot.ENV_HOST: "127.0.0.1",
           mlflow_boot.ENV_ALLOWED_HOSTS: f"127.0.0.1:{port},localhost:{port}",
           mlflow_boot.ENV_ARTIFACT_ROOT: (root / "default-artifacts").as_uri(), mlflow_boot.ENV_WORK_DIR: str(root),
           mlflow_boot.ENV_WORKERS: "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = root / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(BOOT)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up("mlflow", lambda: _healthy(url), proc, log)
        yield Server(url, passwords, root / "artifacts")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


@dataclass(frozen=True)
class Estate:
    """What one tenant created: experiment, run (with a metric and an artifact), model, version, alias."""

    experiment_id: str
    run_id: str
    model: str


def _create_estate(server: Server, user: str) -> Estate:
    with server.as_user(user) as c:
        location = (server.artifacts / user).as_uri()
        exp = _ok(c.post("/experiments/create", json={"name": f"{user}-exp", "artifact_location": location}))
        exp_id = exp["experiment_id"]
        run = _ok(c.post("/runs/create", json={"experiment_id": exp_id}))["run"]["info"]
        run_id = run["run_id"]
        _ok(c.post("/runs/log-metric", json={"run_id": run_id, "key": "auc", "value": 0.9, "timestamp": 0}))
        # --no-serve-artifacts: the client writes its artifact straight to its own store (S3 prefix in the cluster)
        artifact_dir = Path(run["artifact_uri"].removeprefix("file://"))
        artifact_dir.mkdir(parents=True, exist_ok=True)
        (artifact_dir / "model.txt").write_text(user)
        model = f"{user}-model"
        _ok(c.post("/registered-models/create", json={"name": model}))
        _ok(c.post("/model-versions/create", json={"name": model, "source": run["artifact_uri"], "run_id": run_id}))
        _ok(c.post("/registered-models/alias", json={"name": model, "alias": "champion", "version": "1"}))
    return Estate(exp_id, run_id, model)


@pytest.fixture(scope="module")
def estates(server: Server) -> dict[str, Estate]:
    return {user: _create_estate(server, user) for user in ("alpha", "beta")}


def _reads(e: Estate) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/experiments/get", {"experiment_id": e.experiment_id}),
        ("GET", "/runs/get", {"run_id": e.run_id}),
        ("GET", "/metrics/get-history", {"run_id": e.run_id, "metric_key": "auc"}),
        ("GET", "/artifacts/list", {"run_id": e.run_id}),
        ("GET", "/registered-models/get", {"name": e.model}),
        ("GET", "/model-versions/get", {"name": e.model, "version": "1"}),
        ("GET", "/registered-models/alias", {"name": e.model, "alias": "champion"}),
    ]


def _writes(e: Estate) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", "/runs/log-metric", {"run_id": e.run_id, "key": "auc", "value": 0.1, "timestamp": 1}),
        ("POST", "/runs/set-tag", {"run_id": e.run_id, "key": "owner", "value": "intruder"}),
        ("POST", "/experiments/update", {"experiment_id": e.experiment_id, "new_name": "stolen"}),
        ("POST", "/runs/create", {"experiment_id": e.experiment_id}),
        ("PATCH", "/registered-models/update", {"name": e.model, "description": "stolen"}),
        ("POST", "/model-versions/create", {"name": e.model, "source": "file:///tmp/evil"}),
        ("POST", "/registered-models/alias", {"name": e.model, "alias": "champion", "version": "1"}),
        ("POST", "/experiments/permissions/create",
         {"experiment_id": e.experiment_id, "username": "alpha", "permission": "MANAGE"}),
        ("POST", "/registered-models/permissions/create",
         {"name": e.model, "username": "alpha", "permission": "MANAGE"}),
    ]


def _deletes(e: Estate) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("DELETE", "/registered-models/alias", {"name": e.model, "alias": "champion"}),
        ("DELETE", "/model-versions/delete", {"name": e.model, "version": "1"}),
        ("DELETE", "/registered-models/delete", {"name": e.model}),
        ("POST", "/runs/delete", {"run_id": e.run_id}),
        ("POST", "/experiments/delete", {"experiment_id": e.experiment_id}),
    ]


def _call(client: httpx.Client, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    if method == "GET":
        return client.get(path, params=body)
    return client.request(method, path, json=body)


def test_a_tenant_can_neither_read_write_nor_delete_another_tenants_tracking_data(
        server: Server, estates: dict[str, Estate]) -> None:
    victim = estates["beta"]
    with server.as_user("alpha") as alpha:
        outcomes = {f"{m} {p}": _call(alpha, m, p, b).status_code
                    for m, p, b in [*_reads(victim), *_writes(victim), *_deletes(victim)]}
    assert outcomes == dict.fromkeys(outcomes, 403)
    # nothing of beta changed, and search shows alpha none of it
    with server.as_user("beta") as beta:
        run = _ok(beta.get("/runs/get", params={"run_id": victim.run_id}))["run"]
        assert run["data"]["metrics"] == [{"key": "auc", "value": 0.9, "timestamp": 0, "step": 0}]
        assert "tags" not in run["data"] or all(t["key"] != "owner" for t in run["data"]["tags"])
        assert _ok(beta.get("/registered-models/alias", params={"name": victim.model, "alias": "champion"}))
    with server.as_user("alpha") as alpha:
        names = {e["name"] for e in _ok(alpha.post("/experiments/search", json={"max_results": 100}))["experiments"]}
        models = {m["name"] for m in
                  _ok(alpha.get("/registered-models/search", params={"max_results": 100})).get("registered_models", [])}
    assert names == {"alpha-exp"} and models == {"alpha-model"}


def test_anonymous_and_wrong_password_requests_are_refused(server: Server, estates: dict[str, Estate]) -> None:
    with server.as_user(None) as anonymous:
        assert anonymous.get("/experiments/get", params={"experiment_id": estates["alpha"].experiment_id}
                             ).status_code == 401
    with httpx.Client(base_url=server.url + API, auth=("alpha", "wrong"), timeout=30) as wrong:
        assert wrong.get("/runs/get", params={"run_id": estates["alpha"].run_id}).status_code == 401
    # the shared Default experiment is nobody's: NO_PERMISSIONS by default
    with server.as_user("alpha") as alpha:
        assert alpha.post("/runs/create", json={"experiment_id": "0"}).status_code == 403


def test_a_tenant_reads_writes_and_deletes_its_own_tracking_data(server: Server, estates: dict[str, Estate]) -> None:
    own = estates["alpha"]
    with server.as_user("alpha") as alpha:
        for method, path, body in _reads(own):
            assert _call(alpha, method, path, body).status_code == 200, path
        listing = _ok(alpha.get("/artifacts/list", params={"run_id": own.run_id}))
        assert [f["path"] for f in listing["files"]] == ["model.txt"]
        for method, path, body in _writes(own)[:3] + _deletes(own):
            assert _call(alpha, method, path, body).status_code == 200, path
        assert _ok(alpha.get("/experiments/get", params={"experiment_id": own.experiment_id})
                   )["experiment"]["lifecycle_stage"] == "deleted"
