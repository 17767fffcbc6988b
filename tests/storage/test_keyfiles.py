"""Private key files of nodes and administrators (focalpoint.storage.keyfiles)."""

from __future__ import annotations

import datetime as dt
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from directory import check_entry_export
from focalpoint.admin.keys import generate_admin_key
from focalpoint.crypto.signing import AdminVerifier, Context, Ed25519Signer
from focalpoint.errors import ConfigError, FocalpointError, VerificationError
from focalpoint.server.provision import InitResult, init_node_dir, node_entry_export
from focalpoint.storage.keyfiles import NodeKeys, load_admin_key, load_node_keys, read_secret_file, write_secret_file
from focalpoint.v1 import directory_pb2, keystore_pb2

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
PASSPHRASE = "correct horse battery staple"


def init(directory: Path, *, passphrase: str | None = None, state: str = "GR") -> InitResult:
    return init_node_dir(
        directory,
        node_id="gr-ekka",
        state=state,
        institution="EKKA",
        endpoint="127.0.0.1:7401",
        languages=["el", "en"],
        passphrase=passphrase,
        now=NOW,
    )


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_key_copy(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Write ``data`` to ``path`` (replacing it) with exactly ``mode``."""
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


@dataclass(frozen=True)
class Homes:
    plain: InitResult
    protected: InitResult
    scratch: Path


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Homes:
    """One node directory without a passphrase and one protected by PASSPHRASE."""
    root = tmp_path_factory.mktemp("keystore")
    scratch = root / "scratch"
    scratch.mkdir()
    return Homes(init(root / "plain" / "keys"), init(root / "protected" / "keys", passphrase=PASSPHRASE), scratch)


@pytest.fixture(scope="module")
def plain_keys(homes: Homes) -> NodeKeys:
    return load_node_keys(homes.plain.key_file, None)


# --- init_node_dir ----------------------------------------------------------------------------


def test_init_writes_owner_only_files(homes: Homes) -> None:
    """Key and token files are created 0600 in a 0700 directory; the public entry is written as JSON."""
    result = homes.plain
    assert mode_of(result.key_file) == 0o600
    assert mode_of(result.token_file) == 0o600
    assert mode_of(result.key_file.parent) == 0o700
    written = json_format.Parse(result.entry_file.read_text(encoding="utf-8"), directory_pb2.NodeEntryExport())
    assert written == result.export


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    """Initialising the same directory twice is refused and the existing keys are untouched."""
    first = init(tmp_path / "keys")
    before = first.key_file.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        init(tmp_path / "keys")
    assert first.key_file.read_bytes() == before


def test_init_validates_the_entry_before_writing(tmp_path: Path) -> None:
    """An entry the directory would refuse (bad state code) is refused before any key is written."""
    with pytest.raises(ConfigError, match="node entry 'gr-ekka': state"):
        init(tmp_path / "keys", state="Greece")
    assert not (tmp_path / "keys" / "node.keys").exists()


def test_write_secret_file_refuses_to_overwrite(tmp_path: Path) -> None:
    """write_secret_file never replaces an existing file."""
    path = tmp_path / "secret"
    write_secret_file(path, b"first")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        write_secret_file(path, b"second")
    assert path.read_bytes() == b"first"
    assert mode_of(path) == 0o600


# --- load_node_keys -------------------------------------------------------------------------


def test_load_plain_round_trip(homes: Homes, plain_keys: NodeKeys) -> None:
    """Loading returns the keys whose public halves the exported entry lists."""
    entry = homes.plain.export.entry
    assert plain_keys.node_id == "gr-ekka"
    assert [k.key_id for k in entry.signing_keys] == [plain_keys.signer.key_id]
    assert entry.signing_keys[0].public_key == plain_keys.signer.public_key
    assert {k.key_id: k.public_key for k in entry.encryption_keys} == {
        k: v.public.public_key for k, v in plain_keys.decryption_keys.items()
    }
    assert entry.tls_keys[0].spki_sha256 == plain_keys.tls.pin
    assert len(plain_keys.storage_key) == 32
    assert homes.plain.token_file.read_text(encoding="utf-8").strip() == plain_keys.local_api_token


def test_load_protected_round_trip(homes: Homes) -> None:
    """A passphrase-protected file loads with its passphrase and holds no secret in clear."""
    keys = load_node_keys(homes.protected.key_file, PASSPHRASE)
    assert keys.signer.key_id == homes.protected.export.entry.signing_keys[0].key_id
    raw = homes.protected.key_file.read_bytes()
    assert keys.local_api_token.encode() not in raw
    assert keys.signer.seed() not in raw
    assert keys.storage_key not in raw


def test_load_with_wrong_passphrase_fails(homes: Homes) -> None:
    """A wrong passphrase is a ConfigError naming the file."""
    with pytest.raises(ConfigError, match="wrong passphrase") as failed:
        load_node_keys(homes.protected.key_file, "wrong horse")
    assert str(homes.protected.key_file) in str(failed.value)


def test_load_protected_without_passphrase_fails(homes: Homes) -> None:
    """A protected file without a passphrase says to set the passphrase variable."""
    with pytest.raises(ConfigError, match="passphrase-protected"):
        load_node_keys(homes.protected.key_file, None)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700])
def test_key_file_readable_by_others_is_refused(homes: Homes, mode: int) -> None:
    """A key file that group or others may access is refused, suggesting chmod 600."""
    path = write_key_copy(homes.scratch / f"mode-{mode:o}.keys", homes.plain.key_file.read_bytes(), mode)
    if mode == 0o700:
        assert load_node_keys(path, None).node_id == "gr-ekka"
        return
    with pytest.raises(ConfigError, match="chmod 600") as failed:
        load_node_keys(path, None)
    assert f"mode {mode:o}" in str(failed.value)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    """A missing key file is a ConfigError naming it."""
    with pytest.raises(ConfigError, match="key file not found"):
        load_node_keys(tmp_path / "absent.keys", None)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff" * 64, id="0xff"),
        pytest.param(b"not a focalpoint key file", id="text"),
        pytest.param(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", id="pem"),
    ],
)
def test_garbage_key_file_is_a_config_error(homes: Homes, data: bytes) -> None:
    """Bytes that are not a node key file are a ConfigError, never a parser exception."""
    path = write_key_copy(homes.scratch / "garbage.keys", data)
    with pytest.raises(ConfigError):
        load_node_keys(path, None)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), protected=st.booleans())
def test_truncated_key_file_is_a_config_error(homes: Homes, data: st.DataObject, protected: bool) -> None:
    """Any truncation of a key file is a ConfigError."""
    original = (homes.protected if protected else homes.plain).key_file.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(original) - 1), label="cut")
    path = write_key_copy(homes.scratch / "truncated.keys", original[:cut])
    with pytest.raises(ConfigError):
        load_node_keys(path, PASSPHRASE if protected else None)


def rewrite(homes: Homes, name: str, edit: keystore_pb2.KeyFile) -> Path:
    return write_key_copy(homes.scratch / name, edit.SerializeToString())


def test_unknown_format_version_is_refused(homes: Homes) -> None:
    """A key file of another format version is refused rather than guessed at."""
    kf = keystore_pb2.KeyFile.FromString(homes.plain.key_file.read_bytes())
    kf.format_version = 2
    with pytest.raises(ConfigError, match="format 2, expected 1"):
        load_node_keys(rewrite(homes, "v2.keys", kf), None)


def test_key_file_without_secrets_is_refused(homes: Homes) -> None:
    """A key file with a version but no secrets is refused."""
    with pytest.raises(ConfigError, match="holds no secrets"):
        load_node_keys(rewrite(homes, "empty.keys", keystore_pb2.KeyFile(format_version=1)), None)


def test_signing_key_with_wrong_stored_id_is_refused(homes: Homes) -> None:
    """A signing key whose stored id does not match the key is refused."""
    kf = keystore_pb2.KeyFile.FromString(homes.plain.key_file.read_bytes())
    kf.plain.signing_keys[0].key_id = "0" * 32
    with pytest.raises(ConfigError, match="does not match its stored id"):
        load_node_keys(rewrite(homes, "wrong-id.keys", kf), None)


def test_key_file_without_storage_key_is_refused(homes: Homes) -> None:
    """A key file lacking the 32-byte storage key is refused."""
    kf = keystore_pb2.KeyFile.FromString(homes.plain.key_file.read_bytes())
    kf.plain.storage_key = b"short"
    with pytest.raises(ConfigError, match="storage key"):
        load_node_keys(rewrite(homes, "no-storage.keys", kf), None)


def test_read_secret_file_returns_owner_only_bytes(tmp_path: Path) -> None:
    """read_secret_file returns a 0600 file's bytes and refuses the same file once group-readable."""
    path = tmp_path / "secret"
    write_secret_file(path, b"s3cret")
    assert read_secret_file(path) == b"s3cret"
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_secret_file(path)


# --- Administrator keys -----------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE], ids=["plain", "protected"])
def test_admin_key_round_trip(tmp_path: Path, passphrase: str | None) -> None:
    """A generated admin key loads back and signs what its published public key verifies."""
    key_bytes, public = generate_admin_key(state="GR", name="Test administrator", passphrase=passphrase)
    path = tmp_path / "admin.key"
    write_secret_file(path, key_bytes)
    signer = load_admin_key(path, passphrase)
    assert signer.key_id == public.key_id
    verifier = AdminVerifier(public.key_id, public.ed25519_public_key, public.ml_dsa_65_public_key)
    verifier.verify(Context.DIRECTORY, b"doc", signer.sign(Context.DIRECTORY, b"doc"))
    assert (public.state, public.name) == ("GR", "Test administrator")


def test_protected_admin_key_needs_the_right_passphrase(tmp_path: Path) -> None:
    """A protected admin key refuses a wrong or missing passphrase."""
    key_bytes, _ = generate_admin_key(state="GR", name="Test administrator", passphrase=PASSPHRASE)
    path = tmp_path / "admin.key"
    write_secret_file(path, key_bytes)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        load_admin_key(path, "wrong horse")
    with pytest.raises(ConfigError, match="passphrase-protected"):
        load_admin_key(path, None)


def test_admin_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    """An admin key file with mode 0644 is refused with a chmod hint."""
    key_bytes, _ = generate_admin_key(state="GR", name="Test administrator", passphrase=None)
    path = write_key_copy(tmp_path / "admin.key", key_bytes, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_admin_key(path, None)


def test_node_key_file_is_not_an_admin_key(homes: Homes) -> None:
    """Loading a node key file as an administrator key is a ConfigError."""
    with pytest.raises(ConfigError):
        load_admin_key(homes.plain.key_file, None)


def test_admin_key_with_mismatched_id_is_refused(tmp_path: Path) -> None:
    """An admin key file whose stored id does not match its seeds is refused."""
    key_bytes, _ = generate_admin_key(state="GR", name="Test administrator", passphrase=None)
    kf = keystore_pb2.AdminKeyFile.FromString(key_bytes)
    kf.plain.key_id = "0" * 32
    path = write_key_copy(tmp_path / "admin.key", kf.SerializeToString())
    with pytest.raises(ConfigError, match="does not match its stored id"):
        load_admin_key(path, None)


def test_admin_key_of_unknown_format_version_is_refused(tmp_path: Path) -> None:
    """An admin key file of another format version is refused, as node key files are."""
    key_bytes, _ = generate_admin_key(state="GR", name="Test administrator", passphrase=None)
    kf = keystore_pb2.AdminKeyFile.FromString(key_bytes)
    kf.format_version = 2
    path = write_key_copy(tmp_path / "admin.key", kf.SerializeToString())
    with pytest.raises(ConfigError, match="format"):
        load_admin_key(path, None)


# --- Entry export and proof of possession ----------------------------------------------------


def export_of(keys: NodeKeys) -> directory_pb2.NodeEntryExport:
    return node_entry_export(keys, state="GR", institution="EKKA", endpoint="127.0.0.1:1", languages=["en"])


def test_entry_export_proof_verifies(plain_keys: NodeKeys) -> None:
    """A node's export carries a proof by its own signing key that check_entry_export accepts."""
    export = export_of(plain_keys)
    entry = check_entry_export(export)
    assert entry == export.entry
    assert export.proof_of_possession.key_id == plain_keys.signer.key_id
    assert entry.endpoint == "127.0.0.1:1"


def test_entry_export_with_edited_entry_fails(plain_keys: NodeKeys) -> None:
    """Editing the entry after the proof was made (here: the endpoint) breaks the proof."""
    export = export_of(plain_keys)
    edited = directory_pb2.NodeEntry.FromString(export.entry_bytes)
    edited.endpoint = "203.0.113.9:7401"
    export.entry_bytes = edited.SerializeToString()
    with pytest.raises(VerificationError, match="does not verify"):
        check_entry_export(export)


def test_entry_export_proof_by_unlisted_key_fails(plain_keys: NodeKeys) -> None:
    """A proof by a key that the entry does not list is refused."""
    export = export_of(plain_keys)
    export.proof_of_possession.CopyFrom(Ed25519Signer.generate().sign(Context.ENTRY_PROOF, export.entry_bytes))
    with pytest.raises(VerificationError, match="does not list"):
        check_entry_export(export)


def test_entry_proof_for_another_purpose_fails(plain_keys: NodeKeys) -> None:
    """A signature over the entry bytes made for another purpose is not a proof of possession."""
    export = export_of(plain_keys)
    export.proof_of_possession.CopyFrom(plain_keys.signer.sign(Context.MESSAGE, export.entry_bytes))
    with pytest.raises(VerificationError):
        check_entry_export(export)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), mask=st.integers(min_value=1, max_value=255))
