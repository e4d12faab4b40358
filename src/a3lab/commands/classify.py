"""`a3lab classify train|eval|compare|sequences`: Problem 1, CNN vs RNN on images and on sequences."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from a3lab.commands import (
    add_common,
    int_range,
    positive_float,
    positive_int,
    refuse_existing,
    seed_value,
    thread_count,
)
from a3lab.errors import UserError

DATASET_CHOICES = ("mnist", "fashion-mnist")
MODEL_CHOICES = ("cnn", "gru", "lstm", "mlp")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="Problem 1: CNN vs row-by-row RNN (and MLP) on images and sequences")
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)

    train = actions.add_parser("train", help="train one image classifier, test it, save weights and results")
    train.add_argument("--dataset", choices=DATASET_CHOICES, default="mnist", help="(default: mnist)")
    train.add_argument("--model", choices=MODEL_CHOICES, default="cnn", help="(default: cnn)")
    _add_training_flags(train)
    train.add_argument(
        "--out", default="runs/classify", help="folder for <dataset>-<model>-seed<seed>.{safetensors,json}"
    )
    train.add_argument(
        "--install",
        action="store_true",
        help="also save the CNN where domain_cnn (the GAN metrics' feature extractor) looks for it",
    )
    train.add_argument("--force", action="store_true", help="replace a run (or installed CNN) of the same name")
    add_common(train)
    train.set_defaults(func=cmd_train)

    ev = actions.add_parser("eval", help="test a saved classifier on a test split")
    ev.add_argument("checkpoint", help="a .safetensors or .pt file written by `classify train`")
    ev.add_argument(
        "--dataset", choices=DATASET_CHOICES, default=None, help="(default: the one in the JSON beside the weights)"
    )
    ev.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's choice)")
    add_common(ev, seed=False)
    ev.set_defaults(func=cmd_eval)

    cmp = actions.add_parser("compare", help="train (or reuse) every model on every data set; table and plot")
    cmp.add_argument(
        "--datasets", nargs="+", choices=DATASET_CHOICES, default=list(DATASET_CHOICES), help="(default: both)"
    )
    cmp.add_argument("--models", nargs="+", choices=MODEL_CHOICES, default=list(MODEL_CHOICES), help="(default: all)")
    cmp.add_argument("--seeds", nargs="+", type=seed_value, default=[0], help="one run per seed (default: 0)")
    _add_training_flags(cmp)
    cmp.add_argument(
        "--out",
        default="runs/classify",
        help="folder of the runs, table and plot; runs already in it are reused (default: %(default)s)",
    )
    cmp.add_argument("--retrain", action="store_true", help="retrain even where a matching run record exists")
    add_common(cmp, seed=False)
    cmp.set_defaults(func=cmd_compare)

    seq = actions.add_parser("sequences", help="accuracy against sequence length: GRU, LSTM, 1-D CNN, MLP")
    seq.add_argument("--preset", choices=["quick", "full"], default="quick", help="training budget (default: quick)")
    seq.add_argument("--steps", type=positive_int, default=None, help="training steps per model (default: preset's)")
    seq.add_argument("--eval-size", type=positive_int, default=None, help="test sequences per length (default: preset)")
    seq.add_argument(
        "--lengths", nargs="+", type=positive_int, default=None, help="test lengths (default: 20 ... 1000)"
    )
    seq.add_argument("--tasks", nargs="+", choices=["alternating", "parity"], default=None, help="(default: both)")
    seq.add_argument(
        "--models",
        nargs="+",
        choices=["gru", "lstm", "cnn1d", "mlp", "hand_wired"],
        default=None,
        help="(default: all)",
    )
    seq.add_argument("--out", default="runs/sequences", help="folder for sequences.json and the plot")
    seq.add_argument("--force", action="store_true", help="replace the sequences.json and plot already in --out")
    seq.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's choice)")
    add_common(seq)
    seq.set_defaults(func=cmd_sequences)
    _register_video(actions)
    _register_captions(actions)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--epochs", type=int_range(1, 10_000), default=3, help="passes over the training images (default: 3)"
    )
    p.add_argument(
        "--batch-size",
        type=int_range(1, 65_536),
        default=None,
        help="images per step (default: CNN 64, the others 128)",
    )
    p.add_argument(
        "--lr", type=positive_float, default=None, help="peak one-cycle learning rate (default: 3e-3, MLP 2e-3)"
    )
    p.add_argument(
        "--train-examples", type=positive_int, default=None, help="seeded subset of the training split (default: all)"
    )
    p.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's choice)")


def _set_threads(threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)


def cmd_train(args: argparse.Namespace) -> int:
    from a3lab.classifiers import (
        TrainConfig,
        domain_cnn_path,
        format_table,
        save_run,
        summarise,
        train_classifier,
    )
    from a3lab.utils import resolve_device

    if args.install and args.model != "cnn":
        raise UserError(f"`install` only applies to `model` cnn (the GAN metrics' feature extractor), got {args.model}")
    stem = Path(args.out) / f"{args.dataset}-{args.model}-seed{args.seed}"
    targets = [stem.with_name(stem.name + ext) for ext in (".safetensors", ".json")]
    if args.install:
        installed = domain_cnn_path(args.dataset)
        targets += [installed, installed.with_suffix(".json")]
    refuse_existing(targets, args.force)
    _set_threads(args.threads)
    config = TrainConfig(
        dataset=args.dataset,
        model=args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        train_examples=args.train_examples,
        seed=args.seed,
    )
    model, results = train_classifier(config, device=resolve_device(args.device))
    weights, record = save_run(model, results, stem)
    print(format_table(summarise([results])))
    print(f"wrote {weights} and {record}")
    if args.install:
        target = domain_cnn_path(args.dataset)
        save_run(model, results, target.with_suffix(""))
        print(f"installed as the {args.dataset} domain CNN: {target}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from a3lab.classifiers import evaluate, load_classifier
    from a3lab.data import load_images
    from a3lab.utils import resolve_device

    _set_threads(args.threads)
    path = Path(args.checkpoint)
    dataset = args.dataset
    if dataset is None:
        record = path.with_suffix(".json")
        if not record.is_file():
            raise UserError(f"`dataset` is needed: no results file {record} beside the checkpoint")
        dataset = json.loads(record.read_text())["dataset"]
    device = resolve_device(args.device)
    model = load_classifier(path, device)
    images, labels = load_images(dataset, train=False)
    test = evaluate(model, images, labels, device=device)
    print(
        f"{model.kind} on {dataset} test split ({len(labels)} images): accuracy {100 * test['accuracy']:.2f}%, "
        f"loss {test['loss']:.4f}, {test['images_per_second']:,.0f} images/s"
    )
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from a3lab.classifiers import accuracy_targets, format_table, plot_comparison, run_comparison, summarise
    from a3lab.utils import resolve_device, write_json

    _set_threads(args.threads)
    out = Path(args.out)
    refuse_existing([], False, folder=out)
    runs = run_comparison(
        args.datasets,
        args.models,
        args.seeds,
        out,
        device=resolve_device(args.device),
        reuse=not args.retrain,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        train_examples=args.train_examples,
    )
    table = summarise(runs)
    print(format_table(table))
    print()
    for dataset, by_model in accuracy_targets().items():
        for kind, target in by_model.items():
            row = table.get(dataset, {}).get(kind)
            if row is None:
                continue
            accs = row["accuracy_per_seed"]
            per_seed = ", ".join(f"{100 * a:.2f}" for a in accs)
            verdict = "met" if min(accs) >= target else "NOT met"
            print(
                f"target {kind} {dataset} >= {100 * target:.1f}% within 3 epochs: seeds {row['seeds']} -> "
                f"{per_seed}% ({row['epochs']} epochs, {row['train_examples']} images): {verdict}"
            )
    plot = plot_comparison(table, out / "accuracy_vs_flops.png")
    summary = write_json({"table": table, "runs": runs}, out / "compare.json")
    print(f"wrote {summary} and {plot}")
    return 0


def cmd_sequences(args: argparse.Namespace) -> int:
    from a3lab.classifiers.sequences import PRESETS, SequenceConfig, format_table, plot_sequences, run_sequences
    from a3lab.utils import resolve_device, write_json

    _set_threads(args.threads)
    overrides = dict(PRESETS[args.preset])
    for name, value in (
        ("steps", args.steps),
        ("eval_size", args.eval_size),
        ("test_lengths", args.lengths),
        ("tasks", args.tasks),
        ("models", args.models),
    ):
        if value is not None:
            overrides[name] = tuple(value) if isinstance(value, list) else value
    config = SequenceConfig(seed=args.seed, **overrides)
    out = Path(args.out)
    refuse_existing([out / "sequences.json", out / "sequences_accuracy_vs_length.png"], args.force)
    result = run_sequences(config, resolve_device(args.device))
    record = write_json({"preset": args.preset, **result}, out / "sequences.json")
    plot = plot_sequences(result, out / "sequences_accuracy_vs_length.png")
    print(format_table(result))
    print(f"wrote {record} and {plot}")
    return 0


def _register_video(actions: argparse._SubParsersAction) -> None:
    video = actions.add_parser("video", help="clips of MNIST items: mean-pooled CNN, CNN+GRU, 3-D CNN, transformer")
    video.add_argument("--preset", choices=["quick", "full"], default="quick", help="work budget (default: quick)")
    video.add_argument("--dataset", choices=DATASET_CHOICES, default="mnist", help="items (default: mnist)")
    video.add_argument(
        "--tasks", nargs="+", choices=["first", "direction", "increasing", "max", "sum"], default=None,
        help="(default: the preset's)",
    )  # fmt: skip
    video.add_argument(
        "--models", nargs="+", choices=["mean_pool", "gru", "c3d", "transformer"], default=None, help="(default: all)"
    )
    video.add_argument(
        "--length", type=int_range(1, 4096), default=None, help="frames per training clip T (default: preset)"
    )
    video.add_argument("--steps", type=positive_int, default=None, help="training steps per model (default: preset)")
    video.add_argument("--out", default="runs/video", help="folder for video.json and the plot (default: %(default)s)")
    video.add_argument("--force", action="store_true", help="replace the video.json and plot already in --out")
    video.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's choice)")
    add_common(video)
    video.set_defaults(func=cmd_video)


def cmd_video(args: argparse.Namespace) -> int:
    from a3lab.classifiers.video import PRESETS, VideoConfig, format_table, plot_video, run_video
    from a3lab.utils import resolve_device, write_json

    out = Path(args.out)
    refuse_existing([out / "video.json", out / "video_accuracy_vs_length.png"], args.force)
    _set_threads(args.threads)
    overrides = {**PRESETS[args.preset], "dataset": args.dataset}
    for name in ("tasks", "models", "length", "steps"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    result = run_video(VideoConfig(seed=args.seed, **overrides), resolve_device(args.device))
    record = write_json({"preset": args.preset, **result}, out / "video.json")
    plot = plot_video(result, out / "video_accuracy_vs_length.png")
    print(format_table(result))
    print(f"wrote {record} and {plot}")
    return 0


def _register_captions(actions: argparse._SubParsersAction) -> None:
    cap = actions.add_parser("captions", help="caption strips of items: Show-Attend-Tell, per-position, CTC, CRNN")
    sub = cap.add_subparsers(dest="captions_action", metavar="<train|predict>", required=True)
    train = sub.add_parser("train", help="train and test every model; leave a run folder of the best")
    train.add_argument("--dataset", choices=DATASET_CHOICES, default="mnist", help="(default: mnist)")
    train.add_argument("--preset", choices=["quick", "full"], default="quick", help="work budget (default: quick)")
    train.add_argument("--steps", type=positive_int, default=None, help="training steps per model (default: preset)")
    train.add_argument(
        "--models", nargs="+", choices=["show_tell", "per_position", "ctc", "crnn"], default=None,
        help="(default: all)",
    )  # fmt: skip
    train.add_argument("--out", required=True, help="run folder: best model, every model's results, examples")
    train.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    train.add_argument("--threads", type=thread_count, default=None, help="torch CPU threads (default: torch's choice)")
    add_common(train)
    train.set_defaults(func=cmd_captions_train)
    predict = sub.add_parser("predict", help="caption the strips of an .npz file with a run's best model")
    predict.add_argument("run", help="a run folder written by `classify captions train`")
    predict.add_argument("--images", required=True, help="an .npz file with uint8 `images` [N, 28, 28*L], L <= 8")
    predict.add_argument("--json", action="store_true", help="print a JSON list instead of one caption per line")
    add_common(predict, seed=False)
    predict.set_defaults(func=cmd_captions_predict)


def cmd_captions_train(args: argparse.Namespace) -> int:
    from a3lab.classifiers.captions import PRESETS, CaptionConfig, check_out_dir, format_table, run_captions, save_run
    from a3lab.utils import resolve_device

    _set_threads(args.threads)
    out = check_out_dir(args.out, args.force)
    overrides = {**PRESETS[args.preset], "dataset": args.dataset}
    for name in ("steps", "models"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    config = CaptionConfig(seed=args.seed, **overrides)
    results, trained = run_captions(config, resolve_device(args.device))
    paths = save_run(results, trained, out)
    print(format_table(results))
    print(f"best model: {json.loads(paths['run'].read_text())['model']}; wrote {out}")
    return 0


def cmd_captions_predict(args: argparse.Namespace) -> int:
    from a3lab.classifiers.captions import predict_captions
    from a3lab.utils import resolve_device

    captions = predict_captions(args.run, args.images, resolve_device(args.device))
    print(json.dumps(captions) if args.json else "\n".join(captions))
    return 0
