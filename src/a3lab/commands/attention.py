"""`a3lab attention bench|train|linformer-error`: Problem 3, linear-time self-attention.

`bench` times and measures full, sliding-window and Linformer attention against N; `train` fits the small
encoder with each attention kind on pixel-sequence MNIST / Fashion-MNIST or the synthetic long-range task;
`linformer-error` measures Linformer's relative output error against full attention as K grows.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from a3lab.commands import (
    add_common,
    check_output_file_arg,
    int_range,
    max_threads,
    positive_float,
    positive_int,
    refuse_existing,
)
from a3lab.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attention", help="Problem 3: Longformer and Linformer against full attention")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    _register_bench(actions)
    _register_train(actions)
    _register_linformer_error(actions)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1 or max(sizes) > 2**20:
        raise argparse.ArgumentTypeError(f"expected integers in 1 .. {2**20:,}, got {text!r}")
    return sizes


def _methods(text: str) -> tuple[str, ...]:
    methods = tuple(s.strip() for s in text.split(","))
    if not text.strip() or any(not m for m in methods):
        raise argparse.ArgumentTypeError(f"expected comma-separated method names without empty items, got {text!r}")
    return methods


def _register_bench(actions: argparse._SubParsersAction) -> None:
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
    p.add_argument("--heads", type=int_range(1, 1024), default=12, help="heads H (default: 12)")
    p.add_argument("--head-dim", type=int_range(1, 4096), default=64, help="head dim D (default: 64)")
    p.add_argument(
        "--window",
        type=int_range(1, 2**20),
        default=128,
        help="one-sided window W; HF attention_window = 2 W (default: 128)",
    )
    p.add_argument("--linformer-k", type=int_range(1, 2**20), default=256, help="Linformer rank K (default: 256)")
    p.add_argument("--repeats", type=int_range(1, 100_000), default=None, help="timed calls per cell (default: preset)")
    p.add_argument(
        "--threads",
        type=int_range(0, max_threads()),
        default=1,
        help="intra-op threads, 0 = torch default (default: 1)",
    )
    p.add_argument(
        "--matmul-size",
        type=int_range(1, 16_384),
        default=2048,
        help="square matmul for the machine's GFLOP/s (default: 2048)",
    )
    p.add_argument(
        "--clock",
        default="cpu",
        choices=["cpu", "wall"],
        help="cpu: process CPU time, robust on a shared machine; wall: elapsed (default: cpu)",
    )
    p.add_argument("--no-backward", action="store_true", help="skip the forward+backward timing")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocess")
    _add_sweep_arguments(p)
    p.add_argument("--out", default="runs/attention_bench", help="folder for JSON and plots (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace the results already in --out")
    add_common(p)
    p.set_defaults(func=cmd_bench)


def _add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sweep",
        action="store_true",
        help="the device sweep (always on CUDA): forward and forward+backward, each of --dtypes and --windows, "
        "interleaved rounds (--repeats, default 5), peak memory, exactness at N <= 4096",
    )
    p.add_argument("--windows", type=_sizes, default=(128, 256), help="sweep: one-sided windows (default: 128,256)")
    p.add_argument(
        "--dtypes", type=_methods, default=("bfloat16", "float32"), help="sweep: dtypes (default: bfloat16,float32)"
    )


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.attention.bench import format_table, hf_installed, plot, preset_config, run_benchmark
    from a3lab.utils import resolve_device, seed_everything, write_json

    device = resolve_device(args.device)
    if args.sweep or device.type == "cuda":
        return _cmd_sweep(args, str(device))
    refuse_existing([Path(args.out) / "attention_bench.json"], args.force, folder=args.out)
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
        device=str(device),
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


def _cmd_sweep(args: argparse.Namespace, device: str) -> int:
    from a3lab.attention.sweep import SweepConfig, format_sweep, plot_sweep, run_sweep
    from a3lab.utils import seed_everything, write_json

    out = Path(args.out)
    refuse_existing([out / "attention_sweep.json"], args.force, folder=args.out)
    seed_everything(args.seed)
    options = dict(windows=args.windows, dtypes=args.dtypes, heads=args.heads, head_dim=args.head_dim)
    options.update(linformer_k=args.linformer_k, device=device, seed=args.seed)
    options["extra"] = {"command": "a3lab attention bench --sweep"}
    if args.sizes is not None:
        options["sizes"] = args.sizes
    if args.methods is not None:
        options["methods"] = args.methods
    if args.repeats is not None:
        options["rounds"] = args.repeats
    config = SweepConfig(**options)
    result = run_sweep(config, on_group=lambda partial: write_json(partial, out / "attention_sweep.json"))
    images = plot_sweep(result, out)
    write_json({**result, "images": images}, out / "attention_sweep.json")
    print(format_sweep(result))
    print(f"wrote {out / 'attention_sweep.json'} and {', '.join(images)}")
    return 0


TASK_CHOICES = ("pixel-mnist", "pixel-fashion-mnist", "long-range")
TRAIN_OPTIONS = ("steps", "batch_size", "train_examples", "test_examples", "dim", "depth", "heads", "window")
TRAIN_OPTIONS += ("dilation", "k", "length", "span", "readout", "lr")
"""TrainConfig fields whose unset flags take the task's defaults."""
KIND_CHOICES = ("full", "sliding", "sliding-global", "sliding-dilated", "linformer", "all")


