"""How the standard Inception FID of one run depends on the number of images: FID at growing prefixes.

Run by hand (never by pytest):

    A3LAB_DATA=/work/shared/data python benchmarks/gan_inception_bias.py RUN_DIR --sizes 500 1000 2000

FID's estimator is biased upward at finite sample sizes, roughly by a constant over n (Chong and Forsyth 2020,
"Effectively Unbiased FID and Inception Score and where to find them"). This script samples max(--sizes)
images from the run's EMA generator, extracts the Inception features once (the test and training features
through the evaluation's per-data-set cache), and computes at each size n, on the first n of each set:
the run's FID (generated vs test) and the floor (training vs test images, whose true distance is about zero, so
its value is mostly the bias). It then fits FID(n) = FID_inf + k / n by least squares over the sizes and prints
the extrapolated FID at 10,000 images beside the measured ones. The table (Markdown) goes to stdout and
`--out` (JSON) when given.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from a3lab.data import load_images
from a3lab.gan import load_generator, metrics, sample
from a3lab.gan.config import STANDARD_INCEPTION_N
from a3lab.gan.reference import (
    INCEPTION_ORDER_SEED,
    cached_prefix_features,
    default_eval_cache,
    fingerprint,
    inception_reference,
)
from a3lab.utils import write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, help="a run folder written by `a3lab gan train`")
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000], help="images per side (increasing)")
    p.add_argument("--seed", type=int, default=0, help="seeds the generator's noise")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cache-dir", default=None, help="Inception feature cache (default: the evaluation's)")
    p.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    args = p.parse_args(argv)
    if any(b <= a for a, b in zip(args.sizes, args.sizes[1:])) or args.sizes[0] < 2:
        p.error("--sizes takes increasing sizes >= 2")
    return args


def fit_inverse_n(sizes: list[int], values: list[float]) -> tuple[float, float]:
    """Least-squares (a, k) of value = a + k / n."""
    x = torch.tensor([1.0 / n for n in sizes], dtype=torch.float64)
    design = torch.stack([torch.ones_like(x), x], 1)  # (S, 2)
    solution = torch.linalg.lstsq(design, torch.tensor(values, dtype=torch.float64).unsqueeze(1)).solution
    return float(solution[0]), float(solution[1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    largest = max(args.sizes)
    generator, config = load_generator(args.run_dir, device=args.device)
    images, _ = sample(generator, config, largest, seed=args.seed)
    images = images[torch.randperm(largest, generator=torch.Generator().manual_seed(args.seed))]  # classes mixed
    extractor = metrics.InceptionFeatures(args.device)
    reference = inception_reference(config.dataset, extractor, largest, cache_dir=args.cache_dir, device=args.device)
    # The training images' features, which `inception_reference` has just cached for its floor.
    train_images, _ = load_images(config.dataset, train=True)
    order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(INCEPTION_ORDER_SEED))
    folder = Path(args.cache_dir or default_eval_cache())
    train_path = folder / f"{config.dataset}-inception-train-{fingerprint(train_images)}.pt"
    train = cached_prefix_features(train_path, train_images[order], largest, extractor, args.device)
    fake = metrics.extract_inception_features(extractor, images, device=args.device)
    test = reference["features"]
    rows = []
    for n in args.sizes:
        fid = metrics.frechet_distance(test[:n], fake[:n])
        floor = metrics.frechet_distance(test[:n], train[:n])
        rows.append({"n": n, "fid": fid, "floor": floor})
    fid_inf, fid_k = fit_inverse_n(args.sizes, [r["fid"] for r in rows])
    floor_inf, floor_k = fit_inverse_n(args.sizes, [r["floor"] for r in rows])
    n_std = STANDARD_INCEPTION_N
    lines = [
        f"Inception FID of {args.run_dir} ({config.dataset}, {config.arch}, "
        f"{'conditional' if config.conditional else 'plain'} GAN) at growing image counts",
        "",
        "| images per side | FID (generated vs test) | floor (train vs test) |",
        "|---:|---:|---:|",
        *(f"| {r['n']} | {r['fid']:.2f} | {r['floor']:.2f} |" for r in rows),
        f"| {n_std} (fit a + k/n) | {fid_inf + fid_k / n_std:.2f} | {floor_inf + floor_k / n_std:.2f} |",
        "",
        f"fit FID(n) = {fid_inf:.2f} + {fid_k:.0f} / n; floor(n) = {floor_inf:.2f} + {floor_k:.0f} / n",
    ]
    print("\n".join(lines))
    if args.out is not None:
        fit = {"fid": [fid_inf, fid_k], "floor": [floor_inf, floor_k]}
        write_json({"run_dir": str(args.run_dir), "rows": rows, "fit_a_plus_k_over_n": fit}, args.out)


if __name__ == "__main__":
    main()
