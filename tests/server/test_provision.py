"""Provisioning a node (focalpoint.server.provision): the entry it exports names an officially assigned
State and valid language tags, or nothing is written and the refusal says what was expected."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from focalpoint.errors import ConfigError
from focalpoint.server.provision import init_node_dir

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def _init(home: Path, *, state: str = "GR", languages: tuple[str, ...] = ("el", "en")) -> None:
    init_node_dir(
        home,
        node_id="gr-ekka",
        state=state,
        institution="EKKA",
        endpoint="127.0.0.1:7401",
        languages=list(languages),
        passphrase=None,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("state", "languages", "match"),
    [
        pytest.param("UK", ("en",), "state 'UK': expected an officially assigned ISO 3166-1", id="state-UK"),
        pytest.param("ZZ", ("en",), "state 'ZZ': .*user-assigned", id="state-ZZ"),
        pytest.param("GR", ("el", "en_GB"), "languages: 'en_GB': expected a BCP 47", id="language-underscore"),
        pytest.param("GR", ("xx",), "languages: 'xx': expected a BCP 47 .*unregistered", id="language-unregistered"),
    ],
)
def test_init_refuses_a_state_or_language_the_directory_would_refuse_and_writes_nothing(
    tmp_path: Path, state: str, languages: tuple[str, ...], match: str
) -> None:
    """UK (the code is GB), ZZ, en_GB and xx are refused before any key file exists."""
    with pytest.raises(ConfigError, match=match):
        _init(tmp_path / "keys", state=state, languages=languages)
    assert not (tmp_path / "keys" / "node.keys").exists()


def test_init_accepts_an_assigned_state_and_valid_language_tags(tmp_path: Path) -> None:
    """GB with en-GB and a script-tagged language is a valid entry."""
    _init(tmp_path / "keys", state="GB", languages=("en-GB", "sr-Latn"))
    assert (tmp_path / "keys" / "node.keys").exists()


def test_node_init_on_the_command_line_refuses_uk_with_one_clear_line(tmp_path: Path) -> None:
    """`focalpoint node init --state UK` fails with one line saying an officially assigned code was expected."""
    home = tmp_path / "keys"
    args = ["node", "init", "--dir", str(home), "--node-id", "gb-x", "--institution", "X", "--endpoint", "h:1"]
    result = subprocess.run(
        [sys.executable, "-m", "focalpoint", *args, "--state", "UK", "--language", "en"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("focalpoint: error: ")
    assert "state 'UK': expected an officially assigned ISO 3166-1 alpha-2 code" in line
    assert not (home / "node.keys").exists()
