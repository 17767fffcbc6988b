"""Node configuration (focalpoint.server.config): every error names the file and the key."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from focalpoint.errors import ConfigError
from focalpoint.server.config import NodeConfig, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "node.example.yaml"

VALID: dict[str, Any] = {
    "node": {"id": "gr-ekka", "keys_file": "keys/node.keys", "passphrase_env": "FOCALPOINT_PASSPHRASE"},
    "listen": {"peer": "0.0.0.0:7401", "local": "127.0.0.1:7402"},
    "storage": {"database": "data/node.sqlite"},
    "directory": {
        "root": "directory/root.1.fpd",
        "bundle": "directory/bundle.fpd",
        "servers": ["directory.example.org:7480", "[2001:db8::5]:7480"],
        "refresh_seconds": 15,
        "expiry_warning_hours": 72,
    },
    "delivery": {"max_envelope_bytes": 65536, "batch_size": 64, "retry_initial_seconds": 1, "retry_max_seconds": 60},
    "logging": {"format": "json", "level": "debug"},
}

Edit = Callable[[dict[str, Any]], None]


def write_config(directory: Path, data: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "node.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def edited(edit: Edit) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    edit(data)
    return data


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as failed:
        load_config(path)
    message = str(failed.value)
    assert str(path.resolve()) in message
    return message


def test_valid_config_loads_every_field(tmp_path: Path) -> None:
    """A complete, valid file loads into NodeConfig with every value as written."""
    path = write_config(tmp_path / "etc", VALID)
    config = load_config(path)
    assert config.source == path.resolve()
    assert config.node_id == "gr-ekka"
    assert config.passphrase_env == "FOCALPOINT_PASSPHRASE"
    assert (config.listen_peer, config.listen_local) == ("0.0.0.0:7401", "127.0.0.1:7402")
    assert config.directory.servers == ("directory.example.org:7480", "[2001:db8::5]:7480")
    assert config.directory.refresh_seconds == 15
    assert config.directory.expiry_warning_hours == 72
    assert config.delivery.max_envelope_bytes == 65536
    assert config.delivery.batch_size == 64
    assert (config.delivery.retry_initial_seconds, config.delivery.retry_max_seconds) == (1, 60)
    assert (config.log_format, config.log_level) == ("json", "debug")


def test_relative_paths_resolve_against_the_config_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths are resolved against the config file's directory, not the working directory."""
    etc = tmp_path / "etc"
    path = write_config(etc, VALID)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(Path("..") / "etc" / "node.yaml")
    base = etc.resolve()
    assert config.source == path.resolve()
    assert config.keys_file == base / "keys" / "node.keys"
    assert config.database == base / "data" / "node.sqlite"
    assert config.directory.root == base / "directory" / "root.1.fpd"
    assert config.directory.bundle == base / "directory" / "bundle.fpd"


@pytest.mark.parametrize(
    ("section", "key", "read"),
    [
        pytest.param("storage", "database", lambda c: c.database, id="storage.database"),
        pytest.param("node", "keys_file", lambda c: c.keys_file, id="node.keys_file"),
        pytest.param("directory", "root", lambda c: c.directory.root, id="directory.root"),
        pytest.param("directory", "bundle", lambda c: c.directory.bundle, id="directory.bundle"),
    ],
)
def test_absolute_paths_are_kept(tmp_path: Path, section: str, key: str, read: Callable[[NodeConfig], Path]) -> None:
    """An absolute path is used as written."""
    absolute = Path("/var/lib/focalpoint") / f"{key}.bin"
    path = write_config(tmp_path, edited(put(section, key, value=str(absolute))))
    assert read(load_config(path)) == absolute


def test_optional_sections_take_defaults(tmp_path: Path) -> None:
    """Without delivery, logging, passphrase_env, servers, refresh and expiry warning, the documented defaults apply."""

    def strip(d: dict[str, Any]) -> None:
        del d["delivery"], d["logging"], d["node"]["passphrase_env"]
        del d["directory"]["servers"], d["directory"]["refresh_seconds"], d["directory"]["expiry_warning_hours"]

    config = load_config(write_config(tmp_path, edited(strip)))
    assert config.passphrase_env is None
    assert config.directory.servers == ()
    assert config.directory.refresh_seconds == 30.0
    assert config.directory.expiry_warning_hours == 6.0
    assert config.delivery.max_envelope_bytes == 1 << 20
    assert config.delivery.message_ttl_seconds == 14 * 86400
    assert config.delivery.clock_skew_seconds == 120
    assert (config.log_format, config.log_level) == ("console", "info")


