"""`a3lab gan train|sample|eval|reproduce`: Problem 4, GAN vs conditional GAN.

The flags are generated from the GAN configs (`a3lab.gan.config`); the work is `a3lab.gan`'s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from a3lab.commands import apply_threads, positive_float, subcommand, word_list
from a3lab.commands.flags import add_flags, field_type, overrides
from a3lab.errors import UserError, WriteError
from a3lab.gan.config import PRESETS, EvalConfig, GANConfig, Preset, SampleConfig, get_preset
from a3lab.gan.folder import CHECKPOINT, EVAL_FILE, REPRODUCE, RUN, RUN_NAMES, describe_summary
from a3lab.runs import check_outputs, open_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gan", help="Problem 4: GAN and conditional GAN on MNIST and Fashion-MNIST")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    _register_train(actions)
    _register_sample(actions)
    _register_eval(actions)
    _register_reproduce(actions)


def _register_train(actions: argparse._SubParsersAction) -> None:
    what = "train a GAN or conditional GAN (or continue one with --resume)"
    about = (
        "Train a GAN or conditional GAN. Without --arch, --loss and --projection it trains the best configuration "
        "measured on the data set, the one the full preset of `gan reproduce` uses (each flag's default names it "
        "per data set)."
    )
    force = "replace the run that --out holds"
    tr = subcommand(actions, "train", what, cmd_train, description=about, seed=False, force=force)
    add_flags(tr, GANConfig)
    tr.add_argument("--unconditional", dest="conditional", action="store_false", default=None, help="plain GAN")
    for i, default in enumerate(GANConfig().betas, 1):  # one flag per Adam beta
        tr.add_argument(f"--beta{i}", type=field_type(GANConfig, "betas"), help=f"Adam beta{i} (default: {default})")
    tr.add_argument("--max-minutes", type=positive_float, default=None, help="stop with a checkpoint after this long")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    where = tr.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="new run folder")
    where.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (--epochs may grow)")


def config_from_args(args: argparse.Namespace) -> GANConfig:
    """The GANConfig a fresh `gan train` asks for (flags not given keep the config's defaults)."""
    return GANConfig.given(overrides(args, GANConfig), args.beta1, args.beta2)


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.gan import checkpoint, train
    from a3lab.gan.folder import remove_run_files

    apply_threads(args)
    if args.resume is not None:
        fixed = [f"--{name.replace('_', '-')}" for name in overrides(args, GANConfig) if name != "epochs"]
        fixed += [f"--{b}" for b in ("beta1", "beta2", "force") if getattr(args, b) not in (None, False)]
        if fixed:
            raise UserError(f"`resume` takes the settings from the run; only `epochs` may be given (not {fixed[0]})")
        folder = open_run(args.resume, RUN, resume=True, param="resume")
    else:
        if args.projection and args.conditional is False:
            raise UserError("`projection` needs a conditional GAN (drop `unconditional`)")
        config = config_from_args(args)
        folder = open_run(args.out, RUN, force=args.force, keep_on_failure=(CHECKPOINT,))
    with folder as run:
        if args.resume is not None:
            config = checkpoint.resume_config(run.path, args.epochs, run.removed_temps)
        elif args.force:
            remove_run_files(run.path)
        try:
            summary = train(
                config,
                run.path,
                resume=args.resume is not None,
                device=args.device,
                progress_bar=not args.no_progress,
                max_minutes=args.max_minutes,
            )
        except WriteError as e:
            raise WriteError(f"{e}{checkpoint.last_good_checkpoint(run.path)}") from None
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    print(describe_summary(summary))
    print(f"run folder: {run.path}  (grid_latest.png, losses.png, checkpoint.pt)")
    print(json.dumps(summary))
    return 130 if summary["stopped"] == "interrupted" else 0


def _register_sample(actions: argparse._SubParsersAction) -> None:
    what = "draw images from a trained generator into .npz or .png"
    sa = subcommand(actions, "sample", what, cmd_sample, seed=False, force="replace an existing --out file")
    sa.add_argument("run_dir", type=Path, metavar="DIR", help="run folder written by `a3lab gan train`")
    sa.add_argument("--out", type=Path, required=True, help="FILE.npz (images, labels) or FILE.png (a grid)")
    add_flags(sa, SampleConfig)


def cmd_sample(args: argparse.Namespace) -> int:
    from a3lab.gan.sampling import SAMPLE_FORMATS, sample_to_file
    from a3lab.utils import resolve_device

    options = SampleConfig(**overrides(args, SampleConfig))
    check_outputs({"out": args.out}, force=args.force, suffixes={"out": SAMPLE_FORMATS})
    apply_threads(args)
    run_dir = Path(args.run_dir)
    inside = run_dir.resolve() in Path(args.out).resolve().parents
    # a file written into the run folder is written beside the run: refused while a `gan train` holds it
    with open_run(run_dir, RUN, reuse=True, exists=True, param="run_dir") if inside else contextlib.nullcontext():
        what = sample_to_file(run_dir, options, args.out, device=resolve_device(args.device))
    print(f"wrote {options.n} images, {what}, to {args.out}")
    return 0


def _register_eval(actions: argparse._SubParsersAction) -> None:
    what = "FID/KID vs the real floor, precision/recall, classes, conditional accuracy"
    ev = subcommand(actions, "eval", what, cmd_eval, seed=False)
    ev.add_argument("run_dir", metavar="DIR", help="a run folder written by `a3lab gan train`")
    add_flags(ev, EvalConfig)
    ev.add_argument("--root", default=None, help="data folder (default: $A3LAB_DATA, then the cache)")
    ev.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")
    ev.add_argument("--json", action="store_true", help="print the JSON instead of the table")


def cmd_eval(args: argparse.Namespace) -> int:
    from a3lab.gan.evaluate import check_eval, evaluate_run, format_table
    from a3lab.utils import resolve_device, seed_everything

    config = EvalConfig(**overrides(args, EvalConfig))
    run_dir = Path(args.run_dir)
    for note in check_eval(run_dir, config, args.root, args.cache_dir):
        print(f"a3lab: note: {note}")
    apply_threads(args)
    seed_everything(config.seed)
    device = str(resolve_device(args.device))
    # a reader that writes eval.json beside a run: refused while a `gan train --resume` holds the folder
    with open_run(run_dir, RUN, reuse=True, exists=True, param="run_dir"):
        result = evaluate_run(run_dir, config, device=device, root=args.root, cache_dir=args.cache_dir)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_table(result))
        print(f"wrote {run_dir / EVAL_FILE}")
    return 0


