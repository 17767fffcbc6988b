"""The console's configuration: a good file loads with its defaults; a bad one is refused with
every problem named, one per line, unknown keys first with the key they resemble."""

from __future__ import annotations

from pathlib import Path

import pytest

from focalpoint.console.config import load_console_config
from focalpoint.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "console.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_loopback_console_needs_no_tls_and_takes_the_defaults(tmp_path: Path) -> None:
    config = load_console_config(write(tmp_path, "listen: {port: 8080}\nnode: {local_api: '127.0.0.1:7402'}\n"))
    assert (config.host, config.port, config.tls) == ("127.0.0.1", 8080, False)
    assert config.node_local_api == "127.0.0.1:7402"
    assert (config.languages, config.default_language) == (("en", "fr", "ar"), "en")
    assert (config.timezone, config.page_size, config.public_origin) == ("UTC", 25, "")


def test_tls_files_are_resolved_beside_the_file(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    config = load_console_config(
        write(
            tmp_path,
            "listen: {host: 0.0.0.0, port: 443}\ntls: {certificate: c.pem, private_key: k.pem}\n"
            "node: {local_api: 'localhost:7402'}\nlanguages: {offered: [fr, ar], default: ar}\n",
        )
    )
    assert config.tls
    assert config.tls_certificate == tmp_path / "c.pem"
    assert (config.languages, config.default_language) == (("fr", "ar"), "ar")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "listen: {host: 10.1.2.3, port: 99999}\n"
        "node: {local_api: '10.0.0.5:7402', timout_seconds: 3}\n"
        "languages: {offered: [en, xx-nonsense-tag], default: de}\n"
        "timezone: Mars/Olympus\npage_size: 2\npublic_origin: 'https://x.org/path'\n",
    )
    with pytest.raises(ConfigError) as refused:
        load_console_config(path)
    lines = str(refused.value).splitlines()
    assert lines[0] == f"{path}: node.timout_seconds: unknown key (did you mean timeout_seconds?)"
    text = "\n".join(lines)
    for expected in (
        "listen.port: expected an integer in [0, 65535], got 99999",
        "tls: required when listen.host is not loopback ('10.1.2.3')",
        "node.local_api: expected a loopback address",
        "languages.offered: expected languages CLDR knows",
        "timezone: expected an IANA time zone",
        "page_size: expected an integer in [5, 200], got 2",
        "public_origin: expected scheme://host[:port] with no path",
    ):
        assert expected in text, expected


def test_half_a_tls_pair_a_missing_node_and_an_unoffered_default_are_refused(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("x")
    path = write(tmp_path, "listen: {}\ntls: {certificate: c.pem}\nlanguages: {offered: [en, fr], default: ar}\n")
    with pytest.raises(ConfigError) as refused:
        load_console_config(path)
    text = str(refused.value)
    assert "tls.private_key: required with tls.certificate" in text
    assert f"{path}: node: required key is missing" in text
    assert "languages.default: expected one of the offered languages ['en', 'fr'], got 'ar'" in text


def test_a_missing_file_and_bad_yaml_are_one_line_each(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_console_config(tmp_path / "nothing.yaml")
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 2"):
        load_console_config(write(tmp_path, "listen: [\n"))
