"""Evaluating GAN runs: sample, judge with the domain CNN, compare with the real train-vs-test floor.

Legend: N real images, M generated images, F feature dim, C classes (10).

The write-up's claim (Problem 4): a conditional GAN makes the class it is asked for, a plain GAN a random
one. `evaluate_run` measures it on one run folder written by `a3lab.gan.train`: FID and KID on the domain
CNN's features against the test split, the same metrics between the real training and test splits as the
floor (cached per data set and extractor), precision and recall (Kynkaanniemi et al. 2019), the class
histogram of generated images and its entropy (log2(10) = 3.32 bits is a uniform spread), and for a
conditional GAN the share of images generated for class c that the CNN calls c. `reproduce` trains the
write-up's four runs (GAN and cGAN on MNIST and Fashion-MNIST) and writes one comparison table.

Papers: Mirza and Osindero 2014 (conditional GAN), Radford et al. 2016 (DCGAN); metrics in `a3lab.gan.metrics`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from a3lab.data import NUM_CLASSES, class_names
from a3lab.errors import UserError
from a3lab.gan import folder, metrics
from a3lab.gan.config import STANDARD_INCEPTION_N, EvalConfig
from a3lab.gan.reference import classifier_fingerprint, compare, inception_reference, real_reference
from a3lab.utils import write_json

# Lucic et al. 2018, "Are GANs Created Equal?": the best Inception FID (10k vs 10k) of the non-saturating GAN over
# their hyper-parameter search, the published yardstick beside ours.
PUBLISHED_INCEPTION_FID = {"mnist": 6.8, "fashion-mnist": 26.5}


# ----------------------------------------------------------------------------- the judge


def load_classifier(dataset: str, root: str | os.PathLike | None = None, device: str = "cpu") -> nn.Module:
    """The domain CNN of the CNN-vs-RNN problem (trained and cached on first use), in eval mode."""
    from a3lab.classifiers import domain_cnn

    return domain_cnn(dataset, root=root, device=device, train_if_missing=True).eval()


# ----------------------------------------------------------------------------- evaluation


def evaluate_samples(
    images: torch.Tensor,
    requested: torch.Tensor | None,
    dataset: str,
    classifier: nn.Module,
    config: EvalConfig,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """All metrics of a set of generated images against the real test split of `dataset`.

    Args:
        images: generated uint8 images `[M, 28, 28]`.
        requested: the class each image was generated for (conditional GAN), or None.
        dataset: "mnist" or "fashion-mnist" (the real reference and the class names).
        classifier: the domain CNN (features for the distances, logits for the classes).
        config: metric settings.
        root, cache_dir, device: data folder, feature cache folder, where the CNN runs.

    Returns:
        a JSON-ready dict: n_generated, n_real, fid, kid, kid_std, precision, recall, fid_floor, kid_floor,
        precision_floor, recall_floor, fid_over_floor, classifier_test_accuracy, class_histogram,
        class_entropy_bits, max_entropy_bits, conditional_accuracy, per_class_accuracy, inception_fid,
        inception_fid_floor, inception_n, inception_fid_published (Lucic et al. 2018's best on the data set),
        inception_note, extractor, floor_cached.

    Shapes: images `[M, 28, 28]`, requested `[M]`.
    """
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(f"generated images must be uint8 [M, 28, 28], got {images.dtype} {tuple(images.shape)}")
    reference = real_reference(dataset, classifier, config, root, cache_dir, device)
    features, logits = metrics.extract_features(classifier, images, config.batch_size, device, desc="generated")
    result = _domain_scores(reference, compare(reference["features"], features, config), len(images))
    result["extractor"] = {"num_features": features.shape[1], "fingerprint": classifier_fingerprint(classifier)}
    predicted = logits.argmax(1)  # [M]
    histogram = metrics.class_histogram(predicted, NUM_CLASSES)
    result.update(class_histogram=histogram, class_entropy_bits=metrics.entropy_bits(histogram))
    if requested is not None:
        overall, per_class = metrics.conditional_accuracy(predicted, requested, NUM_CLASSES)
        result["conditional_accuracy"], result["per_class_accuracy"] = overall, per_class
    if config.inception:
        result.update(_inception_scores(images, dataset, config, root, cache_dir, device))
    return result


def _domain_scores(reference: dict[str, Any], scores: dict[str, float], n_generated: int) -> dict[str, Any]:
    """The result dict of `evaluate_samples` with the domain-CNN scores and their floors filled in."""
    floor = reference["floor"]
    return {
        "n_generated": n_generated,
        "n_real": floor["n"],
        **scores,
        "fid_floor": floor["fid"],
        "kid_floor": floor["kid"],
        "precision_floor": floor["precision"],
        "recall_floor": floor["recall"],
        "fid_over_floor": scores["fid"] / floor["fid"] if floor["fid"] > 0 else None,
        "classifier_test_accuracy": floor["classifier_test_accuracy"],
        "class_histogram": None,
        "class_entropy_bits": None,
        "max_entropy_bits": math.log2(NUM_CLASSES),
        "conditional_accuracy": None,
        "per_class_accuracy": None,
        "inception_fid": None,
        "inception_fid_floor": None,
        "inception_n": None,
        "inception_fid_published": None,
        "inception_note": None,
        "extractor": None,
        "floor_cached": reference["cached"],
    }


def _inception_scores(images, dataset, config, root, cache_dir, device) -> dict[str, Any]:
    published = PUBLISHED_INCEPTION_FID[dataset]
    if metrics.inception_weights_path() is None:
        return {
            "inception_fid_published": published,
            "inception_note": f"skipped: the standard Inception FID needs {metrics.INCEPTION_HINT}",
        }
    extractor = metrics.InceptionFeatures(device)
    n = min(config.inception_n, len(images))
    reference = inception_reference(dataset, extractor, n, root, cache_dir, device)
    n = reference["n"]
    # A random subset: a conditional GAN's samples come sorted by class.
    subset = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed))[:n]]
    fake = metrics.extract_inception_features(extractor, subset, device=device)
    note = f"{n} generated vs {n} test images"
    if n < STANDARD_INCEPTION_N:
        note += f"; FID at fewer than {STANDARD_INCEPTION_N} images is biased upward (docs/gan.md measures it)"
    return {
        "inception_fid": metrics.frechet_distance(reference["features"], fake),
        "inception_fid_floor": reference["fid_floor"],
        "inception_n": n,
        "inception_fid_published": published,
        "inception_note": note,
    }


def evaluate_run(
    run_dir: str | os.PathLike,
    config: EvalConfig | None = None,
    device: str = "cpu",
    classifier: nn.Module | None = None,
    root: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Sample a trained run (EMA generator, eval mode) and evaluate it; writes `eval.json` into the run folder.

    Args:
        run_dir: a folder written by `a3lab.gan.train`.
        config: evaluation settings (default `EvalConfig()`: 10,000 images).
        device: where the generator and the CNN run.
        classifier: the judge; default the domain CNN of the run's data set (`load_classifier`).
        root, cache_dir: data folder and real-feature cache folder.
        write: write `run_dir/eval.json`.

    Returns:
        `evaluate_samples`' dict plus run_dir, dataset, arch, loss, conditional, epochs (planned), epochs_trained
        (from summary.json; None without it), seed, sample_seconds, eval_seconds, eval_config.
    """
    from a3lab.gan.sampling import load_generator, sample

    config = config or EvalConfig()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"no run folder {run_dir}")
    generator, gan_config = load_generator(run_dir, device=device, ema=True)
    t0 = time.perf_counter()
    # Without labels the conditional generator is asked for every class in equal shares.
    images, requested = sample(generator, gan_config, config.n, seed=config.seed, batch_size=config.batch_size)
    sample_seconds = time.perf_counter() - t0
    if classifier is None:
        classifier = load_classifier(gan_config.dataset, root, device)
    t0 = time.perf_counter()
    scores = evaluate_samples(images, requested, gan_config.dataset, classifier, config, root, cache_dir, device)
    result = {
        "run_dir": str(run_dir),
        "dataset": gan_config.dataset,
        "arch": gan_config.arch,
        "loss": gan_config.loss,
        "conditional": gan_config.conditional,
        "epochs": gan_config.epochs,
        "epochs_trained": _epochs_trained(run_dir),
        "seed": gan_config.seed,
        **scores,
        "sample_seconds": sample_seconds,
        "eval_seconds": time.perf_counter() - t0,
        "eval_config": asdict(config),
    }
    if write:
        write_json(result, run_dir / folder.EVAL_FILE)
    return result


