"""Files a user hands to the CLI, and files it writes for them.

Reading: what the path is, how big, which encoding, how many YAML nodes.

Every file `mlplat` reads (stack files, waivers, policy configurations, plan and outputs JSON, answers
files, a program's Pulumi.yaml) goes through `read_text`, so a directory, a FIFO, a device, a broken
link, a file that vanishes or cannot be read, a huge file or bytes that are not UTF-8 each end in one
clear error naming the file and what it is, never a hang or a traceback. `load_yaml` and `load_json`
add what parsers leave open: a "billion laughs" alias bomb is a few hundred bytes that expand to 10^9
nodes in any pass that walks the document, and JSON's `NaN`/`Infinity` are not JSON at all.

Writing: `write_atomic` puts a report or chart in place whole or not at all, so an interrupt or a
failure never leaves half a file where a user (or CI) expects a complete one.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from mlops_platform.core.errors import ConfigError, ConfigIssue, UsageError

#: Largest file read (1 MiB). Shipped stack files are ~2 KB; parsing 1 MiB of YAML takes about a second,
#: the 10 MB a careless `cat >>` makes took minutes.
MAX_BYTES = 1 << 20
#: Most nodes a YAML document may expand to once its aliases are followed. A large real stack file
#: has a few thousand; a 9-level alias bomb has 10^9.
MAX_NODES = 100_000

#: Deepest flow nesting accepted; configuration files nest a handful of levels.
MAX_DEPTH = 64
_QUOTED = re.compile(r"'[^'\n]*'|\"(?:[^\"\\\n]|\\.)*\"|#[^\n]*")
_BRACKETS = re.compile(r"[\[\]{}]")
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class InputFileError(UsageError):
    """A path given as an input file is missing, is not a regular file, or cannot be read (exit 2)."""

    code = "input_file"


def content_error(path: Path | str, message: str, fix: str, line: int | None = None) -> ConfigError:
    """The file was read but its content cannot be used (exit 3), as one located issue."""
    return ConfigError([ConfigIssue("<file>", message, file=str(path), line=line, fix=fix)], str(path))


def kind_of(path: Path) -> str | None:
    """What a path that is not a readable regular file is ("a directory", "missing", ...); None if regular."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return f"a broken symbolic link to {os.readlink(path)}" if os.path.islink(path) else "missing"
    except OSError as exc:
        return f"not accessible ({exc.strerror})"
    return next((name for test, name in _KINDS if test(mode)), None if stat.S_ISREG(mode) else "not a file")


def read_text(path: Path, what: str, fix: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of a regular file; `what` names the file's role ("stack file"), `fix` the way out."""
    kind = kind_of(path)
    if kind == "missing":
        raise InputFileError(f"{path}: {what} not found — fix: {fix}")
    if kind is not None:
        raise InputFileError(f"{path}: {what} is {kind}, not a regular file — fix: {fix}")
    try:
        with open(path, "rb") as handle:  # a regular file: reading cannot block
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} disappeared while being read — fix: {fix}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: {what} cannot be read ({exc.strerror or exc}) — fix: check its "
                             f"permissions, or {fix}") from None
    if len(raw) > max_bytes:
        raise content_error(path, f"{what} is larger than {max_bytes // 1024} KiB", f"{fix} (a {what} is "
                            "a few KB; was something appended to it?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise content_error(path, f"{what} is not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at offset "
                            f"{exc.start})", f"save it as UTF-8, or {fix}") from None


#: `load_yaml`'s `typ` for files copier writes: PyYAML's YAML 1.1, which copier dumps them with. A commit such
#: as `55220e28` is written unquoted there (1.1 floats need a dot) and would be read back as a float by YAML 1.2.
COPIER_YAML = "copier"


def load_yaml(text: str, path: Path | str, what: str, typ: str = "safe") -> Any:
    """Parse YAML (`typ` "safe", "rt" for line numbers, or COPIER_YAML), refusing documents that expand too far.

    YAML syntax errors propagate (callers report them in their own terms)."""
    if flow_depth(text) > MAX_DEPTH:
        raise content_error(path, f"{what} nests more than {MAX_DEPTH} levels of [ ] / {{ }}", "flatten the document")
    try:
        data = yaml.safe_load(text) if typ == COPIER_YAML else YAML(typ=typ).load(text)
    except RecursionError:
        raise content_error(path, f"{what} is nested too deeply", "flatten the document") from None
    except ValueError as exc:  # a scalar its type cannot hold (a 13th month, an int of 5 000 digits)
        raise content_error(path, f"{what} holds a value that cannot be read ({exc})", "correct that value") from None
    _check_expansion(data, path, what)
    return data


def flow_depth(text: str) -> int:
    """Deepest nesting of YAML/JSON flow brackets outside quotes and comments. The parser would walk
    every level before failing deep in its recursion: 400,000 `[` took it minutes."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_QUOTED.sub("", text)):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _check_expansion(data: Any, path: Path | str, what: str) -> None:
    """Count the nodes a full walk would visit, following shared (aliased) nodes once per reference.

    Sizes are memoized per node identity, so the count itself costs one pass over the distinct nodes."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise content_error(path, f"{what} holds a recursive alias (a node that contains itself)",
                                "replace the alias with the values it stands for")
        active.add(key)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise content_error(path, f"{what} expands to more than {MAX_NODES:,} nodes (YAML aliases "
                                    "repeat nodes)", "write the values out instead of nesting aliases")
        active.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise content_error(path, f"{what} is nested too deeply", "flatten the document") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(text: str, path: Path | str, what: str, fix: str) -> Any:
    """Parse strict JSON: `NaN`/`Infinity` and deep nesting are errors naming the file and line."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise content_error(path, f"{what} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})",
                            fix, exc.lineno) from None
    except ValueError as exc:
        raise content_error(path, f"{what} is not valid JSON: {exc}", fix) from None
    except RecursionError:
        raise content_error(path, f"{what} is nested too deeply", fix) from None


def finite_json(data: Any) -> str:
    """JSON for stdout: a non-finite float would print `Infinity`, which no JSON parser accepts."""
    return json.dumps(jsonable(data), allow_nan=False)


def jsonable(value: Any) -> Any:
    """`value` with non-finite floats as strings and unknown objects as their `str`, for JSON output."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` for a temporary file beside `path`, then rename it over `path` in one step."""
    _check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_target(path: Path) -> None:
    """An output path names a file to (re)place, below directories: say which part is something else."""
    for parent in path.parents:
        kind = kind_of(parent)
        if kind == "a directory":
            break
        if kind != "missing":
            raise UsageError(f"{path}: cannot write the output there, {parent} is {kind or 'a file'}, not a "
                             "directory — fix: pass a path below a directory")
    kind = kind_of(path)
    if kind not in (None, "missing"):
        raise UsageError(f"{path}: cannot write the output there, it is {kind} — fix: pass a file path")


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
