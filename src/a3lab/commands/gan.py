"""`a3lab gan train|sample|eval|reproduce`: Problem 4, GAN vs conditional GAN."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from a3lab.commands import (
    add_common,
    check_output_file_arg,
    config_default,
    float_range,
    int_range,
    positive_float,
    positive_int,
    refuse_existing,
    word_list,
)
from a3lab.errors import UserError, WriteError

if TYPE_CHECKING:
    from a3lab.gan.reproduce import Preset

# `gan train` flag -> GANConfig field (None: part of another field); `--resume` refuses all of them.
_CONFIG_FLAGS = {
    "dataset": "dataset",
    "arch": "arch",
    "conditional": "conditional",
    "loss": "loss",
    "projection": "projection",
    "latent_dim": "latent_dim",
    "channels": "channels",
    "batch_size": "batch_size",
    "lr": "lr",
    "discriminator_lr": "discriminator_lr",
    "lr_decay": "lr_decay",
    "ema_decay": "ema_decay",
    "train_examples": "train_examples",
    "beta1": None,
    "beta2": None,
}


class _ConfigDefaultsHelp(argparse.HelpFormatter):
    """Appends GANConfig's default to the help of each `gan train` flag that sets a config field.

    --arch, --loss and --projection show each data set's best value (`a3lab.gan.config.BEST_BY_DATASET`, the
    table GANConfig and the full preset read). The config is imported only when the help is printed, so
    building the parser stays free of torch.
    """

    def _expand_help(self, action: argparse.Action) -> str:
        text = super()._expand_help(action)
        flag = action.option_strings[0][2:].replace("-", "_") if action.option_strings else None
        if flag not in _CONFIG_FLAGS and flag != "epochs":
            return text
        import dataclasses

        from a3lab.gan.config import BEST_FIELDS, GANConfig, describe_best

        if flag in BEST_FIELDS:
            return f"{text} (default: {describe_best(flag)})"
        defaults = {f.name: f.default for f in dataclasses.fields(GANConfig)}
        beta1, beta2 = defaults["betas"]
        default = {**defaults, "beta1": beta1, "beta2": beta2, "conditional": "conditional"}[flag]
        unset = {"train_examples": "all", "discriminator_lr": "--lr"}
        return f"{text} (default: {unset.get(flag) if default is None else default})"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gan", help="Problem 4: GAN and conditional GAN on MNIST and Fashion-MNIST")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    _register_train(actions)
    _register_sample(actions)
    _register_eval(actions)
    _register_reproduce(actions)


def _register_train(actions: argparse._SubParsersAction) -> None:
    tr = actions.add_parser(
        "train",
        help="train a GAN or conditional GAN (or continue one with --resume)",
        description="Train a GAN or conditional GAN. Without --arch, --loss and --projection it trains the best "
        "configuration measured on the data set, the one the full preset of `gan reproduce` uses (each flag's "
        "default names it per data set).",
        formatter_class=_ConfigDefaultsHelp,
    )
    tr.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default=None, help="data set")
    tr.add_argument("--arch", choices=["mlp", "dcgan"], default=None, help="network pair")
    cond = tr.add_mutually_exclusive_group()
    cond.add_argument("--conditional", dest="conditional", action="store_true", default=None, help="conditional GAN")
    cond.add_argument("--unconditional", dest="conditional", action="store_false", help="plain GAN")
    tr.add_argument("--loss", choices=["bce", "hinge"], default=None, help="GAN loss")
    proj = tr.add_mutually_exclusive_group()
    proj.add_argument(
        "--projection",
        dest="projection",
        action="store_true",
        default=None,
        help="projection discriminator, conditional GAN only",
    )
    proj.add_argument(
        "--no-projection", dest="projection", action="store_false", help="label concatenation in the discriminator"
    )
    tr.add_argument("--epochs", type=int_range(1, 100_000), default=None, help="passes over the training set")
    tr.add_argument("--batch-size", type=int_range(2, 65_536), default=None, help="images per step and process")
    tr.add_argument(
        "--lr", type=positive_float, default=None, help="Adam learning rate of G (and of D without --discriminator-lr)"
    )
    tr.add_argument(
        "--discriminator-lr",
        type=positive_float,
        default=None,
        help="D's own Adam learning rate (TTUR when larger than G's)",
    )
    tr.add_argument(
        "--lr-decay",
        type=float_range(0.0, 1.0),
        default=None,
        metavar="FRACTION",
        help="last fraction of the steps over which the learning rates fall linearly to 0",
    )
    tr.add_argument("--beta1", type=float_range(0.0, 1.0, high_open=True), default=None, help="Adam beta1")
    tr.add_argument("--beta2", type=float_range(0.0, 1.0, high_open=True), default=None, help="Adam beta2")
    tr.add_argument("--latent-dim", type=int_range(1, 4096), default=None, help="size of z")
    tr.add_argument("--channels", type=int_range(1, 1024), default=None, help="dcgan width")
    tr.add_argument("--ema-decay", type=float_range(0.0, 1.0, high_open=True), default=None, help="generator EMA decay")
    tr.add_argument("--train-examples", type=positive_int, default=None, help="use the first N training images")
    tr.add_argument("--max-minutes", type=positive_float, default=None, help="stop with a checkpoint after this long")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    where = tr.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="new run folder")
    where.add_argument("--resume", type=Path, metavar="DIR", help="continue the run in DIR (--epochs may grow)")
    tr.add_argument("--force", action="store_true", help="replace the run that --out holds")
    add_common(tr)
    tr.set_defaults(seed=None)  # None: not given, so --resume can refuse it
    tr.set_defaults(func=cmd_train)


def _register_sample(actions: argparse._SubParsersAction) -> None:
    sa = actions.add_parser("sample", help="draw images from a trained generator into .npz or .png")
    sa.add_argument("run_dir", type=Path, metavar="DIR", help="run folder written by `a3lab gan train`")
    sa.add_argument("--n", type=int_range(1, 1_000_000), default=1000, help="number of images (default: 1000)")
    sa.add_argument("--label", default=None, help="class index or name (conditional GAN only; default: all classes)")
    sa.add_argument("--out", type=Path, required=True, help="FILE.npz (images, labels) or FILE.png (a grid)")
    sa.add_argument("--raw", action="store_true", help="the last step's weights instead of the EMA generator")
    sa.add_argument(
        "--batch-size", type=int_range(1, 65_536), default=500, help="images per forward call (default: 500)"
    )
    sa.add_argument("--force", action="store_true", help="replace an existing --out file")
    add_common(sa)
    sa.set_defaults(func=cmd_sample)


def config_from_args(args: argparse.Namespace):
    """The GANConfig a fresh `gan train` asks for (flags not given keep the dataclass defaults)."""
    from a3lab.gan import GANConfig

    given = {
        field: getattr(args, flag)
        for flag, field in _CONFIG_FLAGS.items()
        if field is not None and getattr(args, flag) is not None
    }
    if args.epochs is not None:
        given["epochs"] = args.epochs
    defaults = GANConfig.__dataclass_fields__["betas"].default
    beta1 = defaults[0] if args.beta1 is None else args.beta1
    beta2 = defaults[1] if args.beta2 is None else args.beta2
    seed = GANConfig.__dataclass_fields__["seed"].default if args.seed is None else args.seed
    return GANConfig(**given, betas=(beta1, beta2), seed=seed)


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.gan import train
    from a3lab.utils import open_run_folder

    if args.resume is not None:
        fixed = [f"--{flag.replace('_', '-')}" for flag in _CONFIG_FLAGS if getattr(args, flag) is not None]
        fixed += ["--seed"] if args.seed is not None else []
        fixed += ["--force"] if args.force else []
        if fixed:
            raise UserError(f"`resume` takes the settings from the run; only `epochs` may be given (not {fixed[0]})")
        folder = open_run_folder(args.resume, resume=True, param="resume")
    else:
        if args.projection and args.conditional is False:
            raise UserError("`projection` needs a conditional GAN (drop `unconditional`)")
        config = config_from_args(args)
        folder = open_run_folder(args.out, force=args.force, keep_on_failure=("checkpoint.pt",))
    with folder as run:
        if args.resume is not None:
            config = resumed_config(run, args.epochs)
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
            raise WriteError(f"{e}{last_good_checkpoint(run.path)}") from None
    out_dir = run.path
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    f = summary["final"]
    print(
        f"{summary['stopped']}: {summary['epochs_done']}/{summary['epochs']} epochs, {summary['global_step']} steps, "
        f"{summary['seconds']:.1f} s, {summary['images_per_second']:,.0f} img/s; last epoch D loss {f['d_loss']:.3f}, "
        f"G loss {f['g_loss']:.3f}, D(x) {f['d_real']:.3f}, D(G(z)) {f['d_fake']:.3f}"
    )
    print(f"run folder: {out_dir}  (grid_latest.png, losses.png, checkpoint.pt)")
    print(json.dumps(summary))
    return 130 if summary["stopped"] == "interrupted" else 0


RUN_FILES = ("checkpoint.pt", "config.json", "summary.json", "history.json", "losses.png", "eval.json")
RUN_FILE_PATTERNS = ("grid_*.png",)


def remove_run_files(folder: Path) -> None:
    """`--force`: remove the files a previous run left in the folder (only a GAN run's own files)."""
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    for pattern in RUN_FILE_PATTERNS:
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)


