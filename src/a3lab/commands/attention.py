"""`a3lab attention bench|train|linformer-error`: Problem 3, linear-time self-attention.

`bench` times and measures full, sliding-window and Linformer attention against N; `train` fits the small
encoder with each attention kind on pixel-sequence MNIST / Fashion-MNIST or the synthetic long-range task;
`linformer-error` measures Linformer's relative output error against full attention as K grows. The flags
are generated from the configs (`a3lab.attention.bench_config`, `a3lab.attention.task_config`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path

from a3lab.attention.bench_config import (
    METHODS,
    PRESETS,
    SWEEP_METHODS,
    BenchConfig,
    SweepConfig,
    describe_presets,
)
from a3lab.attention.task_config import (
    KINDS,
    PIXEL_KINDS,
    TRAIN_FOLDER,
    LinformerErrorConfig,
    TrainConfig,
    task_configs,
    task_defaults_text,
    task_kinds,
)
from a3lab.commands import apply_threads, int_range, subcommand, word_list
from a3lab.commands.flags import add_flags, overrides
from a3lab.config import field_docs
from a3lab.errors import UserError
from a3lab.runs import check_outputs, open_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attention", help="Problem 3: Longformer and Linformer against full attention")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    _register_bench(actions)
    _register_train(actions)
    _register_linformer_error(actions)


def _register_bench(actions: argparse._SubParsersAction) -> None:
    what = "time and memory of each attention against sequence length"
    about = (
        "Times full SDPA, our sliding window (each backend), Linformer and, when transformers is installed, HF's "
        "LongformerSelfAttention on the same q, k, v; prints a table, saves JSON and plots."
    )
    force = "replace the results already in --out"
    p = subcommand(actions, "bench", what, cmd_bench, description=about, default_threads=1, force=force)
    p.add_argument("--preset", default="quick", choices=list(PRESETS), help=f"{describe_presets()} (default: quick)")
    p.add_argument(
        "--methods",
        type=word_list,
        default=None,
        help=f"comma-separated: {', '.join(METHODS)}; with --sweep: {', '.join(SWEEP_METHODS)} (default: preset)",
    )
    add_flags(p, BenchConfig, skip=("methods",), defaults={"sizes": "preset", "repeats": "preset"})
    p.add_argument(
        "--sweep",
        action="store_true",
        help="the device sweep (always on CUDA): forward and forward+backward, each of --dtypes and --windows, "
        f"interleaved rounds (--repeats, default {SweepConfig.rounds}), peak memory, exactness at N <= "
        f"{SweepConfig.exact_max_n}",
    )
    add_flags(p, SweepConfig, only=("windows", "dtypes"))
    p.add_argument("--out", default="runs/attention_bench", help="folder for JSON and plots (default: %(default)s)")


def cmd_bench(args: argparse.Namespace) -> int:
    from a3lab.attention.bench_config import preset_config
    from a3lab.attention.bench_folder import bench_into, sweep_into
    from a3lab.utils import resolve_device

    device = str(resolve_device(args.device))
    apply_threads(args)
    if args.sweep or device.startswith("cuda"):
        options = {**overrides(args, SweepConfig), "device": device, "seed": args.seed}
        options.update(extra={"command": "a3lab attention bench --sweep"}, rounds=args.repeats or SweepConfig.rounds)
        sweep_into(SweepConfig(**options), args.out, force=args.force)
    else:
        given = {**overrides(args, BenchConfig), "device": device, "seed": args.seed, "threads": args.threads}
        bench_into(preset_config(args.preset, **given), args.out, force=args.force)
    return 0


def _register_train(actions: argparse._SubParsersAction) -> None:
    what = "train the small encoder on a task with each attention kind (same budget and seed)"
    about = (
        "Train the small encoder with each attention kind on one task and score it on test data. Unset options "
        "take the task's defaults (the report's 'full' preset budget)."
    )
    force = "replace the run in --out (never a file a3lab did not write)"
    tr = subcommand(actions, "train", what, cmd_train, description=about, threads=False, force=force)
    add_flags(tr, TrainConfig, skip=("seed", "device"), defaults=task_defaults_text())
    task = next(a for a in tr._actions if a.dest == "task")
    task.required, task.help = True, field_docs(TrainConfig)["task"]
    kinds = [k.replace("_", "-") for k in KINDS]
    tr.add_argument(
        "--kind",
        dest="kinds",
        default="all",
        choices=[*kinds, "all"],
        help=f"attention kind; all = {', '.join(k.replace('_', '-') for k in PIXEL_KINDS)} on pixel tasks, "
        "every kind on long-range (default: all)",
    )
    tr.add_argument("--out", default=None, help="folder for results.json and one checkpoint per kind")


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.attention.experiment import train_kinds

    configs = task_configs(args.task, task_kinds(args.kinds, args.task), overrides(args, TrainConfig))
    out = Path(args.out) if args.out else None
    with open_run(out, TRAIN_FOLDER, force=args.force) if out is not None else contextlib.nullcontext():
        results = train_kinds(args.task, configs, out)
        if out is not None:
            print(f"wrote {out / 'results.json'} and one checkpoint per kind")
        else:
            compact = {k: {m: r[m] for m in ("accuracy", "seconds_per_epoch", "steps")} for k, r in results.items()}
            print(json.dumps({"task": args.task, "results": compact}))
    return 0


def _register_linformer_error(actions: argparse._SubParsersAction) -> None:
    what = "Linformer's relative output error against full attention as K grows"
    about = (
        "Relative error ||lin - full|| / ||full|| for each K, on random Gaussian q, k, v and on the first-layer "
        "q, k, v of a trained model (from --checkpoint, or trained here with --train-steps)."
    )
    force = "replace existing --out and --plot files"
    le = subcommand(
        actions, "linformer-error", what, cmd_linformer_error, description=about, threads=False, force=force
    )
    ks = ",".join(map(str, LinformerErrorConfig.ks))
    le.add_argument("--k", dest="ks", default=ks, help=f"comma-separated projected lengths K (default: {ks})")
    add_flags(le, LinformerErrorConfig, skip=("seed",))
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


def _parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(v) for v in text.replace(" ", "").split(","))  # an empty item is an error, not skipped
    except ValueError:
        raise UserError(f"`k` must be comma-separated integers, got {text!r}") from None
    if len(set(ks)) != len(ks):
        raise UserError(f"`k`: each item may appear once, got {text!r}")
    return ks


def cmd_linformer_error(args: argparse.Namespace) -> int:
    from a3lab.attention.experiment import plot_linformer_error
    from a3lab.attention.linformer_error import format_error_table, measure
    from a3lab.utils import resolve_device, seed_everything, write_json

    ks = _parse_ks(args.ks)
    files = {"out": args.out, "plot": args.plot}
    check_outputs(files, force=args.force, suffixes={"out": (".json",), "plot": (".png",)})
    seed_everything(args.seed)
    device = resolve_device(args.device)
    given = {**overrides(args, LinformerErrorConfig), "ks": ks}
    result = measure(given, args.checkpoint, args.train_steps, args.seed, device)
    print(format_error_table(result))
    if args.plot:
        print(f"wrote {plot_linformer_error(result, Path(args.plot))}")
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    else:
        print(json.dumps({k: result[k] for k in ("k", "random", "trained")}))
    return 0
