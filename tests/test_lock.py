"""requirements.lock, the production install's lock file (scripts/lock.sh writes it): every runtime
dependency of pyproject.toml is pinned there, at a version pyproject allows (the very version
when pyproject pins it exactly), at the version the test suite runs with, and every package of
the lock carries sha256 hashes, so that ``pip install --require-hashes`` accepts it.

A failure here after a dependency changed means: run scripts/lock.sh and commit the lock.

Optional extras (``otel``) are not in the lock: it holds what every node runs. Each is pinned
exactly in pyproject.toml, repeated in the dev extra, and installed at that version for the tests."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)\s*\\$")
HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}(\s*\\)?$")


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["dependencies"]]


def locked() -> dict[str, tuple[str, int]]:
    """Each pinned package of the lock: its version and how many hashes follow it."""
    pins: dict[str, tuple[str, int]] = {}
    current: str | None = None
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if m := PIN.match(line):
            current = canonicalize_name(m["name"])
            assert current not in pins, f"{current} is pinned twice"
            pins[current] = (m["version"], 0)
        elif current is not None and HASH.match(line):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            assert not line.startswith((" ", "-")), f"unexpected line in the lock: {line!r}"
            raise AssertionError(f"a requirement without an exact pin and hashes: {line!r}")
    return pins


LOCK = locked()


def test_the_lock_pins_packages() -> None:
    assert len(LOCK) >= len(runtime_requirements())


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=lambda r: r.name)
def test_every_runtime_dependency_is_locked_at_an_allowed_version_the_tests_run_with(requirement: Requirement) -> None:
    name = canonicalize_name(requirement.name)
    assert name in LOCK, f"{name} is a runtime dependency but not in requirements.lock: run scripts/lock.sh"
    version, _ = LOCK[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock has {name}=={version}, pyproject.toml asks for {requirement.specifier}"
    )
    exact = [s.version for s in requirement.specifier if s.operator == "=="]
    assert exact in ([], [version]), f"pyproject pins {name}=={exact[0]}, the lock has {version}"
    installed = importlib.metadata.version(name)
    assert installed == version, f"the tests run with {name}=={installed}, the lock has {version}: run scripts/lock.sh"


@pytest.mark.parametrize("name", sorted(LOCK))
def test_every_locked_package_has_a_sha256_hash(name: str) -> None:
    assert LOCK[name][1] >= 1, f"{name} has no --hash line: pip install --require-hashes would refuse the lock"


def optional_requirements(extra: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(line) for line in project["optional-dependencies"][extra]]


@pytest.mark.parametrize("requirement", optional_requirements("otel"), ids=lambda r: r.name)
def test_the_otel_extra_is_pinned_tested_and_kept_out_of_the_runtime_lock(requirement: Requirement) -> None:
    exact = [s.version for s in requirement.specifier if s.operator == "=="]
    assert len(exact) == 1, f"{requirement}: an optional dependency is pinned exactly"
    assert str(requirement) in {str(r) for r in optional_requirements("dev")}, f"{requirement} not in the dev extra"
    assert importlib.metadata.version(requirement.name) == exact[0], f"the tests run another {requirement.name}"
    assert canonicalize_name(requirement.name) not in LOCK, "the runtime lock holds only what every node runs"
