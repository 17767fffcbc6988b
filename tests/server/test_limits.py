"""The node process's descriptor budget: the soft limit is raised to the hard one, and the peer
port's share leaves a reserve for the local API and storage."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from focalpoint.server.limits import MAX_PEER_CONNECTIONS, MIN_PEER_CONNECTIONS, MIN_RESERVED, descriptor_budget


@pytest.mark.parametrize(
    ("soft", "peer", "reserved"),
    [
        (160, 96, MIN_RESERVED),  # a low limit keeps at least MIN_RESERVED
        (1024, 768, 256),  # a quarter stays for the rest
        (20_000, MAX_PEER_CONNECTIONS, 20_000 - MAX_PEER_CONNECTIONS),  # plenty: the cap is absolute
        (40, MIN_PEER_CONNECTIONS, 40 - MIN_PEER_CONNECTIONS),  # absurdly low: the port still opens
    ],
)
def test_the_peer_port_gets_what_the_reserve_leaves(soft: int, peer: int, reserved: int) -> None:
    """At least MIN_RESERVED or a quarter of the descriptors stay off the peer port, which holds at most 1,024."""
    budget = descriptor_budget(soft)
    assert (budget.peer_connections, budget.reserved) == (peer, reserved)
    assert budget.low is (soft < 256)


def test_without_a_known_limit_the_peer_port_gets_its_absolute_cap_and_no_warning() -> None:
    """Where the platform has no descriptor limit, the cap is MAX_PEER_CONNECTIONS and nothing is called low."""
    budget = descriptor_budget(-1)
    assert (budget.peer_connections, budget.reserved, budget.low) == (MAX_PEER_CONNECTIONS, -1, False)


def test_a_node_process_raises_its_soft_descriptor_limit_to_the_hard_one() -> None:
    """A process started with soft 128 under a hard limit of 512 runs with 512 after raising."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 512:
        pytest.skip(f"this machine's hard limit is {hard}")

    def lower() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 512))

    code = "from focalpoint.server.limits import raise_descriptor_limit as r; print(*r())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        preexec_fn=lower,
    ).stdout.split()
    assert [int(v) for v in out] == [128, 512, 512]
