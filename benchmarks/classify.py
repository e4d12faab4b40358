"""Problem 1 measurements, run by hand: image classifiers over seeds, and the peers' sequence setting.

Run:
  .venv/bin/python benchmarks/classify.py images --seeds 0 1 2 [--models cnn gru] [--datasets mnist fashion-mnist]
      [--epochs 3] [--threads 1] [--out runs/bench-classify]
  .venv/bin/python benchmarks/classify.py speed [--rounds 5] [--threads 1]
  .venv/bin/python benchmarks/classify.py anchor --seeds 0 1 2 [--steps 3000] [--threads 1]

"images" trains (or reuses, so it resumes) one run per data set, model and seed with
`a3lab.classifiers.run_comparison`, then prints a markdown table: mean accuracy, every seed's accuracy, the
spread, parameters, FLOPs, seconds per epoch and inference images per second, and the issue's targets.
"speed" measures training and inference images per second of every model, interleaved round by round in one
process so that their ratios survive a shared machine's load.
"anchor" repeats the peers' sequence setting from ANCHORS.md (Problem 2's rule, trained on length 10 only,
tested at length 200, 3 seeds) for our GRU and 1-D CNN, side by side with their figures.
Timings depend on the machine's load: read ratios, not absolute seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from a3lab.classifiers import accuracy_targets, run_comparison, summarise
from a3lab.classifiers.sequences import SequenceConfig, run_sequences
from a3lab.utils import keep_freed_memory

ANCHOR_LENGTH_200 = {"gru": 0.73, "cnn1d": 0.54}  # ANCHORS.md: GRU (3.4k params), 1-D CNN RF 7 + average pooling


def images(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    runs = run_comparison(
        args.datasets, args.models, args.seeds, Path(args.out), epochs=args.epochs, train_examples=args.train_examples
    )
    table = summarise(runs)
    print(f"\n{args.epochs} epochs, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.out}\n")
    print("| data set | model | accuracy % (mean) | per seed | spread | params | MFLOPs/img | s/epoch | img/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for dataset, by_model in table.items():
        for kind, r in by_model.items():
            seeds = ", ".join(f"{100 * a:.2f}" for a in r["accuracy_per_seed"])
            print(
                f"| {dataset} | {kind} | {100 * r['accuracy']:.2f} | {seeds} | {100 * r['accuracy_spread']:.2f} | "
                f"{r['params']:,} | {r['flops_per_image'] / 1e6:.2f} | {r['train_seconds_per_epoch']:.1f} | "
                f"{r['inference_images_per_second']:,.0f} |"
            )
    print()
    for dataset, by_model in accuracy_targets().items():
        for kind, target in by_model.items():
            r = table.get(dataset, {}).get(kind)
            if r is not None:
                worst = min(r["accuracy_per_seed"])
                verdict = "met" if worst >= target else "NOT met"
                print(f"target {kind} {dataset} >= {100 * target:.1f}%: worst seed {100 * worst:.2f}% -> {verdict}")
    print(f"\n({time.perf_counter() - t0:.0f} s, runs reused where their records existed)")


def anchor(args: argparse.Namespace) -> None:
    per_model: dict[str, list[float]] = {"gru": [], "cnn1d": [], "hand_wired": []}
    params: dict[str, int] = {}
    for seed in args.seeds:
        config = SequenceConfig(
            tasks=("alternating",),
            models=tuple(per_model),
            train_min_length=10,
            train_max_length=10,
            curriculum=0.0,
            test_lengths=(10, 200),
            steps=args.steps,
            seed=seed,
        )
        entry = run_sequences(config)["tasks"]["alternating"]
        for kind in per_model:
            per_model[kind].append(entry["models"][kind]["200"])
            params[kind] = entry["details"][kind]["params"]
        print(f"seed {seed}: " + ", ".join(f"{k} {entry['models'][k]['200']:.3f}" for k in per_model), flush=True)
    print(f"\nalternating-sum rule, trained on length 10 only ({args.steps} steps), accuracy at length 200\n")
    print("| model | params | ours (mean over seeds) | per seed | peers (ANCHORS.md) |")
    print("|---|---|---|---|---|")
    for kind, accs in per_model.items():
        seeds = ", ".join(f"{a:.3f}" for a in accs)
        peer = ANCHOR_LENGTH_200.get(kind)
        print(
            f"| {kind} | {params[kind]:,} | {statistics.mean(accs):.3f} | {seeds} | "
            f"{'-' if peer is None else f'{peer:.2f}'} |"
        )


def speed(args: argparse.Namespace) -> None:
    """Training and inference images per second of every model, measured round-robin in one process.

    Under shared load absolute times swing by several times within minutes; interleaving the models round
    by round and keeping each one's best round makes their ratios comparable.
    """
    import torch.nn.functional as F

    from a3lab.classifiers import DEFAULT_BATCH_SIZE, MODEL_KINDS, build_model, count_flops, make_config

    torch.manual_seed(0)
    models = {kind: build_model(make_config(kind, "mnist")) for kind in MODEL_KINDS}
    optimisers = {kind: torch.optim.AdamW(m.parameters(), lr=1e-4) for kind, m in models.items()}
    best_train = dict.fromkeys(models, 0.0)
    best_infer = dict.fromkeys(models, 0.0)
    x_eval = torch.rand(1000, 1, 28, 28)
    for _ in range(args.rounds):
        for kind, model in models.items():
            batch = DEFAULT_BATCH_SIZE[kind]
            x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
            model.train()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                loss = F.cross_entropy(model(x), y)
                optimisers[kind].zero_grad(set_to_none=True)
                loss.backward()
                optimisers[kind].step()
            best_train[kind] = max(best_train[kind], args.steps * batch / (time.perf_counter() - t0))
            model.eval()
            with torch.inference_mode():
                t0 = time.perf_counter()
                model(x_eval)
                best_infer[kind] = max(best_infer[kind], len(x_eval) / (time.perf_counter() - t0))
    print(f"\nbest of {args.rounds} interleaved rounds, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| model | MFLOPs/img | train img/s | inference img/s (batch 1000) | train vs CNN | inference vs CNN |")
    print("|---|---|---|---|---|---|")
    for kind, model in models.items():
        print(
            f"| {kind} | {count_flops(model) / 1e6:.2f} | {best_train[kind]:,.0f} | {best_infer[kind]:,.0f} | "
            f"{best_train[kind] / best_train['cnn']:.2f}x | {best_infer[kind] / best_infer['cnn']:.2f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    sub = parser.add_subparsers(dest="what", required=True)
    img = sub.add_parser("images", help="image classifiers over seeds")
    img.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    img.add_argument("--models", nargs="+", default=["cnn", "gru", "lstm", "mlp"])
    img.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    img.add_argument("--epochs", type=int, default=3)
    img.add_argument("--train-examples", type=int, default=None)
    img.add_argument("--out", default="runs/bench-classify")
    img.set_defaults(func=images)
    anc = sub.add_parser("anchor", help="the peers' sequence setting: train on length 10, test on 200")
    anc.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    anc.add_argument("--steps", type=int, default=3000)
    anc.set_defaults(func=anchor)
    spd = sub.add_parser("speed", help="training and inference throughput, all models interleaved")
    spd.add_argument("--rounds", type=int, default=5)
    spd.add_argument("--steps", type=int, default=5, help="training steps per model per round")
    spd.set_defaults(func=speed)
    args = parser.parse_args()
    keep_freed_memory()  # as the a3lab CLI does
    if args.threads:
        torch.set_num_threads(args.threads)
    args.func(args)


if __name__ == "__main__":
    main()
