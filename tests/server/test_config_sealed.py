"""The ``sealed_files`` section of a node's configuration: its defaults, each value checked with
a message naming it, and a file-only partner the directory does not know refused at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from focalpoint.errors import ConfigError
from focalpoint.localnet import LocalNetwork
from focalpoint.server.config import SealedFilesConfig, load_config
from focalpoint.server.node import Node
from focalpoint.storage.memory import MemoryStore
from tests.server.test_config import VALID, config_error, edited, write_config


def _with(section: dict[str, Any]) -> dict[str, Any]:
    def edit(data: dict[str, Any]) -> None:
        data["sealed_files"] = section

    return edited(edit)


def test_defaults_without_the_section(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, VALID)).sealed_files == SealedFilesConfig()
    assert SealedFilesConfig().file_only == frozenset()


def test_a_valid_section(tmp_path: Path) -> None:
    got = load_config(
        write_config(
            tmp_path,
            _with({"file_only": ["al-shss", "it-dgi"], "max_file_bytes": 8 << 20, "file_lifetime_seconds": 7 * 86400}),
        )
    ).sealed_files
    assert got == SealedFilesConfig(frozenset({"al-shss", "it-dgi"}), 8 << 20, 7 * 86400)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"file_only": "al-shss"}, "sealed_files.file_only: expected a list of partner node ids"),
        ({"file_only": ["Not A Node"]}, "sealed_files.file_only: expected a list of partner node ids"),
        ({"file_only": ["gr-ekka"]}, "sealed_files.file_only: expected partners only, not this node's own id"),
        ({"file_only": ["al-shss", "al-shss"]}, "sealed_files.file_only: expected each partner once"),
        ({"max_file_bytes": 1000}, "sealed_files.max_file_bytes: expected an integer in [1048576, 62914560]"),
        ({"file_lifetime_seconds": 31 * 86400}, "sealed_files.file_lifetime_seconds: expected an integer in"),
        ({"file_only": [], "courier": "bob"}, "sealed_files.courier: unknown key"),
    ],
)
def test_each_wrong_value_is_named(tmp_path: Path, section: dict[str, Any], expected: str) -> None:
    assert expected in config_error(write_config(tmp_path, _with(section)))


async def test_a_file_only_partner_the_directory_does_not_know_is_refused_at_start(network: LocalNetwork) -> None:
    path = network.nodes["gr-ekka"].config_path
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["sealed_files"] = {"file_only": ["al-shss", "zz-gone"]}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sealed_files\.file_only names zz-gone, not in directory version"):
        await Node.open(load_config(path), store=MemoryStore())
