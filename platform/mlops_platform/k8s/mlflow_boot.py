"""Start the platform's MLflow server with per-project authentication (runs inside the MLflow container).

The platform ships this file in a ConfigMap and the container runs `python boot.py`; the tests run the
same file against a real local MLflow server. It imports nothing from the platform, so the MLflow image
needs no extra package. Steps, all before the server accepts a request:

1. Backend URI: the RDS-managed master secret (Secrets Manager, read with the pod's IRSA role; RDS keeps
   the password out of Pulumi state) or `MLFLOW_BACKEND_STORE_URI` when set (local runs and tests).
2. Auth config (`basic-auth` app): `default_permission = NO_PERMISSIONS`, so a user sees only the
   experiments and models it created (MLflow grants their creator MANAGE) or was granted; the user
   store lives in the same database (its own `alembic_version_auth` table).
3. Users: exactly one per project from the mounted `users.json` (project -> password); users of removed
   projects are deleted, passwords are reset to the mounted value. The admin comes from its own file.
4. `mlflow server --app-name basic-auth --no-serve-artifacts`, run in this process (MLflow's CLI entry
   point): the server never touches artifacts; clients write them to their project's S3 prefix with
   their own IRSA role.
"""

from __future__ import annotations

import configparser
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: Not a DNS label, so no project (whose slug names its user) can ever be the admin.
ADMIN_USER = "mlflow_admin"
#: Environment the container gets from the platform (see tracking.boot_environment).
ENV_DB_SECRET_ARN = "MLFLOW_DB_LOGIN_ARN"  # an ARN, not a secret: where RDS keeps the login
ENV_DB_HOST = "MLFLOW_DB_HOST"
ENV_DB_NAME = "MLFLOW_DB_NAME"
ENV_BACKEND_URI = "MLFLOW_BACKEND_STORE_URI"
ENV_AUTH_DIR = "MLFLOW_AUTH_DIR"  # holds admin-password, flask-secret-key and users.json
ENV_PORT = "MLFLOW_PORT"
ENV_HOST = "MLFLOW_HOST"
ENV_ALLOWED_HOSTS = "MLFLOW_ALLOWED_HOSTS"
ENV_ARTIFACT_ROOT = "MLFLOW_DEFAULT_ARTIFACT_ROOT"
ENV_WORKERS = "MLFLOW_WORKERS"  # optional: server worker processes (MLflow's default when unset)
ENV_WORK_DIR = "MLFLOW_BOOT_DIR"  # writable directory for the rendered auth config


def postgres_uri(secret: dict[str, Any], host: str, database: str) -> str:
    """SQLAlchemy URI from an RDS master-user secret ({"username", "password"}), TLS required."""
    user, password = quote(str(secret["username"]), safe=""), quote(str(secret["password"]), safe="")
    return f"postgresql://{user}:{password}@{host}:5432/{database}?sslmode=require"


def backend_uri(env: dict[str, str]) -> str:
    if env.get(ENV_BACKEND_URI):
        return env[ENV_BACKEND_URI]
    import boto3  # in the MLflow -full image; imported late so tests need no AWS

    arn = env[ENV_DB_SECRET_ARN]
    region = arn.split(":")[3]  # arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME
    value = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=arn)
    return postgres_uri(json.loads(value["SecretString"]), env[ENV_DB_HOST], env[ENV_DB_NAME])


def auth_config(database_uri: str) -> str:
    """The basic-auth app's ini: deny by default, users in the tracking database."""
    ini = configparser.ConfigParser(interpolation=None)
    ini["mlflow"] = {"default_permission": "NO_PERMISSIONS", "database_uri": database_uri,
                     "admin_username": ADMIN_USER,
                     "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
                     "grant_default_workspace_access": "false",
                     # users change only here, before the server starts: a cached check is never stale
                     "auth_cache_ttl_seconds": "300"}
    lines: list[str] = []
    for section in ini.sections():
        lines.append(f"[{section}]")
        lines += [f"{k} = {v}" for k, v in ini[section].items()]
    return "\n".join(lines) + "\n"


def read_users(auth_dir: Path) -> dict[str, str]:
    users = json.loads((auth_dir / "users.json").read_text())
    if not isinstance(users, dict) or ADMIN_USER in users:
        raise SystemExit(f"{auth_dir / 'users.json'}: expected {{project: password}} without {ADMIN_USER!r}")
    return {str(k): str(v) for k, v in users.items()}


def sync_users(database_uri: str, admin_password: str, users: dict[str, str]) -> None:
    """Make the user store hold the admin and exactly the projects' users, with the mounted passwords."""
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database_uri)
    try:
        wanted = {ADMIN_USER: admin_password, **users}
        for user in store.list_users():
            if user.username not in wanted:
                store.delete_user(user.username)
        for name, password in wanted.items():
            if store.has_user(name):
                store.update_user(name, password=password, is_admin=name == ADMIN_USER)
            else:
                store.create_user(name, password, is_admin=name == ADMIN_USER)
    finally:  # the server runs in this process now: it must not keep the sync's idle database connections
        store.engine.dispose()


def server_args(env: dict[str, str]) -> list[str]:
    """The server command; the backend URI (it holds the database password) reaches it through the
    environment (`MLFLOW_BACKEND_STORE_URI`), never the command line other processes can read."""
    return ["mlflow", "server", "--app-name", "basic-auth", "--no-serve-artifacts",
            "--host", env.get(ENV_HOST, "0.0.0.0"), "--port", env[ENV_PORT],
            "--default-artifact-root", env[ENV_ARTIFACT_ROOT], "--allowed-hosts", env[ENV_ALLOWED_HOSTS],
            *(["--workers", env[ENV_WORKERS]] if env.get(ENV_WORKERS) else [])]


def main() -> None:
    env = os.environ
    uri = backend_uri(dict(env))
    auth_dir = Path(env[ENV_AUTH_DIR])
    config_path = Path(env.get(ENV_WORK_DIR, "/tmp")) / "mlflow-auth.ini"
    config_path.write_text(auth_config(uri))
    config_path.chmod(0o600)
    admin_password = (auth_dir / "admin-password").read_text().strip()
    # set before anything imports mlflow.server.auth: it reads its config once, at import
    env["MLFLOW_AUTH_CONFIG_PATH"] = str(config_path)
    env["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_password
    # CSRF key of the auth app's forms: one value shared by every replica
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = (auth_dir / "flask-secret-key").read_text().strip()
    env[ENV_BACKEND_URI] = uri
    sync_users(uri, admin_password, read_users(auth_dir))
    sys.stdout.flush()
    # `mlflow server` in this process (its console script is mlflow.cli:cli): the MLflow modules the user
    # sync imported are not imported again by another interpreter (~2.5 CPU s less at every start)
    from mlflow.cli import cli

    args = server_args(dict(env))
    cli.main(args=args[1:], prog_name=args[0])


if __name__ == "__main__":
    main()
