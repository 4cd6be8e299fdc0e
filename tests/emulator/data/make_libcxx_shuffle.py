"""Regenerate libcxx_shuffle.json from libcxx_shuffle.cpp, compiled against real libc++.

Needs clang++ with libc++ (Debian: apt-get install clang libc++-dev libc++abi-dev).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CASES = [(10, 2, None), (10, 2, 42), (1000, 3, 7), (5, 4, None), (2, 3, 1), (3000, 2, 2024),
         (300, 2, 4294967301), (4097, 1, 0)]


def run_cases(binary: Path) -> list[dict]:
    out = []
    for n, epochs, seed in CASES:
        args = [str(binary), str(n), str(epochs), str(seed or 0)] + (["seeded"] if seed is not None else [])
        lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split("\n")
        out.append({"n": n, "epochs": epochs, "seed": seed,
                    "orders": [[int(v) for v in line.split()] for line in lines if line]})
    return out


def build(folder: Path) -> Path:
    binary = folder / "libcxx_shuffle"
    subprocess.run(["clang++", "-std=c++17", "-stdlib=libc++", "-O1", str(HERE / "libcxx_shuffle.cpp"),
                    "-o", str(binary)], check=True)
    return binary


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        cases = run_cases(build(Path(tmp)))
    (HERE / "libcxx_shuffle.json").write_text(json.dumps(cases, separators=(",", ":")) + "\n")
