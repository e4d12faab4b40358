"""`a3lab classify train|eval|compare|sequences|video|captions`: Problem 1. The flags are generated from the
configs (`a3lab.commands.flags`); lists of words (`--models cnn gru`) are written here, with the configs' choices."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

from a3lab.catalog import DATASETS
from a3lab.classifiers.captions.config import READS, RUN_FOLDER, CaptionConfig
from a3lab.classifiers.config import MODEL_KINDS, TrainConfig
from a3lab.classifiers.config import RUN_FOLDER as CLASSIFY
from a3lab.classifiers.sequences.config import THREADS, SequenceConfig
from a3lab.classifiers.video.config import VideoConfig
from a3lab.commands import Distinct, apply_threads, float_range, positive_int, seed_value, subcommand
from a3lab.commands.flags import add_flags, overrides, shown
from a3lab.config import field_info, from_preset, presets_of
from a3lab.runs import open_run

Actions = argparse._SubParsersAction
WORDS = {"tasks": "--tasks", "models": "--models"}
"""Fields taken as lists of words (`--models gru c3d`), by flag."""


def _words(p: argparse.ArgumentParser, flag: str, config: type, field: str, shown_default: Any = None) -> None:
    """A flag taking one or more words (`--models gru lstm`, `--lengths 20 50`) for a tuple field of `config`: its
    choices, or else integers >= 1; help and default are the field's."""
    info = field_info(config)[field]
    kind = {"choices": info.bounds.choices} if info.bounds.choices else {"type": positive_int, "metavar": "N"}
    help = f"{info.doc} (default: {shown_default or shown(info.default)})"
    p.add_argument(flag, nargs="+", dest=field, default=None, help=help, action=Distinct, **kind)


def _preset(p: argparse.ArgumentParser, config: type, skip: tuple[str, ...]) -> dict[str, str]:
    """--preset (the `PRESETS` beside `config`) and the flags of `config`'s fields, less `skip`; returns the
    --help defaults of the fields a preset sets."""
    presets = presets_of(config)
    p.add_argument("--preset", choices=tuple(presets), default="quick", help="work budget (default: quick)")
    given = {name: "the preset's" for values in presets.values() for name in values}
    add_flags(p, config, skip=(*skip, "seed"), defaults=given)
    return given


def register(sub: Actions) -> None:
    p = sub.add_parser("classify", help="Problem 1: CNN vs row-by-row RNN (and MLP) on images and sequences")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    what = "train one image classifier, test it, save weights and results"
    force = "replace a run (or installed CNN) of the same name"
    train = subcommand(actions, "train", what, cmd_train, force=force)
    add_flags(train, TrainConfig, skip=("seed",))
    train.add_argument("--out", default="runs/classify", help="folder for <dataset>-<model>-seed<seed>.{json,...}")
    train.add_argument("--install", action="store_true", help="also install the CNN as the GAN metrics' domain CNN")

    ev = subcommand(actions, "eval", "test a saved classifier on a test split", cmd_eval, seed=False)
    ev.add_argument("checkpoint", help="a .safetensors or .pt file written by `classify train`")
    ev.add_argument("--dataset", choices=DATASETS, default=None, help="(default: the JSON's beside the weights)")

    what = "train (or reuse) every model on every data set; table and plot"
    cmp = subcommand(actions, "compare", what, cmd_compare, seed=False)
    words = {"nargs": "+", "action": Distinct}
    cmp.add_argument("--datasets", **words, choices=DATASETS, default=list(DATASETS), help="(default: both)")
    cmp.add_argument("--models", **words, choices=MODEL_KINDS, default=list(MODEL_KINDS), help="(default: all)")
    cmp.add_argument("--seeds", **words, type=seed_value, default=[0], help="one run per seed (default: 0)")
    add_flags(cmp, TrainConfig, skip=("dataset", "model", "seed"))
    cmp.add_argument("--out", default="runs/classify", help="runs (reused), table and plot (default: %(default)s)")
    cmp.add_argument("--retrain", action="store_true", help="retrain even where a matching run record exists")

    what = "accuracy against sequence length: GRU, LSTM, 1-D CNN, MLP"
    _experiment(actions, "sequences", SequenceConfig, what, {**WORDS, "test_lengths": "--lengths"}, THREADS)
    what = "clips of MNIST items: mean-pooled CNN, CNN+GRU, 3-D CNN, transformer"
    _experiment(actions, "video", VideoConfig, what, WORDS)

    cap = actions.add_parser("captions", help="caption strips of items: Show-Attend-Tell, per-position, CTC, CRNN")
    sub = cap.add_subparsers(dest="captions_action", metavar="<train|predict>", required=True)
    what = "train and test every model; leave a run folder of them all"
    force = "replace the run in --out (never a file a3lab did not write)"
    train = subcommand(sub, "train", what, cmd_captions_train, force=force)
    _preset(train, CaptionConfig, skip=("models", "model"))
    _words(train, "--models", CaptionConfig, "models")
    train.add_argument("--out", required=True, help="run folder: best model, every model's results, examples")
    what = "caption the strips of an .npz file with the run's model that reads their length best"
    predict = subcommand(sub, "predict", what, cmd_captions_predict, seed=False)
    predict.add_argument("run", help="a run folder written by `classify captions train`")
    predict.add_argument("--images", required=True, help="an .npz file with uint8 `images` [N, 28, 28*L], L <= 8")
    predict.add_argument("--json", action="store_true", help="print a JSON list instead of one caption per line")
    predict.add_argument(
        "--min-accuracy",
        type=float_range(0.0, 1.0),
        default=READS,
        help="caption only with a model whose exact-caption accuracy on the run's test strips of the input's "
        "length reached this (default: %(default)s)",
    )


