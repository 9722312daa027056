"""The toolkit policies are written with (public: rules modules, tests and new policies use these).

A policy is a generator over plain data: it never touches the analyzer's proxies.

- `values`: properties as plain Python. `plain()` turns analyzer proxies into dicts/lists with the `UNKNOWN`
  sentinel where the engine has no value yet (preview); `dig(data, "a.b.0.c")` reads a dotted path;
  `is_unknown`, `as_list`, `as_int`, `is_true`, `parse_json_document` read values the way the AWS provider
  sends them; `fmt` shows a value in a message. A policy yields `Violation` (or a plain message) and `Defer`
  ("the outcome depends on a value unknown until apply").
- `graph`: what a policy sees: one resource (`Res`, with `res.get("dotted.path")`) or the whole stack
  (`StackView`: resources by type, parents, dependencies, `Referrers` of a resource).
- `types`: the engine's resource type tokens (pulumi-aws 7.x, pulumi-kubernetes 4.x), one constant each.
- `iam`: IAM documents as statements: grants, wildcards, public principals, escalation actions.
- `k8s`: pod templates of every workload kind, containers, security context values.
- `analyzer`: the one adapter around pulumi_policy's private API (proxies, unknown markers, the servicer).

Registering: `registry.resource_policy(...)` / `registry.stack_policy(...)` decorate a check with its
metadata; `value_policy.value_policy(path=..., expected=..., problem=...)` declares a single-value check
without a body.
"""
