"""Evidence files (focalpoint.audit.evidence): only the one canonical encoding passes E1, so nothing can
be added, repeated or reordered where a parser or a signature check would skip it; seal_evidence writes
that form. The file is exported once per module by a real node over the in-memory fakes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from focalpoint.audit.evidence import MAGIC, seal_evidence, verify_evidence
from focalpoint.crypto.signing import AdminSigner, Context
from focalpoint.errors import VerificationError
from focalpoint.localnet import make_network
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.net.memory import MemoryNetwork
from focalpoint.storage.base import DeliveryState
from focalpoint.v1 import audit_pb2, common_pb2
from tests.conftest import FAST_DELIVERY, SPECS, now_utc
from tests.node.conftest import Fabric, FakeClock

GR, AL, IT = "gr-ekka", "al-shss", "it-dgi"
CASE = case_ref_for(777)
UNKNOWN = b"\x98\x06\x01"  # field 99, varint 1: parsers skip it, a re-serialization keeps it


@dataclass(frozen=True)
class Exported:
    data: bytes
    root: bytes
    signer: AdminSigner  # the exporting node's log key, to sign a changed bundle as it would

    def file(self) -> audit_pb2.EvidenceFile:
        return audit_pb2.EvidenceFile.FromString(self.data[len(MAGIC) :])

    def bundle(self) -> audit_pb2.EvidenceBundle:
        return audit_pb2.EvidenceBundle.FromString(self.file().bundle)


async def _export(home: Path) -> Exported:
    fabric = Fabric(make_network(home, SPECS, now=now_utc(), delivery=FAST_DELIVERY), MemoryNetwork(), FakeClock())
    for node_id in (GR, AL, IT):
        await fabric.open(node_id)
    try:
        gr, al, it = (fabric.nodes[n] for n in (GR, AL, IT))
        sent = await gr.outbox.submit(AL, social_inquiry_request(CASE, identified_at_ms=fabric.clock()))
        assert await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 2) is DeliveryState.DELIVERED
        await gr.checkpoints.get()
        await al.checkpoints.get()
        assert [o.result for o in await al.witness.check_all([GR])] == ["cosigned"]
        assert [o.result for o in await it.witness.check_all([GR])] == ["cosigned"]
        assert [o.result for o in await gr.witness.check_all([AL])] == ["cosigned"]
        data, _, _ = await gr.exporter.export_case(CASE, "auditor.1")
        assert gr.keyring.log_signer is not None
        return Exported(data, fabric.files.trusted_root_path.read_bytes(), gr.keyring.log_signer)
    finally:
        for node_id in list(fabric.nodes):
            await fabric.close(node_id)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """A case exported by gr-ekka: a message to al-shss with al's log proof, gr's log witnessed by two."""
    return asyncio.run(_export(tmp_path_factory.mktemp("net")))


def _signed_as_is(bundle: audit_pb2.EvidenceBundle, signer: AdminSigner, *, extra: bytes = b"") -> bytes:
    """The bundle signed by the exporting node's key exactly as it stands (not through seal_evidence)."""
    raw = bundle.SerializeToString(deterministic=True) + extra
    file = audit_pb2.EvidenceFile(bundle=raw, signatures=signer.sign(Context.EVIDENCE, raw))
    return MAGIC + file.SerializeToString(deterministic=True)


def _file_with(exported: Exported, change: Callable[[audit_pb2.EvidenceFile], object]) -> bytes:
    file = exported.file()
    change(file)
    return MAGIC + file.SerializeToString(deterministic=True)


def _bundle_with(exported: Exported, change: Callable[[audit_pb2.EvidenceBundle], None]) -> bytes:
    bundle = exported.bundle()
    change(bundle)
    return _signed_as_is(bundle, exported.signer)


def _reverse(items: Any) -> None:
    """A repeated field, in reverse order."""
    values = list(items)
    del items[:]
    items.extend(reversed(values))


def _repeat_first(items: Any) -> None:
    """A repeated field with its first element once more at the end."""
    items.extend([items[0]])


def _unknown_in_a_signature(bundle: audit_pb2.EvidenceBundle) -> None:
    signature = bundle.checkpoint.signatures[0]
    signature.MergeFromString(UNKNOWN)


def _another_keys_signature(file: audit_pb2.EvidenceFile) -> None:
    file.signatures.extend(AdminSigner.generate().sign(Context.EVIDENCE, file.bundle))


def _fields_reordered(exported: Exported) -> bytes:
    file = exported.file()
    signatures = b"".join(
        b"\x12" + _varint(len(s.SerializeToString())) + s.SerializeToString() for s in file.signatures
    )
    bundle = b"\x0a" + _varint(len(file.bundle)) + file.bundle
    return MAGIC + signatures + bundle


def _varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


