"""Encodings: bytes that are not UTF-8 in every file the CLI reads — one clear error naming the file and
the offending byte, never UnicodeDecodeError (issue #11: a non-UTF-8 waivers file crashed review)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlops_platform.core.errors import ConfigError
from mlops_platform.core.files import read_text

from .conftest import Cli, unchanged
from .test_unreadable import READERS

LATIN1 = "config:\n  mlops-platform:environment:\n    owners: [jos\xe9@example.com]\n".encode("latin-1")


def _not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=512).filter(_not_utf8))
def test_any_non_utf8_bytes_are_reported_with_the_offset(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=r"not a UTF-8 text file \(byte 0x[0-9a-f]{2} at offset \d+\)"):
        read_text(path, "stack file", "save it as UTF-8")


@pytest.mark.parametrize("payload", [
    pytest.param(LATIN1, id="latin-1"),
    pytest.param("waivers: []\n".encode("utf-16"), id="utf-16-bom"),
    pytest.param(b"\xff\xfe\x00garbage", id="binary"),
])
@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_reports_a_non_utf8_file(cli: Cli, tmp_path: Path, reader: str, payload: bytes) -> None:
    name, argv, _ = READERS[reader]
    (tmp_path / "ok.json").write_text('{"stack": "dev", "resources": [], "outputs": {}}')
    target = tmp_path / "in" / name
    target.parent.mkdir()
    target.write_bytes(payload)
    expected = {"waivers": 1, "answers": 6}.get(reader, 3)  # waivers: exit 1 as any bad waiver; fleet: 6
    with unchanged(tmp_path):
        result = cli(*argv(target, tmp_path), code=expected)
    assert "not a UTF-8 text file" in result.text.replace("\n", " ")
    assert "save it as UTF-8" in result.text.replace("\n", " ")


@pytest.mark.parametrize("value", ["2001-13-01", "1" * 5000])
def test_a_value_yaml_cannot_construct_is_a_clear_error(value: str) -> None:
    """A 13th month or an int past Python's digit limit: an error naming the file, never an internal one."""
    from mlops_platform.core.files import COPIER_YAML, load_yaml

    for typ in ("safe", COPIER_YAML):
        with pytest.raises(ConfigError, match=r"answers\.yml.*cannot be read"):
            load_yaml(f"_commit: {value}\n", "answers.yml", "answers file", typ)