def last_good_checkpoint(folder: Path) -> str:
    """'; the last good checkpoint (epoch N) ...' for a failed write, or '' when there is none."""
    from a3lab.utils import load_checkpoint

    try:
        epoch = int(load_checkpoint(folder / "checkpoint.pt")["progress"]["epoch"])
    except Exception:  # no readable checkpoint: nothing more to say
        return ""
    return f"; the last good checkpoint (epoch {epoch}) is intact: continue with --resume {folder}"


def resumed_config(run, epochs: int | None):
    """The config of the run in `run.path`, checked before any write: a GAN checkpoint, `epochs` not below the
    epochs done; a missing checkpoint says whether a write was interrupted and how to start again."""
    from a3lab.errors import CheckpointError
    from a3lab.gan import GANConfig
    from a3lab.utils import load_checkpoint

    path = run.path / "checkpoint.pt"
    if not path.is_file():
        interrupted = [n for n in run.removed_temps if n.startswith(".checkpoint.pt.")]
        why = (
            f"its first checkpoint write was interrupted (removed the partial file {interrupted[0]})"
            if interrupted
            else "no checkpoint was ever written"
        )
        raise CheckpointError(
            f"nothing to resume in {run.path}: {why}; start the run again with --out {run.path} --force"
        )
    state = load_checkpoint(path)
    if not (isinstance(state, dict) and isinstance(state.get("config"), dict) and "progress" in state):
        keys = ", ".join(sorted(map(str, state))[:5]) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a GAN training checkpoint (it holds {keys})")
    try:
        config = GANConfig.from_dict(state["config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its config is not a GAN config ({e})") from None
    done = int(state["progress"]["epoch"])
    if epochs is not None:
        if epochs < done:
            raise UserError(f"`epochs` {epochs} is below the {done} epochs the run has done")
        config.epochs = epochs
    return config


def parse_label(text: str | None, dataset: str) -> int | None:
    """A class index (0..9) or a class name of the data set (case-insensitive)."""
    from a3lab.data import class_names

    if text is None:
        return None
    names = class_names(dataset)
    if text.strip().lstrip("-").isdigit():
        value = int(text)
        if not 0 <= value < len(names):
            raise UserError(f"`label` must be in 0..{len(names) - 1}, got {value}")
        return value
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise UserError(f"`label` {text!r} is neither 0..9 nor a class of {dataset} ({', '.join(names)})")


def cmd_sample(args: argparse.Namespace) -> int:
    import io

    import numpy as np

    from a3lab.data import class_names
    from a3lab.gan import load_generator, sample
    from a3lab.utils import atomic_write_bytes, resolve_device

    suffix = args.out.suffix.lower()
    if suffix not in (".npz", ".png"):
        raise UserError(f"`out` must end in .npz or .png, got {args.out.name}")
    check_output_file_arg(args.out, args.force)
    generator, config = load_generator(args.run_dir, device=resolve_device(args.device), ema=not args.raw)
    label = parse_label(args.label, config.dataset)
    if label is not None and not config.conditional:
        raise UserError(
            f"{args.run_dir} holds an unconditional GAN: it makes a random class and cannot be asked for one (`label`)"
        )
    images, labels = sample(generator, config, args.n, labels=label, seed=args.seed, batch_size=args.batch_size)
    if suffix == ".npz":
        arrays = {"images": images.numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(buffer.getvalue(), args.out)
    else:
        from a3lab.gan.plots import save_grid

        per_row = -(-args.n // 10) if labels is not None and label is None else max(1, round(args.n**0.5))
        rows = None
        if labels is not None:
            rows = [class_names(config.dataset)[int(labels[r * per_row])] for r in range(-(-args.n // per_row))]
        save_grid(images, args.out, nrow=per_row, row_labels=rows)
    what = f"class {label} ({class_names(config.dataset)[label]})" if label is not None else "all classes"
    if not config.conditional:
        what = "random classes (unconditional GAN)"
    print(f"wrote {args.n} images, {what}, to {args.out}")
    return 0


def _register_eval(actions: argparse._SubParsersAction) -> None:
    ev = actions.add_parser("eval", help="FID/KID vs the real floor, precision/recall, classes, conditional accuracy")
    ev.add_argument("run_dir", metavar="DIR", help="a run folder written by `a3lab gan train`")
    ev.add_argument("--n", type=int_range(1, 1_000_000), default=10_000, help="generated images (default: 10000)")
    ev.add_argument(
        "--real-n", type=positive_int, default=None, help="real test images (default: the whole test split)"
    )
    ev.add_argument(
        "--batch-size", type=int_range(1, 65_536), default=500, help="images per forward pass (default: 500)"
    )
    ev.add_argument(
        "--k",
        type=positive_int,
        default=3,
        help=f"neighbours for precision/recall (default: {config_default('a3lab.gan.evaluate:EvalConfig.k')})",
    )
    ev.add_argument(
        "--kid-subsets",
        type=positive_int,
        default=100,
        help=f"KID subsets (default: {config_default('a3lab.gan.evaluate:EvalConfig.kid_subsets')})",
    )
    ev.add_argument(
        "--kid-subset-size",
        type=positive_int,
        default=1000,
        help=f"images per KID subset (default: {config_default('a3lab.gan.evaluate:EvalConfig.kid_subset_size')})",
    )
    ev.add_argument(
        "--inception",
        action="store_true",
        help="also the standard Inception FID (extra `inception`; slow on a CPU, fast on a GPU)",
    )
    ev.add_argument(
        "--inception-n",
        type=positive_int,
        default=10_000,
        help="generated and test images for --inception (default: 10000, the published size; fewer are faster on a "
        "CPU but bias the FID upward, and the output says how many were used)",
    )
    ev.add_argument("--root", default=None, help="data folder (default: $A3LAB_DATA, then the cache)")
    ev.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")
    ev.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    add_common(ev)
    ev.set_defaults(func=cmd_eval)


def _register_reproduce(actions: argparse._SubParsersAction) -> None:
    rep = actions.add_parser("reproduce", help="train and evaluate GAN and cGAN on MNIST and Fashion-MNIST")
    rep.add_argument(
        "--preset",
        choices=["quick", "full"],
        default="quick",
        help="quick: a short demo (2 epochs of the MLP pairs); full: each data set's best configuration "
        "and the standard Inception FID at 10,000 images (default: quick)",
    )
    rep.add_argument("--out", default="gan-reproduce", help="output folder (default: gan-reproduce)")
    rep.add_argument("--resume", action="store_true", help="continue runs whose folders hold a checkpoint")
    rep.add_argument(
        "--arch", choices=["mlp", "dcgan"], default=None, help="networks of all four runs (default: the preset's)"
    )
    rep.add_argument(
        "--loss", choices=["bce", "hinge"], default=None, help="GAN loss of all four runs (default: the preset's)"
    )
    rep.add_argument("--epochs", type=int_range(1, 100_000), default=None, help="epochs a run (default: the preset's)")
    rep.add_argument(
        "--max-minutes",
        type=positive_float,
        default=None,
        help="wall-clock cap on each run's training (default: the preset's)",
    )
    rep.add_argument(
        "--runs",
        type=word_list,
        default=None,
        metavar="NAME[,NAME]",
        help="only these of mnist-gan, mnist-cgan, fashion-mnist-gan, fashion-mnist-cgan (default: all four)",
    )
    rep.add_argument(
        "--inception-n",
        type=positive_int,
        default=None,
        help="images per side of the standard Inception FID (default: the preset's; the full preset uses the "
        "published 10000, slow on a CPU, where fewer are faster but bias the FID upward)",
    )
    rep.add_argument("--cache-dir", default=None, help="real-feature cache (default: ~/.cache/a3lab/gan-eval)")
    rep.add_argument("--force", action="store_true", help="write into a non-empty --out")
    add_common(rep)
    rep.set_defaults(func=cmd_reproduce)


def check_real_n(run_dir: Path, real_n: int, root) -> None:
    """`--real-n` above the test split is an error, as every count above its split is."""
    import json as _json

    from a3lab.data import check_idx, find_root, raw_files

    config = run_dir / "config.json"
    if not config.is_file():
        return  # evaluate_run says what is missing
    dataset = _json.loads(config.read_text()).get("dataset")
    base, _ = find_root(dataset, root)
    images = base / raw_files(dataset, False)["images"]
    if images.is_file() and real_n > check_idx(images, "images")[0]:
        raise UserError(f"`real_n` must be <= {check_idx(images, 'images')[0]} (the test split), got {real_n}")


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.gan.evaluate import EvalConfig, evaluate_run, format_table
    from a3lab.gan.metrics import INCEPTION_HINT, inception_weights_path
    from a3lab.utils import resolve_device, seed_everything

    if not Path(args.run_dir).is_dir():
        raise UserError(f"no run folder {args.run_dir}")
    refuse_existing([Path(args.run_dir) / "eval.json"], True, param="run_dir")
    if args.cache_dir:
        refuse_existing([], True, folder=args.cache_dir, param="cache_dir")
    if args.real_n is not None:
        check_real_n(Path(args.run_dir), args.real_n, args.root)
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
    """The named preset with `--arch`, `--loss`, `--epochs`, `--max-minutes` and `--inception-n` applied; its
    name records them."""
    from dataclasses import replace

    from a3lab.gan.reproduce import get_preset

    preset = get_preset(args.preset)
    keys = ("arch", "loss", "epochs", "max_minutes", "inception_n")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
    if not overrides:
        return preset
    name = preset.name + "".join(f", {k.replace('_', '-')} {v}" for k, v in overrides.items())
    for key in ("arch", "loss", "epochs"):  # one architecture (loss, epochs) for every run
        if key in overrides:
            preset = preset.without(key)
    if "inception_n" in overrides:  # the standard Inception FID, at another size
        preset = replace(preset, eval=replace(preset.eval, inception=True, inception_n=overrides.pop("inception_n")))
    return replace(preset, name=name, **overrides)  # Preset validates the values


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pathlib import Path

    from a3lab.gan.reproduce import comparison_markdown, reproduce
    from a3lab.utils import open_run_folder, resolve_device

    device = str(resolve_device(args.device))
    preset = reproduce_preset(args)
    with open_run_folder(args.out, resume=args.resume, force=args.force, keep_on_failure=("comparison.json",)):
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
