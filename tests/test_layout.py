"""The layout holds: every package says what lives in it and states its public names, and the
import contracts in pyproject.toml fail when an import breaks the architecture."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("focalpoint", "directory", "adapters")


def _modules() -> list[str]:
    names: list[str] = []
    for top in TOP:
        names.append(top)
        package = importlib.import_module(top)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{top}."):
            if ".v1" not in info.name and info.name != "focalpoint.__main__":
                names.append(info.name)
    return names


MODULES = _modules()
PACKAGES = [name for name in MODULES if hasattr(importlib.import_module(name), "__path__")]


def _public(module: ModuleType) -> list[str]:
    return list(getattr(module, "__all__", None) or [])


@pytest.mark.parametrize("name", MODULES)
def test_every_module_says_what_it_is_and_names_its_public_names(name: str) -> None:
    """A module docstring and an ``__all__`` whose every name resolves (a name or a submodule)."""
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no docstring"
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    for public in _public(module):
        if not hasattr(module, public):
            importlib.import_module(f"{name}.{public}")  # a package may name its modules


@pytest.mark.parametrize("name", [p for p in PACKAGES if p != "adapters"])
def test_every_package_docstring_says_which_way_its_imports_go(name: str) -> None:
    """Each package's docstring names what it may import (or what imports it)."""
    doc = importlib.import_module(name).__doc__ or ""
    assert "mport" in doc, f"{name}'s docstring does not say which way its imports go"


def test_there_are_at_least_the_packages_of_the_architecture() -> None:
    """The rooms the architecture document describes exist."""
    expected = {
        "focalpoint.crypto",
        "focalpoint.exchange",
        "focalpoint.audit",
        "focalpoint.storage",
        "focalpoint.storage.sqlite",
        "focalpoint.net",
        "focalpoint.node",
        "focalpoint.admin",
        "focalpoint.server",
        "focalpoint.localnet",
        "focalpoint.bench",
        "focalpoint.cli",
        "focalpoint.console",
        "directory",
    }
    assert expected <= set(PACKAGES)


# --- the import contracts bite ---------------------------------------------------------------

VIOLATIONS = [
    pytest.param(
        "focalpoint/exchange/codec.py",
        "from focalpoint.node import ports\n",
        {"The house has floors", "The trust core does no I/O", "No import circle"},
        id="pure-core-imports-the-node",
    ),
    pytest.param(
        "focalpoint/audit/tree.py",
        "import grpc\n",
        {"The trust core does no I/O"},
        id="pure-core-imports-grpc",
    ),
    pytest.param(
        "focalpoint/node/inbox.py",
        "from focalpoint.net import channels\n",
        {"The node's parts reach storage and peers only through their ports"},
        id="node-reaches-past-its-port",
    ),
    pytest.param(
        "focalpoint/console/__init__.py",
        "from focalpoint.server import node\n",
        {"Only these packages import the server", "The web console reaches the node only through the local API client"},
        id="web-console-bypasses-the-client",
    ),
    pytest.param(
        "focalpoint/storage/base.py",
        "from focalpoint.server import config\n",
        {"The house has floors", "No import circle"},
        id="storage-imports-upward",
    ),
]


def _lint_imports() -> str:
    found = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(found).exists():
        pytest.fail("lint-imports (import-linter) is not installed: run ./scripts/test.sh")
    return found


@pytest.mark.parametrize(("path", "line", "broken"), VIOLATIONS)
def test_an_import_against_the_architecture_breaks_its_contract(
    tmp_path: Path, path: str, line: str, broken: set[str]
) -> None:
    """A copy of the tree with one bad import added fails the contracts that forbid it."""
    for top in TOP:
        shutil.copytree(ROOT / top, tmp_path / top, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text((target.read_text() if target.exists() else "") + line, encoding="utf-8")
    result = subprocess.run(
        [_lint_imports(), "--no-logo", "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    status = _statuses(result.stdout)
    for prefix in broken:
        [name] = [n for n in status if n.startswith(prefix)]
        assert status[name] == "BROKEN", f"{name!r} was {status[name]}:\n{result.stdout[-3000:]}"


def _statuses(report: str) -> dict[str, str]:
    """Each contract's name (from pyproject.toml) and whether the report says KEPT or BROKEN."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        contracts = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    text = " ".join(report.split())  # long names wrap in the report
    out: dict[str, str] = {}
    for contract in contracts:
        found = re.search(re.escape(" ".join(contract["name"].split())) + r" (KEPT|BROKEN)", text)
        assert found is not None, f"the report does not mention {contract['name']!r}"
        out[contract["name"]] = found.group(1)
    return out


def test_the_tree_as_it_is_keeps_every_contract() -> None:
    """lint-imports passes on the project itself (the test command runs it too)."""
    result = subprocess.run(
        [_lint_imports(), "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(_statuses(result.stdout).values()) == {"KEPT"}
