"""TLS identities: self-signed node certificates and their SPKI pins (pure).

Peers are authorised from the pin (SHA-256 of the certificate's DER
SubjectPublicKeyInfo), never from names (docs/adr/0002-tls-pinning.md). The
certificate is self-signed, names the node id as its only DNS SAN, and is valid
for both server and client authentication.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from focalpoint.errors import ConfigError

__all__ = ["BACKDATE", "TlsIdentity", "certificate_der_to_pem", "generate_tls_identity", "spki_sha256"]


class TlsIdentity:
    __slots__ = ("certificate_pem", "private_key_pem")

    def __init__(self, private_key_pem: bytes, certificate_pem: bytes) -> None:
        self.private_key_pem = private_key_pem
        self.certificate_pem = certificate_pem

    @property
    def certificate_der(self) -> bytes:
        return x509.load_pem_x509_certificate(self.certificate_pem).public_bytes(serialization.Encoding.DER)

    @property
    def pin(self) -> bytes:
        return spki_sha256(self.certificate_der)


def spki_sha256(certificate_der: bytes) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo; raises ConfigError for a malformed certificate."""
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except ValueError as e:
        raise ConfigError("TLS certificate is not valid DER X.509") from e
    except UnsupportedAlgorithm as e:
        raise ConfigError("TLS certificate holds a public key of an unsupported algorithm") from e
    return hashlib.sha256(spki).digest()


def spki_sha256_from_pem(certificate_pem: bytes) -> bytes:
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as e:
        raise ConfigError("TLS certificate is not valid PEM X.509") from e
    return spki_sha256(cert.public_bytes(serialization.Encoding.DER))


def certificate_der_to_pem(certificate_der: bytes) -> bytes:
    return x509.load_der_x509_certificate(certificate_der).public_bytes(serialization.Encoding.PEM)


# How far before its making a certificate counts as valid. Peers are authorised by the pin, not by
# the certificate's dates, but TLS libraries still check them: a partner whose clock is behind the
# clock that made the certificate (or a node initialised with a fast clock) would otherwise fail
# every handshake. A week covers realistic drift and a badly set clock at `node init`.
BACKDATE = dt.timedelta(days=7)


def generate_tls_identity(node_id: str, *, now: dt.datetime, valid_days: int = 825) -> TlsIdentity:
    """A fresh P-256 key and a self-signed certificate for ``node_id``, valid from a week before
    ``now`` (``BACKDATE``) for ``valid_days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(node_id)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return TlsIdentity(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        cert.public_bytes(serialization.Encoding.PEM),
    )
