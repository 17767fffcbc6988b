"""The operations listener: /metrics scraped over HTTP while two real nodes exchange a message,
its series present with plausible values, and no label value that could name a case or a person."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from focalpoint.errors import ConfigError
from focalpoint.localnet import LocalNetwork
from focalpoint.localnet.samples import case_ref_for, social_inquiry_request
from focalpoint.node.overdue import KINDS, OWED_BY
from focalpoint.node.ports import wall_clock_ms
from focalpoint.server.config import MetricsConfig, load_config
from focalpoint.server.node import Node
from focalpoint.storage.base import DeliveryState, NewNotice

GR, AL = "gr-ekka", "al-shss"
CASE = case_ref_for(314)


async def _scrape(node: Node) -> dict[str, list[tuple[dict[str, str], float]]]:
    assert node.metrics is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{node.metrics.port}/metrics")
    assert response.status_code == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


async def test_scrape_during_an_exchange(network: LocalNetwork) -> None:
    started: list[Node] = []
    try:
        for node_id in (GR, AL):
            config = dataclasses.replace(
                load_config(network.nodes[node_id].config_path), metrics=MetricsConfig("127.0.0.1", 0)
            )
            node = await Node.open(config)
            await node.start()
            started.append(node)
        gr = started[0]
        await gr.reachability.round()
        sent = await gr.outbox.submit(AL, social_inquiry_request(CASE, identified_at_ms=wall_clock_ms()))
        state = await asyncio.wait_for(gr.delivery.wait_closed(sent.message_id), 15)
        assert state is DeliveryState.DELIVERED
        await gr.checkpoints.get()
        # Two notifications of the queue (no channel is configured, so none is sent): one still to
        # send, one given up; counted per channel, never naming whom or which case.
        await gr.store.notifications.enqueue(
            [NewNotice(f"msg_{n}", "email", "u-1", "break_glass", CASE, 1) for n in (1, 2)]
        )
        await gr.store.notifications.give_up("msg_2", 3, 2, "TransportError")
        series = await _scrape(gr)
    finally:
        for node in started:
            await node.stop(0)

    # Counters live for the process (other tests' nodes had these ids too): at least this exchange.
    assert dict((labels["peer"], v) for labels, v in series["focalpoint_delivery_attempts_total"])[AL] >= 1
    assert ({"peer": AL}, 1.0) in series["focalpoint_partner_reachable"]
    assert all(abs(v) < 5 for _, v in series["focalpoint_partner_clock_offset_seconds"])
    assert 0 < series["focalpoint_directory_expiry_hours"][0][1] < 24 * 366
    assert 0 <= series["focalpoint_checkpoint_age_seconds"][0][1] < 60
    assert series["focalpoint_disk_free_bytes"][0][1] > 0
    assert series["focalpoint_notifications_queued"] == [({"channel": "email"}, 1.0)]
    assert series["focalpoint_notifications_given_up"] == [({"channel": "email"}, 1.0)]
    assert series.get("focalpoint_outbox_queued", []) == []  # delivered: nothing waits
    for name in ("focalpoint_login_failures_total", "focalpoint_refusals_total", "focalpoint_witness_alarms"):
        assert all(v >= 0 for _, v in series.get(name, []))
    labels = {v for samples in series.values() for labels, _ in samples for v in labels.values()}
    assert {labels["kind"] for labels, _ in series["focalpoint_deadlines_overdue"]} == set(KINDS)
    assert labels <= {
        GR,
        AL,
        "it-dgi",
        "signing",
        "encryption",
        "log",
        "given",
        "received",
        "email",
        *KINDS,
        *OWED_BY,
    } | {
        v
        for v in labels
        if re.fullmatch(r"[A-Z_]+", v)  # refusal codes
    }
    assert CASE not in labels


async def test_nothing_listens_without_a_metrics_section(network: LocalNetwork) -> None:
    config = load_config(network.nodes[GR].config_path)
    assert config.metrics is None


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("metrics:\n  listen:\n    port: 70000\n", "metrics.listen.port: expected an integer in [0, 65535]"),
        ("metrics:\n  listen:\n    host: ''\n", "metrics.listen.host: expected a host name or IP address"),
        ("metrics:\n  listn: {}\n", "metrics.listn: unknown key (did you mean listen?)"),
        ("metrics: 3\n", "metrics: expected a mapping"),
    ],
)
def test_a_wrong_metrics_section_is_refused(network: LocalNetwork, tmp_path: Path, section: str, problem: str) -> None:
    source = network.nodes[GR].config_path
    path = source.parent / "with-metrics.yaml"
    path.write_text(source.read_text() + section)
    with pytest.raises(ConfigError, match=re.escape(problem)):
        load_config(path)


def test_a_metrics_section_defaults_to_loopback(network: LocalNetwork) -> None:
    source = network.nodes[GR].config_path
    path = source.parent / "with-metrics.yaml"
    path.write_text(source.read_text() + "metrics: {}\n")
    assert load_config(path).metrics == MetricsConfig("127.0.0.1", 9464)