def test_any_flipped_entry_byte_fails(plain_keys: NodeKeys, data: st.DataObject, mask: int) -> None:
    """Flipping any byte of entry_bytes makes check_entry_export refuse the export."""
    export = export_of(plain_keys)
    index = data.draw(st.integers(min_value=0, max_value=len(export.entry_bytes) - 1), label="index")
    tampered = bytearray(export.entry_bytes)
    tampered[index] ^= mask
    export.entry_bytes = bytes(tampered)
    with pytest.raises(FocalpointError):
        check_entry_export(export)


def test_rotate_key_adds_a_log_key_and_the_cli_names_it(tmp_path: Path) -> None:
    """`node rotate-key --kind log` adds a hybrid log key (NEXT beside the existing one) and says which."""
    from click.testing import CliRunner

    from focalpoint.cli import cli

    home = tmp_path / "keys"
    runner = CliRunner()
    init = ["node", "init", "--dir", str(home), "--node-id", "gr-x", "--state", "GR"]
    assert runner.invoke(cli, [*init, "--institution", "X", "--endpoint", "127.0.0.1:9"]).exit_code == 0
    result = runner.invoke(cli, ["node", "rotate-key", "--dir", str(home), "--kind", "log"])
    assert result.exit_code == 0, result.output
    keys = load_node_keys(home / "node.keys", None)
    assert len(keys.log_signers) == 2
    [new] = [k for k in keys.log_signers if k in result.output]
    assert "(NEXT)" in result.output
    assert new in keys.log_signers
