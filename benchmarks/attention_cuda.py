"""The whole CUDA attention benchmark in one run: writes attention_sweep.json (after every group, so a run cut
short keeps what it measured) and one plot per pass and dtype. Run by hand, never by pytest.

    python benchmarks/attention_cuda.py --out runs/attention_cuda                  # the GPU run: N = 4k..128k
    python benchmarks/attention_cuda.py --budget-s 420 --out runs/attention_cuda   # stop starting groups at 7 min
    python benchmarks/attention_cuda.py --device cpu --sizes 256,512 --heads 2 --windows 8,16 --out /tmp/sweep

Forward and forward + backward, float32 and bfloat16, windows 128 and 256, B=1 H=12 D=64: full SDPA (the
kernel PyTorch picks is recorded), our blocked and matmul bands, compiled FlexAttention with a sliding-window
block mask, Linformer, and flash-attn's `window_size` when `flash_attn` is importable. The logic lives in
`a3lab.attention.sweep`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from a3lab.attention.bench_config import SweepConfig
from a3lab.attention.sweep import format_sweep, plot_sweep, run_sweep
from a3lab.utils import write_json


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", type=_ints, default=SweepConfig.sizes)
    parser.add_argument("--windows", type=_ints, default=SweepConfig.windows)
    parser.add_argument("--dtypes", type=lambda t: tuple(t.split(",")), default=SweepConfig.dtypes)
    parser.add_argument("--methods", type=lambda t: tuple(t.split(",")), default=SweepConfig.methods)
    parser.add_argument("--heads", type=int, default=SweepConfig.heads)
    parser.add_argument("--head-dim", type=int, default=SweepConfig.head_dim)
    parser.add_argument("--linformer-k", type=int, default=SweepConfig.linformer_k)
    parser.add_argument("--rounds", type=int, default=SweepConfig.rounds)
    parser.add_argument("--budget-s", type=float, default=0.0, help="start no new group after this (0: no limit)")
    parser.add_argument("--out", default="runs/attention_cuda")
    args = parser.parse_args(argv)
    config = SweepConfig(
        sizes=args.sizes, windows=args.windows, dtypes=args.dtypes, methods=args.methods, heads=args.heads,
        head_dim=args.head_dim, linformer_k=args.linformer_k, rounds=args.rounds, device=args.device,
        extra={"command": " ".join(["python", "benchmarks/attention_cuda.py", *(argv or sys.argv[1:])])},
    )  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_sweep(config, on_group=lambda partial: write_json(partial, out / "attention_sweep.json"),
                       budget_s=args.budget_s)  # fmt: skip
    images = plot_sweep(result, out)
    write_json({**result, "images": images}, out / "attention_sweep.json")
    print(format_sweep(result))
    print(f"wrote {out / 'attention_sweep.json'} and {', '.join(images)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
