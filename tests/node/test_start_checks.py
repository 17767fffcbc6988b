"""At start a node asks its partners what they cosigned of its log: a database that lost what the
node had committed is refused even when its high-water mark went with it; a partner that cannot
be asked now does not stop the start."""

from __future__ import annotations

import pytest

from focalpoint.errors import StorageError
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.storage.memory import MemoryStore
from tests.node.conftest import Fabric

GR, AL = "gr-ekka", "al-shss"


async def _witnessed_log(fabric: Fabric) -> int:
    """gr's log grows and al cosigns it; the size al cosigned."""
    gr, al = fabric.nodes[GR], fabric.nodes[AL]
    await gr.outbox.submit(AL, social_inquiry_request(case_ref_for(1), identified_at_ms=fabric.clock()))
    await gr.checkpoints.get()
    [outcome] = await al.witness.check_all([GR])
    assert outcome.result == "cosigned"
    return outcome.size


async def test_a_node_whose_database_lost_what_a_partner_cosigned_refuses_to_start(fabric: Fabric) -> None:
    """gr restarted on an empty database: al cosigned more, so gr says so in one line and does not start."""
    size = await _witnessed_log(fabric)
    await fabric.close(GR)
    with pytest.raises(StorageError) as refused:
        await fabric.open(GR, store=MemoryStore())
    message = str(refused.value)
    assert f"al-shss cosigned a checkpoint of this node's log with {size} events" in message
    held = int(message.split("the database holds ")[1].split(":")[0])
    assert held < size
    assert "\n" not in message


async def test_a_node_on_its_own_database_starts_and_an_unreachable_partner_is_not_waited_for(
    fabric: Fabric,
) -> None:
    """The control: the same store starts; with al down, even an empty one starts (nothing proves loss)."""
    await _witnessed_log(fabric)
    await fabric.close(GR)
    await fabric.open(GR)
    await fabric.close(GR)
    fabric.network.set_down(AL)
    await fabric.open(GR, store=MemoryStore())
