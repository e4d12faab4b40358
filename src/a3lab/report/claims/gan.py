"""Problem 4, GAN vs conditional GAN: claim 9, read off the domain CNN's view of the generated images."""

from __future__ import annotations

import math

from a3lab.blocks import pct
from a3lab.catalog import NUM_CLASSES
from a3lab.report.claims.verdicts import Claim, Judgement, combine

CONDITIONAL_ACCURACY = 0.8
"""claim 9: the share of the conditional GAN's images the domain CNN must call the asked class"""
ENTROPY_FRACTION = 0.8
"""claim 9: the share of the uniform entropy the plain GAN's class histogram must reach (its class is random)"""
UNIFORM_BITS = math.log2(NUM_CLASSES)


def _gan_runs_finished(r: dict) -> list[str]:
    return [
        f"{name} trained {v['epochs']} of its {v['epochs_planned']} planned epochs"
        for name, v in r["gan"]["runs"].items()
        if v.get("epochs_planned") is not None and v["epochs"] < v["epochs_planned"]
    ]


def _judge_cgan(r: dict) -> Judgement:
    runs = r["gan"]["runs"]
    evidence, outcomes = [], []
    for ds in sorted({v["dataset"] for v in runs.values()}):
        cgan = next(v for v in runs.values() if v["dataset"] == ds and v["conditional"])
        gan = next(v for v in runs.values() if v["dataset"] == ds and not v["conditional"])
        evidence.append(
            f"{ds}: conditional GAN makes the asked class {pct(cgan['conditional_accuracy'])} of the time; "
            f"plain GAN's classes have entropy {gan['class_entropy_bits']:.2f} bits (uniform: {UNIFORM_BITS:.2f})"
        )
        outcomes.append(
            cgan["conditional_accuracy"] >= CONDITIONAL_ACCURACY
            and gan["class_entropy_bits"] >= ENTROPY_FRACTION * UNIFORM_BITS
        )
    return combine(outcomes), evidence


CGAN_CLASSES = Claim(
    9,
    "The conditional GAN generates the class it is asked for; the plain GAN's class is random.",
    ("gan",),
    f"supported if, on each data set, the domain CNN calls >= {100 * CONDITIONAL_ACCURACY:.0f}% of the conditional "
    f"GAN's images the asked class and the plain GAN's class histogram has >= {100 * ENTROPY_FRACTION:.0f}% of the "
    f"uniform entropy (log2 {NUM_CLASSES} bits); refuted if this holds on no data set; nuanced otherwise.",
    _judge_cgan,
    requires="every GAN run trained all its planned epochs",
    precondition=_gan_runs_finished,
)

CLAIMS = (CGAN_CLASSES,)
