"""The stack programs of an environment's layers (see mlops_platform.layers): `aws`, `cluster`, `tenants`."""