TAMPERED: list[tuple[str, Callable[[Exported], bytes], str]] = [
    ("unknown-field-after-the-file", lambda e: e.data + UNKNOWN, "E1: evidence file carries fields"),
    ("unknown-field-in-a-file-signature", lambda e: _file_with(e, lambda f: f.signatures[1].MergeFromString(UNKNOWN)),
     "E1: evidence file carries fields"),
    ("unknown-field-after-the-bundle", lambda e: _signed_as_is(e.bundle(), e.signer, extra=UNKNOWN),
     "E1: evidence bundle carries fields"),
    ("unknown-field-deep-in-the-bundle", lambda e: _bundle_with(e, _unknown_in_a_signature),
     "E1: evidence bundle carries fields"),
    ("file-fields-reordered", _fields_reordered, "E1: evidence file is not canonically encoded"),
    ("file-signature-repeated", lambda e: _file_with(e, lambda f: _repeat_first(f.signatures)),
     "E1: the file must carry exactly one hybrid signature"),
    ("file-signatures-reordered", lambda e: _file_with(e, lambda f: _reverse(f.signatures)),
     "E1: the file must carry exactly one hybrid signature"),
    ("file-signed-by-another-key-too", lambda e: _file_with(e, _another_keys_signature),
     "E1: the file must carry exactly one hybrid signature"),
    ("checkpoint-signature-repeated", lambda e: _bundle_with(e, lambda b: _repeat_first(b.checkpoint.signatures)),
     "E1: the signatures of checkpoint are repeated or not in canonical order"),
    ("checkpoint-signatures-reordered", lambda e: _bundle_with(e, lambda b: _reverse(b.checkpoint.signatures)),
     "E1: the signatures of checkpoint are repeated or not in canonical order"),
    ("cosignature-repeated", lambda e: _bundle_with(e, lambda b: _repeat_first(b.witnessed.cosignatures)),
     "E1: the cosignatures of witnessed are repeated or not in witness order"),
    ("cosignatures-reordered", lambda e: _bundle_with(e, lambda b: _reverse(b.witnessed.cosignatures)),
     "E1: the cosignatures of witnessed are repeated or not in witness order"),
    ("cosignature-signatures-reordered",
     lambda e: _bundle_with(e, lambda b: _reverse(b.witnessed.cosignatures[0].signatures)),
     "E1: the signatures of al-shss cosignature of witnessed are repeated"),
    ("receiver-checkpoint-signature-repeated",
     lambda e: _bundle_with(e, lambda b: _repeat_first(b.messages[0].receiver_log.checkpoint.signatures)),
     "E1: the signatures of message 0 receiver_log.checkpoint are repeated"),
]  # fmt: skip


def test_the_exported_file_is_canonical_and_verifies(exported: Exported) -> None:
    """The export passes every step, witnessed by two partners, with the receiver's own log proof."""
    report = verify_evidence(exported.data, trusted_root=exported.root)
    assert report.witnesses == [AL, IT]
    assert report.receiver_logged == 1
    assert _signed_as_is(exported.bundle(), exported.signer) != exported.data  # ML-DSA signs anew each time
    assert verify_evidence(_signed_as_is(exported.bundle(), exported.signer), trusted_root=exported.root)


@pytest.mark.parametrize(("make", "match"), [pytest.param(m, w, id=n) for n, m, w in TAMPERED])
def test_anything_added_repeated_or_reordered_is_refused_at_e1(
    exported: Exported, make: Callable[[Exported], bytes], match: str
) -> None:
    """Each change, even when the exporting node re-signs the bundle, fails E1 and says which list or field."""
    with pytest.raises(VerificationError, match=match):
        verify_evidence(make(exported), trusted_root=exported.root)


def test_seal_evidence_writes_the_canonical_form_whatever_order_it_is_given(exported: Exported) -> None:
    """Lists reversed, a signature repeated and an unknown field in a sub-message: sealed, the file verifies."""
    bundle = exported.bundle()
    _reverse(bundle.witnessed.cosignatures)
    _reverse(bundle.checkpoint.signatures)
    _repeat_first(bundle.witnessed.cosignatures[0].signatures)
    bundle.checkpoint.signatures[0].MergeFromString(UNKNOWN)
    before = bundle.SerializeToString()
    sealed = seal_evidence(bundle, exported.signer)
    assert bundle.SerializeToString() == before  # what was given is not changed
    report = verify_evidence(sealed, trusted_root=exported.root)
    assert report.witnesses == [AL, IT]
    signatures = audit_pb2.EvidenceFile.FromString(sealed[len(MAGIC) :]).signatures
    assert [s.algorithm for s in signatures] == [common_pb2.KEY_ALGORITHM_ED25519, common_pb2.KEY_ALGORITHM_ML_DSA_65]