def test_example_config_loads() -> None:
    """config/node.example.yaml is valid as shipped (its key files need not exist to load it)."""
    config = load_config(EXAMPLE)
    assert config.node_id == "gr-ekka"
    assert config.listen_peer == "0.0.0.0:7401"
    base = EXAMPLE.parent.resolve()
    assert config.keys_file == base / "keys" / "node.keys"
    assert config.directory.root == base / "directory" / "root.1.fpd"
    assert config.directory.bundle == base / "directory" / "bundle.fpd"
    assert config.directory.servers == ()
    assert (config.directory.refresh_seconds, config.directory.expiry_warning_hours) == (30, 6)
    assert config.delivery.message_ttl_seconds == 1209600


def delete(*keys: str) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        target = d
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def put(*keys: str, value: object) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        target = d
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(delete("node"), "node: required key is missing", id="node"),
        pytest.param(delete("node", "id"), "node.id: required key is missing", id="node.id"),
        pytest.param(delete("node", "keys_file"), "node.keys_file: required key is missing", id="node.keys_file"),
        pytest.param(delete("listen"), "listen: required key is missing", id="listen"),
        pytest.param(delete("listen", "peer"), "listen.peer: required key is missing", id="listen.peer"),
        pytest.param(delete("listen", "local"), "listen.local: required key is missing", id="listen.local"),
        pytest.param(delete("storage", "database"), "storage.database: required key is missing", id="database"),
        pytest.param(delete("directory"), "directory: required key is missing", id="directory"),
        pytest.param(delete("directory", "root"), "directory.root: required key is missing", id="directory.root"),
    ],
)
def test_missing_key_is_named(tmp_path: Path, edit: Edit, expected: str) -> None:
    """A missing required key is reported with the file and the key's dotted path."""
    assert expected in config_error(write_config(tmp_path, edited(edit)))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(put("loging", value={"level": "info"}), "loging: unknown key", id="top-level"),
        pytest.param(put("node", "keys-file", value="x"), "node.keys-file: unknown key", id="node"),
        pytest.param(
            put("directory", "refresh_second", value=5), "directory.refresh_second: unknown key", id="directory"
        ),
        # The single-document directory's keys (before issue 3) must not be silently ignored.
        pytest.param(
            put("directory", "path", value="directory/directory.fpd"), "directory.path: unknown key", id="old-path"
        ),
        pytest.param(
            put("directory", "trusted_keys", value=["admin.pub.json"]),
            "directory.trusted_keys: unknown key",
            id="old-trusted_keys",
        ),
        pytest.param(put("directory", "threshold", value=1), "directory.threshold: unknown key", id="old-threshold"),
        pytest.param(put("delivery", "batchsize", value=5), "delivery.batchsize: unknown key", id="delivery"),
        pytest.param(put("logging", "colour", value=True), "logging.colour: unknown key", id="logging"),
        pytest.param(put("listen", "admin", value="127.0.0.1:1"), "listen.admin: unknown key", id="listen"),
    ],
)
def test_unknown_key_is_an_error(tmp_path: Path, edit: Edit, expected: str) -> None:
    """A typo is an error naming the key, never silently replaced by a default."""
    assert expected in config_error(write_config(tmp_path, edited(edit)))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            lambda d: d["node"].update({"keys-file": d["node"].pop("keys_file")}),
            "node.keys-file: unknown key (did you mean keys_file?)",
            id="required-key-misspelt",
        ),
        pytest.param(
            lambda d: d.update({"directroy": d.pop("directory")}),
            "directroy: unknown key (did you mean directory?)",
            id="required-section-misspelt",
        ),
        pytest.param(
            put("delivery", "retry_intial_seconds", value=1),
            "delivery.retry_intial_seconds: unknown key (did you mean retry_initial_seconds?)",
            id="optional-key-misspelt",
        ),
        pytest.param(put("loging", value={}), "loging: unknown key (did you mean logging?)", id="optional-section"),
        pytest.param(put("colour", value=True), "colour: unknown key", id="nothing-like-it"),
    ],
)
def test_a_mistyped_key_is_reported_as_unknown_with_the_key_it_resembles_and_nothing_else(
    tmp_path: Path, edit: Edit, expected: str
) -> None:
    """A typo is one problem, 'unknown key (did you mean …?)', not also the required key it was meant to be."""
    path = write_config(tmp_path, edited(edit))
    assert config_error(path) == f"{path.resolve()}: {expected}"


