"""`a3lab attention bench`: time and memory of full, sliding-window and Linformer attention against N."""

from __future__ import annotations

import argparse

from a3lab.commands import add_common, positive_int


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sizes


def _methods(text: str) -> tuple[str, ...]:
    return tuple(s for s in text.replace(" ", "").split(",") if s)


def register(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "bench",
        help="time and memory of each attention against sequence length",
        description="Times full SDPA, our sliding window (each backend), Linformer and, when transformers is "
        "installed, HF's LongformerSelfAttention on the same q, k, v; prints a table, saves JSON and plots.",
    )
    p.add_argument(
        "--preset",
        default="quick",
        choices=["quick", "full"],
        help="quick: N = 1k..4k, no FlexAttention; full: N = 1k..32k, all backends (default: quick)",
    )
    p.add_argument("--sizes", type=_sizes, default=None, help="sequence lengths, e.g. 1024,2048 (default: preset)")
    p.add_argument(
        "--methods",
        type=_methods,
        default=None,
        help="comma-separated: full, sliding-blocked, sliding-matmul, sliding-flex, linformer, "
        "hf-longformer (default: preset)",
    )
    p.add_argument("--heads", type=positive_int, default=12, help="heads H (default: 12)")
    p.add_argument("--head-dim", type=positive_int, default=64, help="head dim D (default: 64)")
    p.add_argument(
        "--window", type=positive_int, default=128, help="one-sided window W; HF attention_window = 2 W (default: 128)"
    )
    p.add_argument("--linformer-k", type=positive_int, default=256, help="Linformer rank K (default: 256)")
    p.add_argument("--repeats", type=positive_int, default=None, help="timed calls per cell (default: preset)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads, 0 = torch default (default: 1)")
    p.add_argument(
        "--matmul-size", type=positive_int, default=2048, help="square matmul for the machine's GFLOP/s (default: 2048)"
    )
    p.add_argument(
        "--clock",
        default="cpu",
        choices=["cpu", "wall"],
        help="cpu: process CPU time, robust on a shared machine; wall: elapsed (default: cpu)",
    )
    p.add_argument("--no-backward", action="store_true", help="skip the forward+backward timing")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    p.add_argument("--out", default="runs/attention_bench", help="folder for JSON and plots (default: %(default)s)")
    add_common(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.attention_bench import format_table, hf_installed, plot, preset_config, run_benchmark
    from a3lab.utils import resolve_device, seed_everything, write_json

    seed_everything(args.seed)
    overrides = dict(
        heads=args.heads,
        head_dim=args.head_dim,
        window=args.window,
        linformer_k=args.linformer_k,
        threads=args.threads,
        matmul_size=args.matmul_size,
        clock=args.clock,
        backward=not args.no_backward,
        memory=not args.no_memory,
        device=str(resolve_device(args.device)),
        seed=args.seed,
    )
    for name in ("sizes", "methods", "repeats"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = preset_config(args.preset, **overrides)
    result = run_benchmark(config)
    print(format_table(result))
    out = Path(args.out)
    images = plot(result, out)
    write_json({**result, "images": images, "hf_installed": hf_installed()}, out / "attention_bench.json")
    print(f"wrote {out / 'attention_bench.json'} and {', '.join(images)}")
    return 0
