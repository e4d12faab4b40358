"""`a3lab gan eval|reproduce`: judge a trained GAN run, and rerun the write-up's four runs.

The `gan` area's parser (a3lab.commands.gan) calls `register(actions)` to add these two actions.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from a3lab.commands import add_common, positive_int

if TYPE_CHECKING:
    from a3lab.gan_eval import Preset


def register(actions: argparse._SubParsersAction) -> None:
    """Add `eval` and `reproduce` to the `gan` area's action subparsers."""
    ev = actions.add_parser("eval", help="FID/KID vs the real floor, precision/recall, classes, conditional accuracy")
    ev.add_argument("run_dir", metavar="DIR", help="a run folder written by `a3lab gan train`")
    ev.add_argument("--n", type=positive_int, default=10_000, help="generated images (default: 10000)")
    ev.add_argument(
        "--real-n", type=positive_int, default=None, help="real test images (default: the whole test split)"
    )
    ev.add_argument("--batch-size", type=positive_int, default=500, help="images per forward pass (default: 500)")
    ev.add_argument("--k", type=positive_int, default=3, help="neighbours for precision/recall (default: 3)")
    ev.add_argument("--kid-subsets", type=positive_int, default=100, help="KID subsets (default: 100)")
    ev.add_argument("--kid-subset-size", type=positive_int, default=1000, help="images per KID subset (default: 1000)")
    ev.add_argument(
        "--inception",
        action="store_true",
        help="also the standard Inception FID (extra `inception`; about 0.25 CPU-seconds an image)",
    )
    ev.add_argument(
        "--inception-n", type=positive_int, default=1000, help="images per side for --inception (default: 1000)"
    )
    ev.add_argument("--root", default=None, help="data folder (default: $A3LAB_DATA, then the cache)")
    ev.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")
    ev.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    add_common(ev)
    ev.set_defaults(func=cmd_eval)

    rep = actions.add_parser("reproduce", help="train and evaluate GAN and cGAN on MNIST and Fashion-MNIST")
    rep.add_argument(
        "--preset",
        choices=["quick", "full"],
        default="quick",
        help="quick: under 2 minutes a run on 2 CPU cores; full: the issue's targets, under 20 (default: quick)",
    )
    rep.add_argument("--out", default="gan-reproduce", help="output folder (default: gan-reproduce)")
    rep.add_argument("--resume", action="store_true", help="continue runs whose folders hold a checkpoint")
    rep.add_argument(
        "--arch", choices=["mlp", "dcgan"], default=None, help="networks of all four runs (default: the preset's)"
    )
    rep.add_argument(
        "--loss", choices=["bce", "hinge"], default=None, help="GAN loss of all four runs (default: the preset's)"
    )
    rep.add_argument("--epochs", type=positive_int, default=None, help="epochs a run (default: the preset's)")
    rep.add_argument(
        "--max-minutes", type=float, default=None, help="wall-clock cap on each run's training (default: the preset's)"
    )
    rep.add_argument(
        "--runs",
        type=lambda s: [name.strip() for name in s.split(",") if name.strip()],
        default=None,
        metavar="NAME[,NAME]",
        help="only these of mnist-gan, mnist-cgan, fashion-mnist-gan, fashion-mnist-cgan (default: all four)",
    )
    rep.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")
    add_common(rep)
    rep.set_defaults(func=cmd_reproduce)


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.gan_eval import EvalConfig, evaluate_run, format_table
    from a3lab.metrics import INCEPTION_HINT, inception_weights_path
    from a3lab.utils import resolve_device, seed_everything

    if not Path(args.run_dir).is_dir():
        raise FileNotFoundError(f"no run folder {args.run_dir}")
    if args.inception and inception_weights_path() is None:
        print(f"a3lab: note: skipping the Inception FID: it needs {INCEPTION_HINT}")
    seed_everything(args.seed)
    config = EvalConfig(
        n=args.n,
        real_n=args.real_n,
        batch_size=args.batch_size,
        k=args.k,
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        inception=args.inception,
        inception_n=args.inception_n,
        seed=args.seed,
    )
    device = str(resolve_device(args.device))
    result = evaluate_run(args.run_dir, config, device=device, root=args.root, cache_dir=args.cache_dir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print(f"wrote {Path(args.run_dir) / 'eval.json'}")
    return 0


def reproduce_preset(args: argparse.Namespace) -> Preset:
    """The named preset with `--arch`, `--loss`, `--epochs` and `--max-minutes` applied; its name records them."""
    from dataclasses import replace

    from a3lab.gan_eval import get_preset

    preset = get_preset(args.preset)
    overrides = {k: getattr(args, k) for k in ("arch", "loss", "epochs", "max_minutes") if getattr(args, k) is not None}
    if not overrides:
        return preset
    name = preset.name + "".join(f", {k.replace('_', '-')} {v}" for k, v in overrides.items())
    for key in ("arch", "loss"):  # one architecture (loss) for every run
        if key in overrides:
            preset = preset.without(key)
    return replace(preset, name=name, **overrides)  # Preset validates the values


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.gan_eval import comparison_markdown, reproduce
    from a3lab.utils import resolve_device

    device = str(resolve_device(args.device))
    summary = reproduce(
        reproduce_preset(args),
        args.out,
        device=device,
        seed=args.seed,
        cache_dir=args.cache_dir,
        resume=args.resume,
        runs=args.runs,
    )
    print(comparison_markdown(summary))
    print(f"wrote {Path(args.out) / 'comparison.json'} and comparison.md")
    return 0
