"""How `make test` hands tests to its xdist workers (tests/xdist_groups.py): an `xdist_group` is one work unit."""

from __future__ import annotations

import pytest
from xdist_groups import longest_first, name_group

GROUP = "suite-scheduling"


@pytest.mark.xdist_group(GROUP)
def test_a_grouped_test_tells_the_scheduler_its_group(request: pytest.FixtureRequest) -> None:
    """pytest 9.2 with pytest-xdist 3.8 dropped every group silently (pytest-dev/pytest-xdist#1386): each
    grouped module then started its servers and planned on both workers. Under `make test` this test's own id
    carries its group; everywhere, a fresh item with two groups gets both names once, however often it is asked."""
    if getattr(request.config.option, "loadgroup", False):  # a worker of `--dist loadgroup`
        assert request.node.nodeid.endswith(f"@{GROUP}"), request.node.nodeid
    item = pytest.Function.from_parent(request.node.parent, name="test_fresh", callobj=lambda: None)
    item.add_marker(pytest.mark.xdist_group("b"))
    item.add_marker(pytest.mark.xdist_group(name="a"))
    name_group(item)
    name_group(item)
    assert item.nodeid == f"{request.node.nodeid.partition('::')[0]}::test_fresh@a_b"


def test_the_costliest_work_units_are_handed_out_first(request: pytest.FixtureRequest) -> None:
    """xdist hands out units in collection order (`--no-loadscope-reorder`): the generated projects' suites,
    then the other slow tests, then grouped units, then single quick tests, so no costly unit is taken last."""
    keys = [longest_first(item) for item in request.session.items]
    assert keys == sorted(keys)
