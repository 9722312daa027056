"""How `make test` hands work to its xdist workers (used by tests/conftest.py): `xdist_group` names as the
`--dist loadgroup` scheduler reads them, and the order work units are handed out in."""

from __future__ import annotations

import pytest
from _pytest.nodeid import NodeId


def name_group(item: pytest.Item) -> None:
    """Suffix the node id with its `xdist_group` names (`…@moto`), which is how the worker tells the scheduler
    which tests form one work unit. pytest-xdist 3.8 writes the suffix to `item._nodeid`, which pytest 9.2's
    structured node ids no longer read, so without this every group is silently split across the workers
    (each worker then starts the group's servers and plans again): pytest-dev/pytest-xdist#1386. Does nothing
    where xdist's own suffix took effect."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    suffix = f"@{'_'.join(names)}"
    if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
        item._id = NodeId.parse(item.nodeid + suffix)


#: The longest tests of the suite (each runs a generated project's whole suite, some in a venv of their own).
LONGEST = ("tests/template/test_generated_slow.py::",)


def longest_first(item: pytest.Item) -> tuple[bool, bool, bool]:
    """The generated projects' suites, then other slow tests, then grouped tests (a group is one work unit
    with a shared server or render: the costliest units after the slow ones), then the rest."""
    return (not item.nodeid.startswith(LONGEST), item.get_closest_marker("slow") is None,
            item.get_closest_marker("xdist_group") is None)
