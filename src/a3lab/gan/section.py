"""The report's GAN section: the write-up's four runs (GAN and cGAN on MNIST and Fashion-MNIST), its result
type and how it is shown. Loading this module loads no torch: the report lists it before running anything."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, ratio_text, table_block
from a3lab.section import Budget, Section

__all__ = ["GAN", "GANResult", "GANRunResult", "render", "run"]


class GANRunResult(TypedDict):
    """One of the four runs, as the report keeps it."""

    dataset: str
    conditional: bool
    arch: str
    """mlp or dcgan"""
    loss: str
    """bce or hinge"""
    epochs: float
    """epochs trained (fewer than planned when the time cap stopped the run)"""
    epochs_planned: int
    train_seconds: float
    """wall clock of training, over every resume of the run"""
    fid: float
    kid: float
    fid_floor: float
    kid_floor: float
    precision: float
    recall: float
    class_histogram: list[float]
    """10 shares summing to 1: the domain CNN's calls on generated images"""
    class_entropy_bits: float
    conditional_accuracy: float | None
    """share of images made for class c called c (None for a plain GAN)"""
    per_class_accuracy: list[float] | None
    inception_fid: float | None
    inception_n: int | None
    inception_fid_floor: float | None
    inception_fid_published: float | None
    inception_note: str | None


class GANResult(TypedDict):
    """The section's result: the four runs, their sample grids and the work they were given."""

    images: list[str]
    """grid file names written into the section's folder (`<run>-grid.png`)"""
    runs: dict[str, GANRunResult]
    """run name (mnist-gan, mnist-cgan, fashion-mnist-gan, fashion-mnist-cgan) -> its numbers"""
    budget: Budget


def run(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    """Train, evaluate and compare the four runs (`a3lab.gan.reproduce.section_experiment`)."""
    from a3lab.gan.reproduce import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render(r: dict) -> list[Block]:
    """The four runs' metrics, the class histograms, and the standard Inception FID where it was measured."""
    rows = []
    for name, v in r["runs"].items():
        cond = v.get("conditional_accuracy")
        rows.append(
            [
                name,
                ", ".join(x for x in (v.get("arch"), v.get("loss")) if x),
                v.get("epochs"),
                v.get("fid"),
                v.get("fid_floor"),
                ratio_text(v.get("fid"), v.get("fid_floor")),
                v.get("kid"),
                v.get("precision"),
                v.get("recall"),
                round(v["class_entropy_bits"], 2),
                pct(cond) if cond is not None else "-",
                v.get("train_seconds"),
            ]
        )
    hist_rows = [[name] + [f"{100 * p:.0f}" for p in v["class_histogram"]] for name, v in r["runs"].items()]
    headers = [
        "run", "arch, loss", "epochs", "FID", "FID floor", "FID / floor", "KID", "precision", "recall",
        "class entropy (bits)", "conditional accuracy", "train s",
    ]  # fmt: skip
    return [
        table_block(headers, rows),
        ("p", "Share (%) of generated images the domain CNN assigns to each class:"),
        table_block(["run"] + [str(c) for c in range(10)], hist_rows),
        *render_inception(r["runs"]),
    ]


def render_inception(runs: dict) -> list[Block]:
    """The standard Inception FID beside Lucic et al. 2018's best, when the preset measured it."""
    measured = {name: v for name, v in runs.items() if v.get("inception_fid") is not None}
    if not measured:
        return []
    rows = [
        [name, v["inception_fid"], v.get("inception_n"), v.get("inception_fid_floor"), v.get("inception_fid_published")]
        for name, v in measured.items()
    ]
    notes = sorted({v["inception_note"] for v in measured.values() if v.get("inception_note")})
    return [
        (
            "p",
            "Standard Inception FID (InceptionV3 pool3, generated vs test images) beside the best published for "
            "the data set (Lucic et al. 2018, non-saturating GAN, 10,000 vs 10,000 images)."
            + "".join(f" {n}" for n in notes),
        ),
        table_block(["run", "Inception FID", "images", "floor (train vs test)", "Lucic et al. 2018 best"], rows),
    ]


GAN = Section(
    name="gan",
    title="GAN and conditional GAN",
    run=run,
    render=render,
    result=GANResult,
    timing_keys=frozenset({"train_seconds"}),
    cost=8.0,
)
