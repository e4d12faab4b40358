"""Problem 3's cost benchmark, run by hand (never by pytest): prints the table of time, memory, slopes and
GFLOP/s for full SDPA, our sliding window (blocked, matmul, flex), Linformer and HF's Longformer.

    python benchmarks/attention.py                       # the full preset: N = 1k..32k (about 30+ min on 2 cores)
    python benchmarks/attention.py --preset quick        # N = 1k..4k
    python benchmarks/attention.py --sizes 1024,4096 --methods full,sliding-blocked --out runs/mine

Every flag of `a3lab attention bench` works here; the logic lives in `a3lab.attention.bench`.
"""

from __future__ import annotations

import sys

from a3lab.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--preset" not in argv:
        argv = ["--preset", "full", *argv]
    if "--out" not in argv:
        argv += ["--out", "runs/attention_bench_full"]
    sys.exit(main(["attention", "bench", *argv]))
