"""Shared paths for the pads Python tests (run by `make test` after cargo test)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pads_bin():
    """The `pads` CLI built by `make build` / cargo test (target/release/pads)."""
    path = pathlib.Path(os.environ.get("PADS_BIN", ROOT / "target" / "release" / "pads"))
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make build` first (make test does)")
    return path


def run_pads(*args):
    out = subprocess.run([str(pads_bin()), *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"pads {' '.join(map(str, args))} failed:\n{out.stderr}")
    return out