def _experiment(actions: Actions, name: str, config: type, what: str, words: dict, threads: int | None = None) -> None:
    """`classify <name>`: `a3lab.classifiers.<name>.run_<name>` on a preset and the flags of `config`; `words`
    maps the fields taken as lists of words to their flags, the other fields are generated flags."""
    force = f"replace the {name}.json and plot already in --out"
    run = functools.partial(_run_experiment, name, config)
    p = subcommand(actions, name, what, run, default_threads=threads, force=force)
    given = _preset(p, config, skip=(*words, "model"))
    for field, flag in words.items():
        _words(p, flag, config, field, given.get(field))
    p.add_argument("--out", default=f"runs/{name}", help=f"folder for {name}.json and the plot (default: %(default)s)")


def _run_experiment(name: str, config_class: type, args: argparse.Namespace) -> int:
    from a3lab.classifiers.experiment_folder import run_into

    config = from_preset(config_class, args.preset, overrides(args, config_class))
    run_into(name, config, args.out, preset=args.preset, device=args.device, threads=args.threads, force=args.force)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.classifiers.experiment_folder import train_into

    apply_threads(args)
    config = TrainConfig(**overrides(args, TrainConfig))
    train_into(config, args.out, install=args.install, force=args.force, device=args.device)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from a3lab.classifiers import test_checkpoint

    apply_threads(args)
    print(test_checkpoint(args.checkpoint, args.dataset, args.device))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from a3lab.classifiers import format_table, plot_comparison, run_comparison, summarise, target_lines
    from a3lab.utils import write_json

    apply_threads(args)
    out = Path(args.out)
    given = {"device": args.device, "reuse": not args.retrain, **overrides(args, TrainConfig)}
    with open_run(out, CLASSIFY, reuse=True):
        runs = run_comparison(args.datasets, args.models, args.seeds, out, **given)
        table = summarise(runs)
        print(format_table(table), "", *target_lines(table), sep="\n")
        plot = plot_comparison(table, out / "accuracy_vs_flops.png")
        summary = write_json({"table": table, "runs": runs}, out / "compare.json")
        print(f"wrote {summary} and {plot}")
    return 0


def cmd_captions_train(args: argparse.Namespace) -> int:
    from a3lab.classifiers.captions import format_table, run_captions, save_run

    apply_threads(args)
    config = from_preset(CaptionConfig, args.preset, overrides(args, CaptionConfig))
    with open_run(args.out, RUN_FOLDER, force=args.force) as run:
        results, trained = run_captions(config, args.device)
        paths = save_run(results, trained, run.path)
        print(format_table(results))
        print(f"best model: {json.loads(paths['run'].read_text())['model']}; wrote {run.path}")
    return 0


def cmd_captions_predict(args: argparse.Namespace) -> int:
    from a3lab.classifiers.captions import caption_file, describe_choice

    apply_threads(args)
    done = caption_file(args.run, args.images, args.device, min_accuracy=args.min_accuracy)
    print(f"a3lab: note: {describe_choice(done)}", file=sys.stderr)
    print(json.dumps(done["captions"]) if args.json else "\n".join(done["captions"]))
    return 0
