"""`a3lab classify train|eval|compare|sequences|video|captions`: Problem 1. The flags are generated from the
configs (`a3lab.commands.flags`); lists of words (`--models cnn gru`) are written here, with the configs' choices."""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from a3lab.catalog import DATASETS
from a3lab.classifiers.captions.config import READS, CaptionConfig
from a3lab.classifiers.config import MODEL_KINDS, TrainConfig
from a3lab.classifiers.sequences.config import THREADS, SequenceConfig
from a3lab.classifiers.video.config import VideoConfig
from a3lab.commands import Distinct, add_common, float_range, positive_int, seed_value
from a3lab.commands.flags import add_flags, add_threads, apply_threads, overrides, shown
from a3lab.config import field_info
from a3lab.errors import UserError
from a3lab.runs import Kind, check_cache_dir, check_outputs, open_run

Actions = argparse._SubParsersAction
WORDS = {"tasks": "--tasks", "models": "--models"}
"""Fields taken as lists of words (`--models gru c3d`), by flag."""
RECORDS = ("*-seed*.json", "compare.json")
CLASSIFY = Kind("classify", "classify train", (*RECORDS, "*-seed*.safetensors", "*.png"), RECORDS)
"""`classify train` and `classify compare` share a folder: compare reuses the runs train leaves."""
CAPTIONS = Kind(
    "captions", "classify captions train", ("run.json", "results.json", "*.pt", "*.png", "models"), ("run.json",)
)


def experiment_kind(name: str) -> Kind:
    """The run folder of `classify sequences` or `classify video`."""
    return Kind(name, f"classify {name}", (f"{name}.json", f"{name}_accuracy_vs_length.png"), (f"{name}.json",))


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
    presets = importlib.import_module(config.__module__).PRESETS
    p.add_argument("--preset", choices=tuple(presets), default="quick", help="work budget (default: quick)")
    given = {name: "the preset's" for values in presets.values() for name in values}
    add_flags(p, config, skip=(*skip, "seed"), defaults=given)
    return given


def _config(cls: type, args: argparse.Namespace) -> Any:
    """`cls` from the chosen preset (the `PRESETS` beside it) and the flags given."""
    return cls(**{**importlib.import_module(cls.__module__).PRESETS[args.preset], **overrides(args, cls)})


def register(sub: Actions) -> None:
    p = sub.add_parser("classify", help="Problem 1: CNN vs row-by-row RNN (and MLP) on images and sequences")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    train = _action(actions, "train", "train one image classifier, test it, save weights and results", cmd_train)
    add_flags(train, TrainConfig, skip=("seed",))
    train.add_argument("--out", default="runs/classify", help="folder for <dataset>-<model>-seed<seed>.{json,...}")
    train.add_argument("--install", action="store_true", help="also install the CNN as the GAN metrics' domain CNN")
    train.add_argument("--force", action="store_true", help="replace a run (or installed CNN) of the same name")

    ev = _action(actions, "eval", "test a saved classifier on a test split", cmd_eval, seed=False)
    ev.add_argument("checkpoint", help="a .safetensors or .pt file written by `classify train`")
    ev.add_argument("--dataset", choices=DATASETS, default=None, help="(default: the JSON's beside the weights)")

    what = "train (or reuse) every model on every data set; table and plot"
    cmp = _action(actions, "compare", what, cmd_compare, seed=False)
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
    train = _action(sub, "train", "train and test every model; leave a run folder of them all", cmd_captions_train)
    _preset(train, CaptionConfig, skip=("models", "model"))
    _words(train, "--models", CaptionConfig, "models")
    train.add_argument("--out", required=True, help="run folder: best model, every model's results, examples")
    train.add_argument(
        "--force", action="store_true", help="replace the run in --out (never a file a3lab did not write)"
    )
    what = "caption the strips of an .npz file with the run's model that reads their length best"
    predict = _action(sub, "predict", what, cmd_captions_predict, seed=False)
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


def _action(parent: Actions, name: str, what: str, func: Callable, *, seed: bool = True, threads: int | None = None):
    """A subcommand running `func`, with --threads, --device and (unless not `seed`) --seed."""
    p = parent.add_parser(name, help=what)
    add_threads(p, default=threads)
    add_common(p, seed=seed)
    p.set_defaults(func=func)
    return p