def _epochs_trained(run_dir: Path) -> float | None:
    """Epochs actually trained (fractional when a time limit or a signal stopped the run), from summary.json."""
    try:
        summary = json.loads((run_dir / folder.SUMMARY).read_text())
        return round(summary["global_step"] / summary["steps_per_epoch"], 2)
    except (OSError, ValueError, KeyError, ZeroDivisionError):
        return None


def check_test_counts(dataset: str | None, config: EvalConfig, root: str | os.PathLike | None = None) -> None:
    """Before any work: `real_n`, and `inception_n` when the Inception FID is asked for, above the data set's
    test split are errors, as every count above its split is (the split's size is read from its IDX header,
    without loading the images). A data set not known yet (None) or not on disk is left to the loading."""
    from a3lab.data import check_idx, find_root, raw_files

    if dataset is None:
        return
    base, _ = find_root(dataset, root)
    images = base / raw_files(dataset, False)["images"]
    if not images.is_file():
        return  # loading the data says what is missing
    size = check_idx(images, "images")[0]
    counts = {"real_n": config.real_n, "inception_n": config.inception_n if config.inception else None}
    for name, value in counts.items():
        if value is not None and value > size:
            raise UserError(f"`{name}` must be <= {size} (the {dataset} test split), got {value}")


def check_eval(
    run_dir: Path, config: EvalConfig, root: str | os.PathLike | None, cache_dir: str | os.PathLike | None
) -> list[str]:
    """Before any work of `gan eval`: the run folder exists, the counts fit the test split, and the caches it
    will write (real features; the domain CNN's when it must be trained) are writable. Returns notes to show."""
    from a3lab.classifiers import domain_cnn_path
    from a3lab.runs import check_cache_dir, check_folder

    if not Path(run_dir).is_dir():
        raise UserError(f"no run folder {run_dir}")
    dataset = folder.run_dataset(run_dir)
    check_test_counts(dataset, config, root)
    if cache_dir is not None:
        check_folder(cache_dir, param="cache_dir")
    else:
        check_cache_dir("gan-eval")
    if dataset is not None and not domain_cnn_path(dataset).is_file():
        check_cache_dir(domain_cnn_path(dataset).parent.name)
    if config.inception and metrics.inception_weights_path() is None:
        return [f"skipping the Inception FID: it needs {metrics.INCEPTION_HINT}"]
    return []


