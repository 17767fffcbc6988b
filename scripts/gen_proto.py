"""Regenerate the checked-in Python code from proto/ (the one way to do it).

    python scripts/gen_proto.py            # rewrite focalpoint/v1/*_pb2*.py(i)
    python scripts/gen_proto.py --check    # exit 1 if the checked-in code is stale

Uses grpcio-tools' bundled protoc and mypy-protobuf, pinned in pyproject.toml, so
the output is reproducible on any machine with the dev extras installed.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUT_PACKAGE = Path("focalpoint") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _generate(out_dir: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    if not protos:
        raise SystemExit("no .proto files under proto/")
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    plugin_dir = Path(sys.executable).parent
    env = {"PATH": f"{plugin_dir}:/usr/bin:/bin"}
    subprocess.run(cmd, check=True, env=env)


def _generated_files(base: Path) -> set[Path]:
    pkg = base / OUT_PACKAGE
    if not pkg.is_dir():
        return set()
    return {p.relative_to(base) for p in pkg.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare, do not write")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        _generate(tmp_path)
        fresh = _generated_files(tmp_path)
        current = _generated_files(ROOT)
        stale = sorted(
            str(p) for p in fresh if p not in current or not filecmp.cmp(tmp_path / p, ROOT / p, shallow=False)
        )
        extra = sorted(str(p) for p in current - fresh)
        if args.check:
            if stale or extra:
                for name in stale:
                    print(f"stale generated file: {name}", file=sys.stderr)
                for name in extra:
                    print(f"generated file without a .proto: {name}", file=sys.stderr)
                print("run: python scripts/gen_proto.py", file=sys.stderr)
                return 1
            print(f"generated code is up to date ({len(fresh)} files)")
            return 0
        for name in extra:
            (ROOT / name).unlink()
        for rel in fresh:
            (ROOT / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tmp_path / rel, ROOT / rel)
        print(f"wrote {len(fresh)} generated files under {OUT_PACKAGE}/")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
