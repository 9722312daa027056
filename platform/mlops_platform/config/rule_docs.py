"""The rules list of docs/configuration.md, read from the `issue(...)` calls in `config/rules.py`.

Each rule function is walked in source order, following helper calls with their arguments bound, so every
issue `mlplat validate` can report becomes one row: resolved path, message, the condition and the fix.
Warnings (`rules.WARNINGS`, printed but not failing validation) are listed the same way.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

from mlops_platform.config import rules, rules_air_gap, rules_gpu

#: Modules whose rule functions (and the helpers they call) the rules list reads.
RULE_MODULES = (rules, rules_gpu, rules_air_gap)


def cell(text: str) -> str:
    """Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


@dataclass(frozen=True)
class RuleDoc:
    path: str
    message: str
    when: str
    fix: str


@dataclass
class _RuleReader(ast.NodeVisitor):
    """Walks one rule function in source order, following helper calls with their arguments bound."""

    functions: dict[str, ast.FunctionDef]
    constants: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    bound: dict[str, ast.expr] = field(default_factory=dict)
    """A helper's parameters → the caller's argument expressions, so conditions read in the caller's terms."""
    conditions: tuple[str, ...] = ()
    found: list[RuleDoc] = field(default_factory=list)
    loops: tuple[str, ...] = ()

    def text(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return str(node.value)
        if isinstance(node, ast.JoinedStr):
            return "".join(self.text(v) for v in node.values)
        if isinstance(node, ast.FormattedValue):
            return self.text(node.value)
        if isinstance(node, ast.Name) and node.id in self.env:
            return self.env[node.id]
        if isinstance(node, ast.Name) and isinstance(self.constants.get(node.id), int | str | tuple):
            return str(self.constants[node.id])
        joined = _joined_constant(node, self.constants)
        return joined if joined is not None else "{" + ast.unparse(node) + "}"

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(self._substituted(node.test))
        self._within((*self.conditions, test), node.body)
        self._within((*self.conditions, f"not ({test})"), node.orelse)

    def visit_For(self, node: ast.For) -> None:
        saved, self.loops = self.loops, (*self.loops, f"{ast.unparse(node.target)} in {ast.unparse(node.iter)}")
        items = self._substituted(node.iter)
        if isinstance(node.target, ast.Name) and isinstance(items, ast.Tuple) and len(items.elts) == 1:
            self.env[node.target.id] = self.text(items.elts[0])  # a loop over one literal field name: name it
        for stmt in node.body:
            self.visit(stmt)
        self.loops = saved

    def visit_Assign(self, node: ast.Assign) -> None:
        # Locals used in messages are shown by their definition: `path = f"projects[{i}]"` gives the path
        # prefix, `minimum = 3 if cfg.is_prod else 2` reads as {3 if cfg.is_prod else 2}.
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            literal = isinstance(node.value, ast.JoinedStr | ast.Constant)
            self.env[node.targets[0].id] = self.text(node.value) if literal else "{" + ast.unparse(node.value) + "}"

    def visit_Call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        if name == "issue":
            self._record(node)
        elif name in self.functions:
            args = {**_defaults(self.functions[name]), **dict(zip(
                [a.arg for a in self.functions[name].args.args], node.args, strict=False)),
                    **{k.arg: k.value for k in node.keywords if k.arg}}
            env = {p: self.text(a) for p, a in args.items()}
            # flags passed as literals (gpu=True) read better by their parameter's name
            bound = {p: self._substituted(a) for p, a in args.items() if not isinstance(a, ast.Constant)}
            reader = _RuleReader(self.functions, self.constants, env, bound, self.conditions, self.found, self.loops)
            for stmt in self.functions[name].body:
                reader.visit(stmt)
        self.generic_visit(node)

    def _substituted(self, node: ast.expr) -> ast.expr:
        """`node` with this helper's parameters replaced by the caller's arguments."""
        bound = self.bound

        class _Bind(ast.NodeTransformer):
            def visit_Name(self, name: ast.Name) -> ast.expr:
                return bound.get(name.id, name)

        return _Bind().visit(copy.deepcopy(node))

    def _within(self, conditions: tuple[str, ...], body: list[ast.stmt]) -> None:
        saved, self.conditions = self.conditions, conditions
        for stmt in body:
            self.visit(stmt)
        self.conditions = saved

    def _record(self, call: ast.Call) -> None:
        args = {**dict(zip(("path", "message", "value", "fix"), call.args, strict=False)),
                **{k.arg: k.value for k in call.keywords if k.arg}}
        fix = self.text(args["fix"]) if "fix" in args else ""
        when = " and ".join(self.conditions) or (f"for each {self.loops[-1]}" if self.loops else "")
        path = re.sub(r"\[\{[^}]*\}\]", "[n]", self.text(args["path"]))  # any list index
        doc = RuleDoc(path, self.text(args["message"]), when, fix)
        if doc not in self.found:
            self.found.append(doc)


def _defaults(function: ast.FunctionDef) -> dict[str, ast.expr]:
    """A helper's parameters that have defaults → those defaults (positional and keyword-only)."""
    args = function.args
    positional = dict(zip([a.arg for a in args.args][len(args.args) - len(args.defaults):], args.defaults,
                          strict=True))
    keyword = {a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    return positional | keyword


def _joined_constant(node: ast.expr, constants: dict[str, Any]) -> str | None:
    """`', '.join(SOME_CONSTANT)` rendered with the constant's items (e.g. the supported EKS versions)."""
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant) and len(node.args) == 1
            and isinstance(node.args[0], ast.Name) and isinstance(constants.get(node.args[0].id), tuple | list)):
        return str(node.func.value.value).join(str(v) for v in constants[node.args[0].id])
    return None


@cache
def _functions(module: ModuleType) -> list[ast.FunctionDef]:
    return [f for f in ast.parse(inspect.getsource(module)).body if isinstance(f, ast.FunctionDef)]


def rule_docs() -> dict[str, list[RuleDoc]]:
    """Rule function name → every issue it can report, in source order."""
    out: dict[str, list[RuleDoc]] = {}
    for rule in (*rules.RULES, *rules.WARNINGS):
        # A rule may live beside the facts it checks (config/gpu_provisioning.py): read its own module, over
        # the rule modules whose helpers the rules call (rules.py calls rules_gpu's pool rules).
        modules = (*RULE_MODULES, inspect.getmodule(rule) or rules)
        functions = {f.name: f for module in modules for f in _functions(module)}
        reader = _RuleReader(functions, {k: v for module in modules for k, v in vars(module).items()})
        for stmt in functions[rule.__name__].body:
            reader.visit(stmt)
        out[rule.__name__] = reader.found
    return out


def rules_section() -> list[str]:
    lines = ["## Rules", "",
             "Checked after the types, in one pass, so every problem is reported at once. Each row is one "
             "issue `mlplat validate` can report; *when* is the condition in the rule (`config/rules.py`, or the "
             "module it imports the rule from); `[n]` is any "
             "list index and `{name}` a value from the config.", ""]
    for name, docs in rule_docs().items():
        lines += [f"### {name.removesuffix('_rules').replace('_', ' ').capitalize()} (`{name}`)", "",
                  "| field | problem | when | fix |", "|---|---|---|---|"]
        lines += [f"| `{cell(d.path)}` | {cell(d.message)} | {cell(f'`{d.when}`' if d.when else 'always')} "
                  f"| {cell(d.fix)} |" for d in docs]
        lines.append("")
    return lines


# --- configuration.md --------------------------------------------------------------------------------------------