def test_every_problem_is_reported_at_once_unknown_keys_first_one_per_line(tmp_path: Path) -> None:
    """All problems of a file come in one error, one line each naming the file and the key: unknown keys first."""

    def break_many(d: dict[str, Any]) -> None:
        d["listen"]["peer"] = "localhost"
        del d["storage"]["database"]
        d["delivery"]["batchsize"] = 5
        d["delivery"]["retry_max_seconds"] = 0.5
        d["logging"]["level"] = "verbose"
        d["loging"] = {}

    path = write_config(tmp_path, edited(break_many))
    where = str(path.resolve())
    assert config_error(path).splitlines() == [
        f"{where}: delivery.batchsize: unknown key (did you mean batch_size?)",
        f"{where}: loging: unknown key (did you mean logging?)",
        f"{where}: listen.peer: expected host:port, e.g. 127.0.0.1:7401, got 'localhost'",
        f"{where}: storage.database: required key is missing",
        f"{where}: delivery.retry_max_seconds: must be ≥ retry_initial_seconds",
        f"{where}: logging.level: expected one of debug, info, warning, error, got 'verbose'",
    ]


def test_a_missing_section_is_one_problem_not_one_per_required_key(tmp_path: Path) -> None:
    """Without the node section, the error says so once; node.id and node.keys_file are not listed as well."""
    path = write_config(tmp_path, edited(delete("node")))
    assert config_error(path) == f"{path.resolve()}: node: required key is missing"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(put("node", value="gr-ekka"), "node: expected a mapping, got 'gr-ekka'", id="section-scalar"),
        pytest.param(put("delivery", value=[1]), "delivery: expected a mapping", id="optional-section-list"),
        pytest.param(put("node", "id", value=5), "node.id: expected a lowercase DNS label", id="id-int"),
        pytest.param(put("node", "keys_file", value=5), "node.keys_file: expected a file path, got 5", id="path-int"),
        pytest.param(
            put("node", "passphrase_env", value="my passphrase"),
            "node.passphrase_env: expected an environment variable name",
            id="passphrase-env",
        ),
        pytest.param(put("directory", value="bundle.fpd"), "directory: expected a mapping", id="directory-scalar"),
        pytest.param(put("directory", "root", value=5), "directory.root: expected a file path, got 5", id="root-int"),
        pytest.param(
            put("directory", "root", value=["root.1.fpd"]), "directory.root: expected a file path", id="root-list"
        ),
        pytest.param(put("directory", "root", value=None), "directory.root: expected a file path", id="root-null"),
        pytest.param(
            put("directory", "bundle", value=5), "directory.bundle: expected a file path, got 5", id="bundle-int"
        ),
        pytest.param(
            put("directory", "bundle", value=None), "directory.bundle: expected a file path", id="bundle-null"
        ),
        pytest.param(
            put("directory", "servers", value="directory.example.org:7480"),
            "directory.servers: expected a list of host:port",
            id="servers-string",
        ),
        pytest.param(
            put("directory", "servers", value=["directory.example.org"]),
            "directory.servers: expected a list of host:port",
            id="servers-no-port",
        ),
        pytest.param(
            put("directory", "servers", value=[7480]),
            "directory.servers: expected a list of host:port",
            id="servers-int",
        ),
        pytest.param(
            put("directory", "refresh_seconds", value="fast"), "directory.refresh_seconds: expected a number", id="num"
        ),
        pytest.param(
            put("directory", "refresh_seconds", value=True), "directory.refresh_seconds: expected a number", id="bool"
        ),
        pytest.param(
            put("directory", "refresh_seconds", value=0),
            "directory.refresh_seconds: expected a number in [0.1, 86400], got 0",
            id="refresh-zero",
        ),
        pytest.param(
            put("directory", "refresh_seconds", value=0.09), "directory.refresh_seconds: expected a number in", id="low"
        ),
        pytest.param(
            put("directory", "refresh_seconds", value=86401),
            "directory.refresh_seconds: expected a number in",
            id="refresh-high",
        ),
        pytest.param(
            put("directory", "expiry_warning_hours", value="2 days"),
            "directory.expiry_warning_hours: expected a number",
            id="expiry-str",
        ),
        pytest.param(
            put("directory", "expiry_warning_hours", value=False),
            "directory.expiry_warning_hours: expected a number",
            id="expiry-bool",
        ),
        pytest.param(
            put("directory", "expiry_warning_hours", value=-1),
            "directory.expiry_warning_hours: expected a number in [0, 8760], got -1",
            id="expiry-negative",
        ),
        pytest.param(
            put("directory", "expiry_warning_hours", value=8760.5),
            "directory.expiry_warning_hours: expected a number in",
            id="expiry-high",
        ),
        pytest.param(
            put("delivery", "max_envelope_bytes", value=100),
            "delivery.max_envelope_bytes: expected an integer in [4096",
            id="envelope-too-small",
        ),
        pytest.param(
            put("delivery", "message_ttl_seconds", value=31 * 86400),
            "delivery.message_ttl_seconds: expected an integer in",
            id="ttl-beyond-max-lifetime",
        ),
        pytest.param(put("logging", "format", value="xml"), "logging.format: expected 'console' or 'json'", id="fmt"),
        pytest.param(put("logging", "level", value="verbose"), "logging.level: expected one of", id="level"),
    ],
)
def test_wrong_type_or_range_is_named(tmp_path: Path, edit: Edit, expected: str) -> None:
    """A value of the wrong type or out of range is reported with its key and what was expected."""
    assert expected in config_error(write_config(tmp_path, edited(edit)))


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param("peer", "localhost", "listen.peer: expected host:port", id="no-port"),
        pytest.param("peer", "127.0.0.1:", "listen.peer: expected host:port", id="empty-port"),
        pytest.param("peer", "127.0.0.1:123456", "listen.peer: expected host:port", id="six-digit-port"),
        pytest.param("local", "127.0.0.1:70000", "listen.local: expected a port in [0, 65535]", id="port-range"),
        pytest.param("local", "http://127.0.0.1:7402", "listen.local: expected host:port", id="url"),
        pytest.param("local", 7402, "listen.local: expected host:port", id="int"),
        pytest.param("peer", "127.0.0.1:7402", "listen.local: must differ from listen.peer", id="same-as-peer"),
    ],
)
def test_bad_host_port_is_named(tmp_path: Path, key: str, value: object, expected: str) -> None:
    """Listen addresses must be host:port with a valid port, and the two must differ."""
    assert expected in config_error(write_config(tmp_path, edited(put("listen", key, value=value))))