def _register_train(actions: argparse._SubParsersAction) -> None:
    tr = actions.add_parser(
        "train",
        help="train the small encoder on a task with each attention kind (same budget and seed)",
        description="Train the small encoder with each attention kind on one task and score it on test data. "
        "Unset options take the task's defaults (the report's 'full' preset budget).",
    )
    tr.add_argument("--task", required=True, choices=TASK_CHOICES, help="what to learn")
    tr.add_argument(
        "--kind",
        default="all",
        choices=KIND_CHOICES,
        help="attention kind; all = full, sliding, sliding-global and linformer on pixel tasks, "
        "plus sliding-dilated on long-range (default: all)",
    )
    tr.add_argument(
        "--steps", type=int_range(1, 10_000_000), default=None, help="training steps (default: 200 pixel, 40 long)"
    )
    tr.add_argument(
        "--batch-size", type=int_range(1, 65_536), default=None, help="sequences per step (default: 32 / 16)"
    )
    tr.add_argument(
        "--lr", type=positive_float, default=None, help="peak AdamW learning rate (default: 1e-2 pixel, 3e-3 long)"
    )
    tr.add_argument(
        "--train-examples",
        type=positive_int,
        default=None,
        help="pixel: training images, a seeded subset (default: 6400)",
    )
    tr.add_argument("--test-examples", type=positive_int, default=None, help="test sequences (default: 2000 / 256)")
    tr.add_argument("--dim", type=int_range(1, 4096), default=None, help="model width (default: 32)")
    tr.add_argument("--depth", type=int_range(1, 64), default=None, help="encoder blocks (default: 1 pixel, 2 long)")
    tr.add_argument("--heads", type=int_range(1, 256), default=None, help="attention heads (default: 2)")
    tr.add_argument("--window", type=int_range(1, 2**20), default=None, help="one-sided window (default: 28 / 32)")
    tr.add_argument(
        "--dilation",
        type=int_range(1, 2**20),
        default=None,
        help="sliding-dilated: layer l uses dilation**l (default: 65)",
    )
    tr.add_argument("--k", type=int_range(1, 2**20), default=None, help="Linformer projected length K (default: 64)")
    tr.add_argument(
        "--length", type=int_range(1, 2**20), default=None, help="long-range: sequence length (default: 2048)"
    )
    tr.add_argument(
        "--span",
        type=int_range(1, 2**20),
        default=None,
        help="long-range: tokens carrying each end's symbol (default: 128)",
    )
    tr.add_argument(
        "--readout",
        default=None,
        choices=["cls", "mean"],
        help="read out a CLS token or the mean of the tokens (default: cls on long-range; on pixel tasks cls for "
        "sliding-global, mean otherwise)",
    )
    tr.add_argument("--out", default=None, help="folder for results.json and one checkpoint per kind")
    tr.add_argument("--force", action="store_true", help="write into a non-empty --out")
    add_common(tr)
    tr.set_defaults(func=cmd_train)


def _register_linformer_error(actions: argparse._SubParsersAction) -> None:
    le = actions.add_parser(
        "linformer-error",
        help="Linformer's relative output error against full attention as K grows",
        description="Relative error ||lin - full|| / ||full|| for each K, on random Gaussian q, k, v and on the "
        "first-layer q, k, v of a trained model (from --checkpoint, or trained here with --train-steps).",
    )
    le.add_argument(
        "--k",
        dest="ks",
        default="8,16,32,64,128,256,392,784",
        help="comma-separated projected lengths K (default: 8,16,32,64,128,256,392,784)",
    )
    le.add_argument(
        "--projection",
        default="pool",
        choices=["pool", "gaussian"],
        help="E = F: mean pooling over N/K positions, or Gaussian random (default: pool)",
    )
    le.add_argument("--examples", type=int_range(1, 100_000), default=16, help="sequences to measure on (default: 16)")
    le.add_argument("--checkpoint", default=None, help="a model saved by `a3lab attention train --out`")
    le.add_argument(
        "--train-steps",
        type=int_range(0, 10_000_000),
        default=0,
        help="without --checkpoint: train a full-attention pixel-mnist model this many steps first "
        "(default: 0 = random inputs only)",
    )
    le.add_argument("--out", default=None, help="write the result as JSON to this file")
    le.add_argument("--plot", default=None, help="write the error-vs-K plot (PNG) to this file")
    le.add_argument("--force", action="store_true", help="replace existing --out and --plot files")
    add_common(le)
    le.set_defaults(func=cmd_linformer_error)


