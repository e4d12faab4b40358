"""a3lab.attention.memory: the /proc peak-RSS probe, in a fresh process as the benchmark runs it."""

from __future__ import annotations

import os
import subprocess
import sys


def test_peak_rss_sees_torch_allocations() -> None:
    code = (
        "import torch; from a3lab.attention.memory import peak_rss_mb\n"
        "print(peak_rss_mb(lambda: torch.ones(10_000_000)))"
    )
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert float(done.stdout.strip().splitlines()[-1]) >= 35  # 40 MB of float32
