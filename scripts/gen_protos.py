"""Generate Python code, gRPC stubs and typing stubs from proto/ into libs/protogen/.

    python scripts/gen_protos.py            # write libs/protogen
    python scripts/gen_protos.py --check    # exit 1 if libs/protogen is stale

The generated code is committed so that the services run without grpcio-tools; the check
(also run as a test) keeps it honest.
"""

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "libs" / "protogen"
BIN = Path(sys.executable).parent  # mypy-protobuf's plugins sit beside the interpreter


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    out.mkdir(parents=True, exist_ok=True)
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--mypy_grpc_out=quiet:{out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package_dir in {p.parent for p in out.rglob("*_pb2.py")}:
        d = package_dir
        while d != out:
            (d / "__init__.py").touch()
            d = d.parent


def differences(a: Path, b: Path) -> list[str]:
    files_a = {
        p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    files_b = {
        p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    diff = sorted(str(p) for p in files_a ^ files_b)
    diff += sorted(
        str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False)
    )
    return diff


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="fail if libs/protogen is stale")
    args = parser.parse_args()
    if not args.check:
        for old in OUT_DIR.rglob("*"):
            if old.is_file() and "__pycache__" not in old.parts:
                old.unlink()
        generate(OUT_DIR)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        stale = differences(Path(tmp), OUT_DIR)
    if stale:
        print("libs/protogen is stale; run: make gen-protos\n  " + "\n  ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