def _kinds(kind: str, task: str) -> list[str]:
    from a3lab.attention.tasks import KINDS, PIXEL_KINDS, cli_kind

    if kind == "all":
        return list(KINDS if task == "long-range" else PIXEL_KINDS)
    return [cli_kind(kind)]


def _fmt_field(value) -> str:
    return "all" if value is None else str(value)


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.attention.experiment import task_defaults
    from a3lab.attention.tasks import TrainConfig, save_model, train_model
    from a3lab.utils import write_json

    defaults = task_defaults(args.task)
    given = {name: getattr(args, name) for name in TRAIN_OPTIONS if getattr(args, name) is not None}
    options = {**defaults, **given}
    kinds = _kinds(args.kind, args.task)
    # validate every kind's config before the first (long) training run starts
    configs = [TrainConfig(task=args.task, kind=kind, seed=args.seed, device=args.device, **options) for kind in kinds]
    out = Path(args.out) if args.out else None
    from a3lab.utils import open_run_folder

    folder = open_run_folder(out, force=args.force) if out is not None else contextlib.nullcontext()
    with folder:
        results = {}
        print(f"{'kind':<16} {'accuracy':>9} {'s/epoch':>9} {'steps':>6} {'train ex':>9} {'reach':>6} {'params':>8}")
        for config in configs:
            model, result = train_model(config)
            results[config.kind] = result
            print(
                f"{config.kind:<16} {100 * result['accuracy']:>8.2f}% {result['seconds_per_epoch']:>9.1f} "
                f"{result['steps']:>6} {result['train_examples']:>9} {_fmt_field(result['receptive_field']):>6} "
                f"{result['parameters']:>8}",
                flush=True,
            )
            if out is not None:
                save_model(model, out / f"{args.task}_{config.kind}.pt", config)
        summary = {"task": args.task, "results": results}
        if out is not None:
            write_json(summary, out / "results.json")
            print(f"wrote {out / 'results.json'} and one checkpoint per kind")
        else:
            compact = {k: {m: r[m] for m in ("accuracy", "seconds_per_epoch", "steps")} for k, r in results.items()}
            print(json.dumps({"task": args.task, "results": compact}))
    return 0


def _parse_ks(text: str) -> list[int]:
    try:
        ks = [int(v) for v in text.replace(" ", "").split(",")]  # an empty item is an error, not skipped
    except ValueError:
        raise UserError(f"`k` must be comma-separated integers, got {text!r}") from None
    if not ks:
        raise UserError("`k` needs at least one value")
    return ks


def cmd_linformer_error(args: argparse.Namespace) -> int:
    from a3lab.attention.experiment import plot_linformer_error, task_defaults
    from a3lab.attention.linformer_error import LinformerErrorConfig, linformer_error
    from a3lab.attention.tasks import TrainConfig, load_model, sample_tokens, train_model
    from a3lab.utils import resolve_device, seed_everything, write_json

    ks = _parse_ks(args.ks)
    for param in ("out", "plot"):
        if getattr(args, param):
            check_output_file_arg(getattr(args, param), args.force, param=param)
    if args.train_steps < 0:
        raise UserError(f"`train_steps` must be >= 0, got {args.train_steps}")
    seed_everything(args.seed)
    device = resolve_device(args.device)
    model, tokens, source = None, None, "none"
    if args.checkpoint:
        model, train_config = load_model(args.checkpoint, device)
        source = f"{args.checkpoint} ({train_config.task}, {train_config.kind})"
    elif args.train_steps:
        options = {**task_defaults("pixel-mnist"), "steps": args.train_steps}
        train_config = TrainConfig(task="pixel-mnist", kind="full", seed=args.seed, device=args.device, **options)
        model, result = train_model(train_config)
        source = f"full attention trained {args.train_steps} steps on pixel-mnist ({100 * result['accuracy']:.1f}%)"
    seq_len = model.config.tokens if model is not None else 784
    config = LinformerErrorConfig(
        ks=tuple(ks), seq_len=seq_len, examples=args.examples, projection=args.projection, seed=args.seed
    )
    if model is not None:
        tokens = sample_tokens(train_config, args.examples).to(device)
    result = linformer_error(config, model, tokens)
    result["model"] = source
    print(f"Linformer relative error ||lin - full|| / ||full||, {args.projection} projection, N = {seq_len}")
    print(f"trained model: {source}")
    print(f"{'K':>6} {'random':>10} {'trained':>10}")
    for i, k in enumerate(result["k"]):
        trained = "" if result["trained"] is None else f"{result['trained'][i]:.4f}"
        print(f"{k:>6} {result['random'][i]:>10.4f} {trained:>10}")
    if args.plot:
        print(f"wrote {plot_linformer_error(result, Path(args.plot))}")
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({k: result[k] for k in ("k", "random", "trained")}))
    return 0