def _experiment(actions: Actions, name: str, config: type, what: str, words: dict, threads: int | None = None) -> None:
    """`classify <name>`: `a3lab.classifiers.<name>.run_<name>` on a preset and the flags of `config`; `words`
    maps the fields taken as lists of words to their flags, the other fields are generated flags."""
    p = _action(actions, name, what, functools.partial(_run_experiment, name, config), threads=threads)
    given = _preset(p, config, skip=(*words, "model"))
    for field, flag in words.items():
        _words(p, flag, config, field, given.get(field))
    p.add_argument("--out", default=f"runs/{name}", help=f"folder for {name}.json and the plot (default: %(default)s)")
    p.add_argument("--force", action="store_true", help=f"replace the {name}.json and plot already in --out")


def _run_experiment(name: str, config_class: type, args: argparse.Namespace) -> int:
    from a3lab.utils import write_json

    config = _config(config_class, args)
    area = importlib.import_module(f"a3lab.classifiers.{name}")
    record, image = Path(args.out) / f"{name}.json", Path(args.out) / f"{name}_accuracy_vs_length.png"
    with open_run(args.out, experiment_kind(name), reuse=True):
        check_outputs([("out", record), ("out", image)], force=args.force)
        result = getattr(area, f"run_{name}")(config, args.device, threads=args.threads)
        write_json({"preset": args.preset, **result}, record)
        print(area.format_table(result))
        print(f"wrote {record} and {getattr(area, f'plot_{name}')(result, image)}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.classifiers import domain_cnn_path, format_table, save_run, summarise, train_classifier

    config = TrainConfig(**overrides(args, TrainConfig))
    if args.install and config.model != "cnn":
        raise UserError(f"`install` needs `model` cnn (the GAN metrics' feature extractor), got {config.model}")
    stem = Path(args.out) / f"{config.dataset}-{config.model}-seed{config.seed}"
    installed = domain_cnn_path(config.dataset)
    stems = (stem, installed.with_suffix("")) if args.install else (stem,)
    if args.install:
        check_cache_dir(installed.parent.name)
    files = [("out", s.with_name(s.name + ext)) for s in stems for ext in (".safetensors", ".json")]
    with open_run(args.out, CLASSIFY, reuse=True):
        check_outputs(files, force=args.force)
        apply_threads(args)
        model, results = train_classifier(config, device=args.device)
        weights, record = save_run(model, results, stem)
        print(format_table(summarise([results])), f"wrote {weights} and {record}", sep="\n")
        if args.install:
            save_run(model, results, installed.with_suffix(""))
            print(f"installed as the {config.dataset} domain CNN: {installed}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from a3lab.classifiers import checkpoint_dataset, evaluate, load_classifier
    from a3lab.data import load_images
    from a3lab.utils import resolve_device

    apply_threads(args)
    dataset = args.dataset or checkpoint_dataset(args.checkpoint)
    device = resolve_device(args.device)
    model = load_classifier(args.checkpoint, device)
    images, labels = load_images(dataset, train=False)
    test = evaluate(model, images, labels, device=device)
    print(
        f"{model.kind} on {dataset} test split ({len(labels)} images): accuracy {100 * test['accuracy']:.2f}%, "
        f"loss {test['loss']:.4f}, {test['images_per_second']:,.0f} images/s"
    )
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
    config = _config(CaptionConfig, args)
    with open_run(args.out, CAPTIONS, force=args.force) as run:
        results, trained = run_captions(config, args.device)
        paths = save_run(results, trained, run.path)
        print(format_table(results))
        print(f"best model: {json.loads(paths['run'].read_text())['model']}; wrote {run.path}")
    return 0


def cmd_captions_predict(args: argparse.Namespace) -> int:
    from a3lab.classifiers.captions import caption_file

    apply_threads(args)
    done = caption_file(args.run, args.images, args.device, min_accuracy=args.min_accuracy)
    print(
        f"a3lab: note: captioned with {done['model']}, which read {100 * done['exact']:.0f}% of the run's test "
        f"strips of {done['length']} items exactly",
        file=sys.stderr,
    )
    print(json.dumps(done["captions"]) if args.json else "\n".join(done["captions"]))
    return 0