def _register_reproduce(actions: argparse._SubParsersAction) -> None:
    what = "train and evaluate GAN and cGAN on MNIST and Fashion-MNIST"
    force = "replace the run in --out (never a file a3lab did not write)"
    rep = subcommand(actions, "reproduce", what, cmd_reproduce, force=force)
    rep.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="quick",
        help="quick: a short demo (2 epochs of the MLP pairs); full: each data set's best configuration "
        "and the standard Inception FID at 10,000 images (default: quick)",
    )
    rep.add_argument("--out", default="gan-reproduce", help="output folder (default: gan-reproduce)")
    rep.add_argument("--resume", action="store_true", help="continue runs whose folders hold a checkpoint")
    add_flags(rep, Preset, only=("arch", "loss", "epochs", "max_minutes", "inception_n"),
              defaults={"inception_n": "the preset's"})  # fmt: skip
    rep.add_argument(
        "--runs",
        type=word_list,
        default=None,
        metavar="NAME[,NAME]",
        help=f"only these of {', '.join(RUN_NAMES)} (default: all four)",
    )
    rep.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")


def reproduce_preset(args: argparse.Namespace) -> Preset:
    """The named preset with `--arch`, `--loss`, `--epochs`, `--max-minutes` and `--inception-n` applied for all
    four runs (`Preset.changed`); its name records them."""
    changes = overrides(args, Preset)
    inception_n = changes.pop("eval", {}).get("inception_n")  # the eval's seed is the run's --seed
    return get_preset(args.preset).changed(changes, inception_n)


def cmd_reproduce(args: argparse.Namespace) -> int:
    from a3lab.gan.reproduce import check_inputs, comparison_markdown, reproduce
    from a3lab.utils import resolve_device

    apply_threads(args)
    device = str(resolve_device(args.device))
    preset = reproduce_preset(args)
    check_inputs(preset, args.cache_dir)
    with open_run(args.out, REPRODUCE, resume=args.resume, force=args.force, keep_on_failure=("comparison.json",)):
        summary = reproduce(
            preset,
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
