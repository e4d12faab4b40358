"""FID against training time: train one GAN run and evaluate it at a list of epochs.

Run by hand (never by pytest):

    A3LAB_DATA=/work/shared/data python benchmarks/gan_curve.py --dataset fashion-mnist --arch dcgan \
        --conditional --projection --at 2 5 10 17 --max-minutes 19 --out runs/curve-fashion-cgan

The run trains up to each epoch of `--at` in turn (`a3lab.gan.Trainer`, resumed between points), then
`a3lab.gan_eval.evaluate_run` samples the EMA generator and scores it against the test split on the domain CNN's
features, beside the real train-vs-test floor. `--max-minutes` caps the training time over all points: the point
where it runs out is evaluated at the fractional epoch reached, and the curve ends there. The table (Markdown),
`curve.json` (rewritten after every point) and `curve.png` (FID / floor against epochs, log scale) are written
into `--out`; the run folder is `--out/run`. On a GPU (`--device cuda`) it shows how far a configuration goes with
more epochs than the 19-minute CPU preset gives it. Evaluation time is not counted in `--max-minutes`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from a3lab.data import DATASETS
from a3lab.gan import GANConfig, train
from a3lab.gan.config import EvalConfig
from a3lab.gan.evaluate import evaluate_run, load_classifier
from a3lab.utils import keep_freed_memory, save_figure, write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=list(DATASETS), default="fashion-mnist")
    p.add_argument("--arch", choices=["mlp", "dcgan"], default=None, help="default: the data set's best")
    cond = p.add_mutually_exclusive_group()
    cond.add_argument("--conditional", dest="conditional", action="store_true", default=True)
    cond.add_argument("--unconditional", dest="conditional", action="store_false")
    proj = p.add_mutually_exclusive_group()
    proj.add_argument("--projection", action="store_true", default=None, help="projection discriminator")
    proj.add_argument("--no-projection", dest="projection", action="store_false", help="label concatenation")
    p.add_argument("--loss", choices=["bce", "hinge"], default=None, help="default: the data set's best")
    p.add_argument("--inception-n", type=int, default=None, help="also the Inception FID at this many images")
    p.add_argument("--channels", type=int, default=32, help="dcgan width")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--at", type=int, nargs="+", required=True, help="epochs at which to evaluate (increasing)")
    p.add_argument("--max-minutes", type=float, default=None, help="training time over all points")
    p.add_argument("--n", type=int, default=10_000, help="generated (and test) images per evaluation")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if any(b <= a for a, b in zip(args.at, args.at[1:])) or args.at[0] < 1:
        p.error("--at takes increasing epochs >= 1")
    if args.max_minutes is not None and not args.max_minutes > 0:
        p.error(f"--max-minutes must be > 0, got {args.max_minutes}")
    try:  # bad settings end here, in one line, before any training
        args.gan_config = GANConfig(
            dataset=args.dataset,
            arch=args.arch,
            conditional=args.conditional,
            projection=args.projection,
            loss=args.loss,
            channels=args.channels,
            batch_size=args.batch_size,
            lr=args.lr,
            epochs=args.at[-1],
            seed=args.seed,
        )
        inception = {"inception": True, "inception_n": args.inception_n} if args.inception_n else {}
        args.eval_config = EvalConfig(n=args.n, seed=args.seed, **inception)
    except ValueError as e:
        p.error(str(e))
    return args


def run_curve(args: argparse.Namespace) -> list[dict]:
    """Train to each point of `args.at` and evaluate there; returns one row per point reached."""
    run_dir = args.out / "run"
    judge = load_classifier(args.dataset, device=args.device)
    rows: list[dict] = []
    minutes_left = args.max_minutes
    for epochs in args.at:
        summary = train(
            replace(args.gan_config, epochs=epochs),
            run_dir,
            resume=bool(rows),
            device=args.device,
            progress_bar=False,
            max_minutes=minutes_left,
        )
        result = evaluate_run(run_dir, args.eval_config, args.device, judge)
        rows.append(
            {
                "epochs": round(summary["global_step"] / summary["steps_per_epoch"], 2),
                "train_minutes": summary["seconds"] / 60.0,
                "images_per_second": summary["images_per_second"],
                **{k: result[k] for k in ("fid", "fid_floor", "fid_over_floor", "kid", "precision", "recall")},
                "conditional_accuracy": result["conditional_accuracy"],
                "inception_fid": result["inception_fid"],
                "inception_n": result["inception_n"],
            }
        )
        print(format_row(rows[-1]), flush=True)
        # After every point, so a run stopped from outside keeps the curve so far.
        write_json({"setting": setting(args), "rows": rows}, args.out / "curve.json")
        if summary["stopped"] != "completed":
            break
        if minutes_left is not None:
            minutes_left = args.max_minutes - summary["seconds"] / 60.0
            if minutes_left <= 0:
                break
    return rows


def setting(args: argparse.Namespace) -> dict:
    """The command line's settings as JSON (the validated configs are derived from them)."""
    skip = ("gan_config", "eval_config")
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in skip}


HEADER = (
    "| epochs | train min | images/s | FID | FID/floor | KID | precision | recall | cond. acc | Inception FID (n) |\n"
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def format_row(r: dict) -> str:
    acc = "-" if r["conditional_accuracy"] is None else f"{100 * r['conditional_accuracy']:.1f}%"
    inception = "-" if r.get("inception_fid") is None else f"{r['inception_fid']:.2f} ({r['inception_n']})"
    return (
        f"| {r['epochs']:g} | {r['train_minutes']:.1f} | {r['images_per_second']:,.0f} | {r['fid']:.2f} "
        f"| {r['fid_over_floor']:.1f}x | {r['kid']:.4f} | {r['precision']:.3f} | {r['recall']:.3f} | {acc} "
        f"| {inception} |"
    )


def plot(rows: list[dict], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["epochs"] for r in rows], [r["fid_over_floor"] for r in rows], marker="o")
    ax.axhline(5.0, color="grey", linestyle="--", label="5x the floor")
    ax.set_yscale("log")
    ax.set_xlabel("epochs")
    ax.set_ylabel("FID / real floor (domain CNN)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    keep_freed_memory()
    kind = "cgan" if args.conditional else "gan"
    c = args.gan_config
    title = f"{args.dataset}-{kind} {c.arch} (channels {c.channels}, {c.loss}, batch {c.batch_size})"
    print(title, flush=True)
    print(HEADER, flush=True)
    t0 = time.perf_counter()
    rows = run_curve(args)
    plot(rows, title, args.out / "curve.png")
    print(f"{time.perf_counter() - t0:.0f} s in all; {args.out / 'curve.json'}", flush=True)


if __name__ == "__main__":
    main()
