"""a3lab.gan.section: the report's GAN section: metadata, cache key, and how a result of its type renders."""

from __future__ import annotations

import subprocess
import sys

from a3lab.gan.section import GAN, GANResult, GANRunResult
from a3lab.section import import_closure
from test_report_fixtures import make, mismatches


def a_result(**run) -> dict:
    runs = {
        name: make(GANRunResult, arch="mlp", loss="bce", fid=4.0, fid_floor=2.0, class_entropy_bits=3.3,
                   class_histogram=[0.1] * 10, conditional_accuracy=0.5 if "cgan" in name else None, **run)
        for name in ("mnist-gan", "mnist-cgan")
    }  # fmt: skip
    return make(GANResult, runs=runs, images=["mnist-cgan-grid.png"])


def test_a_made_result_has_the_declared_type() -> None:
    assert mismatches(a_result(), GANResult) == []
    broken = a_result()
    broken["runs"]["mnist-gan"].pop("fid")
    assert mismatches(broken, GANResult) == ["result.runs.mnist-gan: missing 'fid'"]


def test_render_shows_each_run_and_its_class_histogram() -> None:
    metrics, note, histogram = GAN.render(a_result())
    assert metrics[0] == "table" and [row[0] for row in metrics[2]] == ["mnist-gan", "mnist-cgan"]
    row = dict(zip(metrics[1], metrics[2][1]))
    assert (row["arch, loss"], row["FID / floor"], row["conditional accuracy"]) == ("mlp, bce", "2.0x", "50.00%")
    assert dict(zip(metrics[1], metrics[2][0]))["conditional accuracy"] == "-"
    assert note[0] == "p" and histogram[2][0] == ["mnist-gan"] + ["10"] * 10


def test_the_inception_fid_is_shown_beside_the_published_best_only_where_measured() -> None:
    assert len(GAN.render(a_result())) == 3
    measured = a_result(inception_fid=30.0, inception_n=2000, inception_fid_floor=1.5, inception_fid_published=6.8,
                        inception_note="2000 generated vs 2000 test images.")  # fmt: skip
    blocks = GAN.render(measured)
    assert len(blocks) == 5 and "Lucic et al. 2018" in blocks[3][1] and "2000 generated" in blocks[3][1]
    assert blocks[4][2][0] == ["mnist-gan", "30", "2000", "1.5", "6.8"]


def test_section_metadata_and_cache_key() -> None:
    assert (GAN.name, GAN.title, GAN.cost, GAN.timing_keys) == (
        "gan",
        "GAN and conditional GAN",
        8.0,
        {"train_seconds"},
    )
    closure = set(import_closure(GAN.run))
    assert {"a3lab.gan.reproduce", "a3lab.gan.trainer", "a3lab.gan.checkpoint", "a3lab.gan.evaluate"} <= closure
    assert "a3lab.gan.section" not in closure  # how a result is shown does not rerun it
    assert len(GAN.digest()) == 16


def test_the_section_and_the_configs_import_no_torch() -> None:
    code = "import sys, a3lab.gan.section, a3lab.gan.config, a3lab.gan.folder; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
