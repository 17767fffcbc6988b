"""``focalpoint.localnet.free_port``: ports outside the ephemeral range, and a range of one's own when
test workers run side by side."""

from __future__ import annotations

import pytest

from focalpoint.localnet import free_port


def test_a_configured_range_is_where_every_port_comes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers given disjoint ranges can never hand out the same port."""
    monkeypatch.setenv("FOCALPOINT_FREE_PORTS", "23000-23049")
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert all(23000 <= p <= 23049 for p in ports)


@pytest.mark.parametrize("spec", ["23000", "a-b", "23000-22000", "80-90", "60000-70000"])
def test_a_malformed_range_is_refused_with_what_was_expected(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setenv("FOCALPOINT_FREE_PORTS", spec)
    with pytest.raises(ValueError, match="FOCALPOINT_FREE_PORTS must be"):
        free_port()