@pytest.mark.parametrize("peer", ["[::1]:7401", "[2001:db8::1]:7401", "node.example.org:7401"])
def test_peer_address_forms_are_accepted(tmp_path: Path, peer: str) -> None:
    """The peer service may listen on a host name or a bracketed IPv6 literal."""
    path = write_config(tmp_path, edited(put("listen", "peer", value=peer)))
    assert load_config(path).listen_peer == peer


@pytest.mark.parametrize("local", ["127.0.0.1:7402", "127.0.0.2:7402", "[::1]:7402", "localhost:7402"])
def test_local_api_on_loopback_is_accepted(tmp_path: Path, local: str) -> None:
    """The local API may listen on any loopback address."""
    path = write_config(tmp_path, edited(put("listen", "local", value=local)))
    assert load_config(path).listen_local == local


@pytest.mark.parametrize("local", ["0.0.0.0:7402", "192.0.2.10:7402", "[::]:7402", "node.example.org:7402"])
def test_local_api_off_loopback_is_refused(tmp_path: Path, local: str) -> None:
    """The plaintext local API must not listen beyond loopback."""
    message = config_error(write_config(tmp_path, edited(put("listen", "local", value=local))))
    assert "listen.local: expected a loopback address" in message


@pytest.mark.parametrize("node_id", ["GR-EKKA", "gr_ekka", "-gr", "gr-", "", "a" * 64, "gr ekka"])
def test_bad_node_id_is_named(tmp_path: Path, node_id: str) -> None:
    """The node id must be a lowercase DNS label (it is also the TLS certificate's name)."""
    message = config_error(write_config(tmp_path, edited(put("node", "id", value=node_id))))
    assert "node.id: expected a lowercase DNS label" in message


