"""Issue 23 item 18: inputs that reached users as a traceback or a wrong message, now one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabench.config import ConfigError, Settings, parse_env_file


def test_an_env_file_with_a_utf8_bom_reads_its_first_key(tmp_path: Path) -> None:
    """Windows editors start a UTF-8 file with a BOM: it was read into the first key's name
    ("bom.env:1: not a KEY=VALUE line")."""
    env = tmp_path / "bom.env"
    env.write_bytes(b"\xef\xbb\xbfLAMBDA_API_KEY=abc123secretkey\nNGC_API_KEY=n\n")
    assert parse_env_file(env) == {"LAMBDA_API_KEY": "abc123secretkey", "NGC_API_KEY": "n"}


@pytest.mark.parametrize("key", ["clé-secret-123456", "secret\u2013dash-123456", "secret\u00a0nbsp-123456"])
def test_a_non_ascii_api_key_is_one_line_that_never_shows_the_key(tmp_path: Path, key: str) -> None:
    """It was "internal error: UnicodeEncodeError …" from the HTTP header."""
    settings = Settings.load(env={"LAMBDA_API_KEY": key, "HOME": str(tmp_path)}, cwd=tmp_path)
    with pytest.raises(ConfigError) as info:
        settings.require_api_key()
    line = info.value.one_line()
    assert "LAMBDA_API_KEY" in line and "\n" not in line and "secret" not in line