def percent(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def format_table(result: dict[str, Any]) -> str:
    """The printed table of `a3lab gan eval`: generated against real, and the real floor beside it."""
    names = class_names(result["dataset"])
    kind = "conditional GAN" if result["conditional"] else "GAN"
    trained = result.get("epochs_trained")
    epochs = (
        f"{result['epochs']}" if trained is None or trained == result["epochs"] else f"{trained} of {result['epochs']}"
    )
    lines = [
        f"{result['dataset']} {kind} ({result['arch']}, {epochs} epochs): "
        f"{result['n_generated']} generated vs {result['n_real']} test images, domain CNN features",
        f"{'metric':<24} {'generated':>12} {'real floor':>12}",
        f"{'FID':<24} {result['fid']:>12.3f} {result['fid_floor']:>12.3f}",
        f"{'KID':<24} {result['kid']:>12.5f} {result['kid_floor']:>12.5f}",
        f"{'precision':<24} {result['precision']:>12.3f} {result['precision_floor']:>12.3f}",
        f"{'recall':<24} {result['recall']:>12.3f} {result['recall_floor']:>12.3f}",
    ]
    if result.get("inception_fid") is not None:
        lines.append(f"{'Inception FID':<24} {result['inception_fid']:>12.3f} {result['inception_fid_floor']:>12.3f}")
        lines.append(
            f"Inception FID published (Lucic et al. 2018, best NS-GAN, 10k vs 10k): {result['inception_fid_published']}"
        )
    if result.get("inception_note"):
        lines.append(f"Inception FID: {result['inception_note']}")
    if result["fid_over_floor"] is not None:
        lines.append(f"FID / floor: {result['fid_over_floor']:.2f}x")
    lines.append(
        f"class entropy: {result['class_entropy_bits']:.3f} bits of {result['max_entropy_bits']:.3f} "
        f"(the CNN is {percent(result['classifier_test_accuracy'])} right on real test images)"
    )
    header = f"{'class':<14} {'share':>8}" + (f" {'accuracy':>10}" if result["per_class_accuracy"] else "")
    lines.append(header)
    for c, name in enumerate(names):
        row = f"{name:<14} {percent(result['class_histogram'][c]):>8}"
        if result["per_class_accuracy"]:
            row += f" {percent(result['per_class_accuracy'][c]):>10}"
        lines.append(row)
    if result["conditional_accuracy"] is not None:
        lines.append(f"conditional accuracy: {percent(result['conditional_accuracy'])}")
    return "\n".join(lines)