def test_directory_without_bundle_or_servers_is_refused(tmp_path: Path) -> None:
    """A node with neither a bundle file nor directory servers could never get a directory; it is refused."""

    def strip(d: dict[str, Any]) -> None:
        del d["directory"]["bundle"], d["directory"]["servers"]

    message = config_error(write_config(tmp_path, edited(strip)))
    assert "directory: give a bundle file, directory servers, or both" in message


def test_empty_server_list_without_bundle_is_refused(tmp_path: Path) -> None:
    """An empty server list counts as no source at all."""
    data = edited(put("directory", "servers", value=[]))
    del data["directory"]["bundle"]
    assert "directory: give a bundle file, directory servers, or both" in config_error(write_config(tmp_path, data))


@pytest.mark.parametrize(
    ("remove", "bundle", "servers"),
    [
        pytest.param("servers", "bundle.fpd", (), id="bundle-only"),
        pytest.param("bundle", None, ("directory.example.org:7480", "[2001:db8::5]:7480"), id="servers-only"),
    ],
)
def test_either_directory_source_is_enough(
    tmp_path: Path, remove: str, bundle: str | None, servers: tuple[str, ...]
) -> None:
    """A bundle file alone or directory servers alone is a complete directory source."""
    config = load_config(write_config(tmp_path, edited(delete("directory", remove))))
    assert config.directory.bundle == (None if bundle is None else tmp_path.resolve() / "directory" / bundle)
    assert config.directory.servers == servers


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("refresh_seconds", 0.1, id="refresh-min"),
        pytest.param("refresh_seconds", 86400, id="refresh-max"),
        pytest.param("expiry_warning_hours", 0, id="expiry-min"),
        pytest.param("expiry_warning_hours", 8760, id="expiry-max"),
    ],
)
def test_directory_timing_bounds_are_inclusive(tmp_path: Path, key: str, value: float) -> None:
    """The documented ends of refresh_seconds and expiry_warning_hours are themselves accepted."""
    directory = load_config(write_config(tmp_path, edited(put("directory", key, value=value)))).directory
    assert getattr(directory, key) == value


def test_retry_max_below_initial_is_refused(tmp_path: Path) -> None:
    """The retry back-off cannot start above its own ceiling."""
    data = edited(put("delivery", "retry_max_seconds", value=0.5))
    assert "delivery.retry_max_seconds: must be ≥ retry_initial_seconds" in config_error(write_config(tmp_path, data))


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is reported with its line and column."""
    path = tmp_path / "node.yaml"
    path.write_text("node:\n  id: gr-ekka\n   keys_file: keys/node.keys\n", encoding="utf-8")
    assert "not valid YAML (line 3, column" in config_error(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("- node\n- listen\n", "got list", id="list"),
        pytest.param("gr-ekka\n", "got str", id="scalar"),
        pytest.param("", "got NoneType", id="empty"),
    ],
)
def test_non_mapping_top_level_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    """The top level must be a mapping; the error says what arrived instead."""
    path = tmp_path / "node.yaml"
    path.write_text(text, encoding="utf-8")
    message = config_error(path)
    assert "expected a mapping at the top level" in message
    assert expected in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A config file that does not exist is a ConfigError naming it."""
    assert "configuration file not found" in config_error(tmp_path / "absent.yaml")


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a ConfigError, not a UnicodeDecodeError."""
    path = tmp_path / "node.yaml"
    path.write_bytes(b"node:\n  id: \xff\xfe\n")
    assert "cannot read" in config_error(path)


def test_unknown_non_string_keys_are_config_errors(tmp_path: Path) -> None:
    """Unknown keys that YAML parses as non-strings ('on:' is True) are still reported as ConfigError."""
    path = write_config(tmp_path, VALID)
    path.write_text(path.read_text(encoding="utf-8") + "on: 1\nfoo: 2\n", encoding="utf-8")
    assert "unknown key" in config_error(path)


def test_node_id_with_trailing_newline_is_refused(tmp_path: Path) -> None:
    """A node id is a DNS label only: a trailing newline is refused."""
    message = config_error(write_config(tmp_path, edited(put("node", "id", value="gr-ekka\n"))))
    assert "node.id" in message
