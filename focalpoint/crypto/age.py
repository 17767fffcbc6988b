"""age v1 files with one post-quantum hybrid recipient (pure: bytes in, bytes out).

A courier file's outer layer is an age v1 file (the C2SP age specification,
c2sp.org/age): a textual header that wraps a random 16-byte *file key* for one
recipient, authenticated by an HMAC, then a binary payload encrypted with that
key in 64 KiB ChaCha20-Poly1305 chunks (STREAM: a chunk counter and a last-chunk
flag in each nonce, so reordering, truncation and appending are all detected).

Why age and not our own envelope format: the file travels on removable media and
may be lost. age hides who wrote to whom (its stanzas carry no key id), it is a
published format with public test vectors, and its STREAM payload refuses a cut
file instead of releasing a silent prefix.

The one recipient type written here is ``mlkem768x25519``: the file key is sealed
with HPKE(MLKEM768-X25519, HKDF-SHA256, ChaCha20Poly1305), ``info =
"age-encryption.org/mlkem768x25519"``, empty aad, to the receiving node's current
encryption key. That KEM is the one of our envelope suite, so a node's
``EncryptionPrivateKey`` (64-byte ML-KEM seed || 32-byte X25519 key) is an age
identity as it is; an age native identity (a 32-byte seed, Bech32
``AGE-SECRET-KEY-PQ-1…``) expands to that layout by SHAKE256 (``identity_from_seed``).

Reading is strict, as the specification asks: canonical unpadded base64, 64-column
stanza bodies, exact stanza shapes for the native types we recognise, a header
MAC, a final chunk that must come, nothing after it. Every failure is one of the
``AgeError`` classes below; their messages name what was wrong, never key
material or content. ASCII armor is not implemented (our files are binary).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from focalpoint.crypto.signing import key_id_for
from focalpoint.crypto.suite import SUITE_V1, EncryptionPrivateKey, EncryptionPublicKey
from focalpoint.errors import VerificationError

__all__ = [
    "CHUNK_SIZE",
    "AgeError",
    "AgeHeaderInvalid",
    "AgeNoMatch",
    "AgePayloadDamaged",
    "AgeTooLarge",
    "AgeTruncated",
    "decrypt",
    "encrypt",
    "identity_from_bech32",
    "identity_from_seed",
    "plaintext_size",
]

CHUNK_SIZE = 64 * 1024
"""Plaintext bytes in every payload chunk but the last (the specification fixes it)."""

_TAG = 16
_SEALED_CHUNK = CHUNK_SIZE + _TAG
_FILE_KEY_LEN = 16
_PAYLOAD_NONCE_LEN = 16
_MAC_LEN = 32
_COLUMNS = 64

_VERSION_LINE = b"age-encryption.org/v1"
_VERSION_PREFIX = b"age-encryption.org/"
_ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_STANZA_PREFIX = b"-> "
_MAC_PREFIX = b"--- "

_HYBRID = b"mlkem768x25519"
_HYBRID_INFO = b"age-encryption.org/mlkem768x25519"
_MLKEM768_CIPHERTEXT_LEN = 1088
_X25519_LEN = 32
_HYBRID_ENC_LEN = _MLKEM768_CIPHERTEXT_LEN + _X25519_LEN
_WRAPPED_KEY_LEN = _FILE_KEY_LEN + _TAG
_X25519_TYPE = b"X25519"
_SCRYPT_TYPE = b"scrypt"

_SEED_LEN = 32
_EXPANDED_LEN = 96
_BECH32_HRP = "age-secret-key-pq-"

_HPKE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


# --- Errors --------------------------------------------------------------------------------


class AgeError(VerificationError, ValueError):
    """An age file was refused. A ``VerificationError`` (never retried: the same bytes fail
    the same way) and a ``ValueError`` (bad input). Subclasses say why."""


class AgeHeaderInvalid(AgeError):
    """The header breaks the format: grammar, base64, a stanza's shape, an unsafe key share,
    or its MAC does not match (the header was altered)."""


class AgeNoMatch(AgeError):
    """The header is well formed but none of our keys opens any stanza: the file is not
    addressed to this node (or it was addressed to a key we no longer hold)."""


class AgePayloadDamaged(AgeError):
    """A payload chunk fails authentication, or data follows the final chunk: altered."""


class AgeTruncated(AgeError):
    """The payload ends before its final chunk: the file was cut short."""


class AgeTooLarge(AgeError):
    """The payload would decrypt to more than the caller allows; nothing was decrypted."""


# --- Identities ----------------------------------------------------------------------------


def identity_from_seed(seed: bytes) -> EncryptionPrivateKey:
    """An age native hybrid identity (32 random bytes) as our key.

    The hybrid KEM expands its 32-byte seed with SHAKE256 into 96 bytes: the 64-byte ML-KEM
    seed then the 32-byte X25519 key, which is exactly ``EncryptionPrivateKey``'s layout.
    The key id is derived from the public key as for any of our encryption keys.
    """
    if len(seed) != _SEED_LEN:
        raise ValueError(f"an age hybrid identity is {_SEED_LEN} bytes, got {len(seed)}")
    secret = hashlib.shake_256(seed).digest(_EXPANDED_LEN)
    probe = EncryptionPrivateKey("probe", secret)
    return EncryptionPrivateKey(key_id_for(SUITE_V1.kem_algorithm, probe.public.public_key), secret)


def identity_from_bech32(text: str) -> EncryptionPrivateKey:
    """Parse ``AGE-SECRET-KEY-PQ-1…`` (Bech32, checksum verified) into our key.

    Raises ValueError, without echoing the text (it is a secret), when it is not one.
    """
    hrp, data = _bech32_decode(text.strip())
    if hrp != _BECH32_HRP:
        raise ValueError("not an age hybrid identity (expected the AGE-SECRET-KEY-PQ- prefix)")
    return identity_from_seed(data)


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_polymod(values: Sequence[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_BECH32_GENERATORS):
            if (top >> i) & 1:
                check ^= generator
    return check


def _bech32_decode(text: str) -> tuple[str, bytes]:
    """BIP173 Bech32 without its length limit (as age uses it); all upper or all lower case."""
    if text != text.lower() and text != text.upper():
        raise ValueError("a Bech32 string must not mix upper and lower case")
    text = text.lower()
    separator = text.rfind("1")
    if separator < 1 or len(text) - separator - 1 < 6:
        raise ValueError("not a Bech32 string (no separator or checksum)")
    hrp, rest = text[:separator], text[separator + 1 :]
    if any(not 33 <= ord(c) <= 126 for c in hrp) or any(c not in _BECH32_CHARSET for c in rest):
        raise ValueError("not a Bech32 string (a character outside its alphabet)")
    values = [_BECH32_CHARSET.index(c) for c in rest]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    if _bech32_polymod(expanded + values) != 1:
        raise ValueError("Bech32 checksum does not match (a mistyped or damaged key)")
    accumulator, bits, out = 0, 0, bytearray()
    for value in values[:-6]:
        accumulator = (accumulator << 5) | value
        bits += 5
        while bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    if bits >= 5 or accumulator & ((1 << bits) - 1):
        raise ValueError("Bech32 data has non-zero padding")
    return hrp, bytes(out)


# --- Encryption ----------------------------------------------------------------------------


def encrypt(plaintext: bytes, recipient: EncryptionPublicKey) -> bytes:
    """A binary age v1 file of ``plaintext`` with one ``mlkem768x25519`` stanza to ``recipient``.

    A fresh file key and payload nonce every call (the specification forbids reuse).
    """
    file_key = os.urandom(_FILE_KEY_LEN)
    sealed = _HPKE.encrypt(file_key, recipient.hpke_key, info=_HYBRID_INFO)
    enc, wrapped = sealed[:_HYBRID_ENC_LEN], sealed[_HYBRID_ENC_LEN:]
    header = _VERSION_LINE + b"\n" + _stanza_bytes((_HYBRID, _b64encode(enc)), wrapped) + b"---"
    mac = hmac.digest(_hkdf(file_key, b"", b"header"), header, "sha256")
    nonce = os.urandom(_PAYLOAD_NONCE_LEN)
    return header + b" " + _b64encode(mac) + b"\n" + nonce + _seal_payload(file_key, nonce, plaintext)


def _stanza_bytes(args: Sequence[bytes], body: bytes) -> bytes:
    """``-> args`` then the body in 64-column lines, ending with a shorter (maybe empty) line."""
    encoded = _b64encode(body)
    lines = [encoded[i : i + _COLUMNS] for i in range(0, len(encoded), _COLUMNS)]
    if not lines or len(lines[-1]) == _COLUMNS:
        lines.append(b"")
    return _STANZA_PREFIX + b" ".join(args) + b"\n" + b"".join(line + b"\n" for line in lines)


def _seal_payload(file_key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    count = max(1, -(-len(plaintext) // CHUNK_SIZE))
    out = bytearray()
    for index in range(count):
        chunk = plaintext[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
        out += aead.encrypt(_chunk_nonce(index, last=index == count - 1), chunk, None)
    return bytes(out)


# --- Decryption ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Stanza:
    args: tuple[bytes, ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Header:
    stanzas: tuple[_Stanza, ...]
    mac_input: bytes
    mac: bytes
    end: int


def decrypt(data: bytes, identities: Sequence[EncryptionPrivateKey], *, max_size: int) -> bytes:
    """The plaintext of an age v1 file opened by one of ``identities``.

    Order of checks: header grammar and stanza shapes (``AgeHeaderInvalid``), unwrapping the
    file key with each identity on each hybrid stanza (``AgeNoMatch``), the header MAC
    (``AgeHeaderInvalid``), the size the payload would decrypt to against ``max_size``
    (``AgeTooLarge``, before any chunk is decrypted), then every chunk (``AgePayloadDamaged``,
    ``AgeTruncated``). Nothing is returned unless the whole file verified.
    """
    if max_size < 0:
        raise ValueError(f"max_size must be zero or more, got {max_size}")
    header = _parse_header(data)
    file_key = _unwrap(header.stanzas, identities)
    expected = hmac.digest(_hkdf(file_key, b"", b"header"), header.mac_input, "sha256")
    if not hmac.compare_digest(expected, header.mac):
        raise AgeHeaderInvalid("age header MAC does not match: the header was altered")
    payload = memoryview(data)[header.end :]  # slices below share data's buffer: no copy
    if len(payload) < _PAYLOAD_NONCE_LEN:
        raise AgeTruncated("age file ends inside the payload nonce: it was cut short")
    size = plaintext_size(len(payload) - _PAYLOAD_NONCE_LEN)
    if size > max_size:
        raise AgeTooLarge(f"age payload would decrypt to {size} bytes, more than the {max_size} allowed")
    return _open_payload(file_key, bytes(payload[:_PAYLOAD_NONCE_LEN]), payload[_PAYLOAD_NONCE_LEN:])


def plaintext_size(sealed_len: int) -> int:
    """How many plaintext bytes ``sealed_len`` bytes of STREAM chunks carry (0 when too short)."""
    chunks = max(1, -(-sealed_len // _SEALED_CHUNK))
    return max(0, sealed_len - chunks * _TAG)


def _open_payload(file_key: bytes, nonce: bytes, sealed: bytes | memoryview) -> bytes:
    """Decrypt every chunk; the last piece of the file must be the chunk flagged final.

    A full-size piece at the end that only opens as non-final means the file was cut at a
    chunk boundary; a non-final piece that only opens as final means data was appended. A
    short piece that fails both ways is damaged (a cut inside a chunk looks the same as an
    alteration to the AEAD, unless the piece is too short to be any chunk at all).
    """
    aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    if not sealed:
        raise AgeTruncated("age payload has no chunk: the file was cut short")
    count = -(-len(sealed) // _SEALED_CHUNK)
    out = bytearray()
    for index in range(count):
        piece = sealed[index * _SEALED_CHUNK : (index + 1) * _SEALED_CHUNK]
        last = index == count - 1
        if last and len(piece) < _TAG:
            raise AgeTruncated(f"age payload ends inside chunk {index}: the file was cut short")
        if last and index > 0 and len(piece) == _TAG:
            if _opens(aead, index, piece, last=True):
                raise AgePayloadDamaged(f"age payload's final chunk {index} is empty, which the format forbids")
            raise AgeTruncated(f"age payload ends inside chunk {index}: the file was cut short")
        try:
            out += aead.decrypt(_chunk_nonce(index, last=last), piece, None)
            continue
        except InvalidTag:
            pass
        if _opens(aead, index, piece, last=not last):
            if last:
                raise AgeTruncated(f"age payload ends after chunk {index}, which is not the final one")
            raise AgePayloadDamaged(f"age payload has data after its final chunk {index}")
        raise AgePayloadDamaged(f"age payload chunk {index} fails authentication: the file was altered")
    return bytes(out)


def _opens(aead: ChaCha20Poly1305, index: int, piece: bytes | memoryview, *, last: bool) -> bool:
    try:
        aead.decrypt(_chunk_nonce(index, last=last), piece, None)
    except InvalidTag:
        return False
    return True


def _chunk_nonce(index: int, *, last: bool) -> bytes:
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _unwrap(stanzas: Sequence[_Stanza], identities: Sequence[EncryptionPrivateKey]) -> bytes:
    """The file key from the first hybrid stanza one of ``identities`` opens.

    Stanzas carry no key id (that is what keeps the recipient anonymous), so every identity
    is tried on every hybrid stanza; shapes were already checked by ``_parse_header``.
    """
    hybrid = [s for s in stanzas if s.args[0] == _HYBRID]
    for stanza in hybrid:
        enc = _b64decode(stanza.args[1])
        for identity in identities:
            try:
                file_key = _HPKE.decrypt(enc + stanza.body, identity.hpke_key, info=_HYBRID_INFO)
            except (InvalidTag, ValueError):
                continue
            if len(file_key) != _FILE_KEY_LEN:  # cannot happen with a 32-byte body
                raise AgeHeaderInvalid("age stanza wraps a file key of the wrong length")
            return file_key
    if not hybrid:
        raise AgeNoMatch("age file has no mlkem768x25519 stanza: it is not addressed to this node")
    raise AgeNoMatch("no key of this node opens the age file: it is not addressed to this node")


# --- Header grammar ------------------------------------------------------------------------


def _parse_header(data: bytes) -> _Header:
    """Parse and check the header up to and including its MAC line (spec ABNF, strictly)."""
    if data.startswith(_ARMOR_BEGIN):
        raise AgeHeaderInvalid("age file is ASCII-armored; only the binary format is accepted")
    version, pos = _line(data, 0, "version line")
    if version != _VERSION_LINE:
        if version.startswith(_VERSION_PREFIX):
            raise AgeHeaderInvalid("age file has an unsupported version (only v1 is accepted)")
        raise AgeHeaderInvalid("not an age file: it does not start with the age v1 version line")
    stanzas: list[_Stanza] = []
    while True:
        line, after = _line(data, pos, "header")
        if line.startswith(_STANZA_PREFIX):
            stanza, pos = _parse_stanza(data, line, after, len(stanzas))
            stanzas.append(stanza)
            continue
        if line.startswith(_MAC_PREFIX) or line == b"---":
            break
        raise AgeHeaderInvalid(f"age header line after stanza {len(stanzas)} is neither a stanza nor the MAC line")
    if not stanzas:
        raise AgeHeaderInvalid("age header has no recipient stanza")
    _check_stanza_set(stanzas)
    encoded_mac = line[len(_MAC_PREFIX) :]
    if not line.startswith(_MAC_PREFIX) or len(encoded_mac) != 43:
        raise AgeHeaderInvalid("age header MAC line must be '--- ' and 43 base64 characters")
    mac = _b64decode_strict(encoded_mac, "header MAC")
    return _Header(tuple(stanzas), data[: pos + 3], mac, after)


def _line(data: bytes, pos: int, what: str) -> tuple[bytes, int]:
    end = data.find(b"\n", pos)
    if end < 0:
        raise AgeHeaderInvalid(f"age {what} is not terminated by a line feed (the header is cut short)")
    return data[pos:end], end + 1


def _parse_stanza(data: bytes, arg_line: bytes, pos: int, number: int) -> tuple[_Stanza, int]:
    args = tuple(arg_line[len(_STANZA_PREFIX) :].split(b" "))
    for arg in args:
        if not arg or any(not 0x21 <= b <= 0x7E for b in arg):
            raise AgeHeaderInvalid(f"age stanza {number} has an empty argument or one with a non-printable byte")
    body_lines: list[bytes] = []
    while True:
        line, pos = _line(data, pos, f"stanza {number} body")
        if len(line) > _COLUMNS:
            raise AgeHeaderInvalid(f"age stanza {number} has a body line longer than {_COLUMNS} columns")
        if any(b not in _BASE64_ALPHABET for b in line):
            raise AgeHeaderInvalid(f"age stanza {number} has a body line that is not unpadded base64")
        body_lines.append(line)
        if len(line) < _COLUMNS:
            break
    body = _b64decode_strict(b"".join(body_lines), f"stanza {number} body")
    return _Stanza(args, body), pos


def _check_stanza_set(stanzas: Sequence[_Stanza]) -> None:
    """The shape rules for the native stanza types we recognise (spec, 'Native recipient types').

    Unknown types are ignored, as the specification asks; X25519 stanzas are checked though we
    hold no X25519 identity, so a malformed one is refused rather than silently skipped.
    """
    for number, stanza in enumerate(stanzas):
        kind = stanza.args[0]
        if kind == _HYBRID:
            _check_shape(stanza, number, _HYBRID_ENC_LEN)
            enc = _b64decode(stanza.args[1])
            if _is_low_order(enc[_MLKEM768_CIPHERTEXT_LEN:]):
                raise AgeHeaderInvalid(f"age stanza {number} has an X25519 share of low order (an unsafe key share)")
        elif kind == _X25519_TYPE:
            _check_shape(stanza, number, _X25519_LEN)
        elif kind == _SCRYPT_TYPE and len(stanzas) > 1:
            raise AgeHeaderInvalid("age header mixes a passphrase (scrypt) stanza with other stanzas")


def _check_shape(stanza: _Stanza, number: int, share_len: int) -> None:
    kind = stanza.args[0].decode("ascii")
    if len(stanza.args) != 2:
        raise AgeHeaderInvalid(f"age {kind} stanza {number} must have 2 arguments, has {len(stanza.args)}")
    share = _b64decode_strict(stanza.args[1], f"{kind} stanza {number} argument")
    if len(share) != share_len:
        raise AgeHeaderInvalid(f"age {kind} stanza {number} share must be {share_len} bytes, is {len(share)}")
    if len(stanza.body) != _WRAPPED_KEY_LEN:
        raise AgeHeaderInvalid(
            f"age {kind} stanza {number} body must be {_WRAPPED_KEY_LEN} bytes, is {len(stanza.body)}"
        )


def _is_low_order(share: bytes) -> bool:
    """True when X25519 with ``share`` yields the all-zero secret whatever the scalar (the
    specification's abort case); any clamped scalar shows it, so a throwaway one is used."""
    try:
        x25519.X25519PrivateKey.generate().exchange(x25519.X25519PublicKey.from_public_bytes(share))
    except ValueError:
        return True
    return False


# --- Encodings -----------------------------------------------------------------------------


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64encode(raw: bytes) -> bytes:
    return base64.b64encode(raw).rstrip(b"=")


def _b64decode(text: bytes) -> bytes:
    return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)


def _b64decode_strict(text: bytes, what: str) -> bytes:
    """Canonical unpadded base64 only: no '=', no stray bits, nothing re-encoding would change."""
    if any(b not in _BASE64_ALPHABET for b in text) or len(text) % 4 == 1:
        raise AgeHeaderInvalid(f"age {what} is not unpadded base64")
    try:
        raw = _b64decode(text)
    except binascii.Error:
        raise AgeHeaderInvalid(f"age {what} is not unpadded base64") from None
    if _b64encode(raw) != text:
        raise AgeHeaderInvalid(f"age {what} is not canonical base64")
    return raw
