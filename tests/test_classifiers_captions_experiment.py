"""The captions experiment (a3lab.classifiers.captions.experiment), its run folder, its section; `classify captions`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from a3lab.classifiers import captions
from a3lab.classifiers.captions.config import MODELS, CaptionModelConfig
from a3lab.classifiers.captions.data import caption, make_strips
from a3lab.cli import main
from conftest import make_images

SMALL = CaptionModelConfig(channels=(8, 8, 16), feature_dim=16, hidden_dim=24, beam_size=2)


@pytest.fixture
def items() -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = make_images(60, seed=0)
    return torch.from_numpy(images), torch.from_numpy(labels).long()


TINY = {"steps": 4, "pretrain_steps": 2, "batch_size": 4, "train_per_length": 8, "test_per_length": 3, "model": SMALL}


@pytest.fixture
def tiny_run(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setitem(captions.PRESETS, "quick", TINY)
    out = tmp_path / "run"
    assert main(["classify", "captions", "train", "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_train_leaves_a_run_folder(tiny_run, capsys):
    run = json.loads((tiny_run / "run.json").read_text())
    results = json.loads((tiny_run / "results.json").read_text())
    assert run["model"] in MODELS and run["dataset"] == "mnist"
    assert set(results["models"]) == set(MODELS) | {"show_tell_greedy"}
    for r in results["models"].values():
        assert set(r["by_length"]) == {str(n) for n in range(1, 9)}
    assert (tiny_run / "examples.png").is_file()
    assert set(run["models"]) == set(MODELS)  # every trained model is kept, with its accuracy per length
    for kind, entry in run["models"].items():
        assert (tiny_run / entry["weights"]).is_file() and entry["weights"] == f"models/{kind}.pt"
        assert entry["exact_by_length"] == {n: r["exact"] for n, r in results["models"][kind]["by_length"].items()}
    # a non-empty folder is refused without --force, kept as it was
    before = (tiny_run / "run.json").read_text()
    assert main(["classify", "captions", "train", "--out", str(tiny_run), "--device", "cpu"]) == 2
    assert "--force" in capsys.readouterr().err and (tiny_run / "run.json").read_text() == before


def test_predict_round_trip(tiny_run, tmp_path, capsys):
    images, labels = make_images(10, seed=5)
    strips, _ = make_strips(torch.from_numpy(images), torch.from_numpy(labels).long(), 3, 5, seed=0)
    path = tmp_path / "strips.npz"
    np.savez(path, images=strips.numpy())
    capsys.readouterr()
    anyway = ["--min-accuracy", "0"]  # a few steps of training read nothing well
    assert main(["classify", "captions", "predict", str(tiny_run), "--images", str(path), *anyway]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    words = set(caption(range(10), "mnist").split())
    assert len(lines) == 3 and all(set(line.split()) <= words for line in lines)
    assert "captioned with" in captured.err and "strips of 5 items" in captured.err
    assert main(["classify", "captions", "predict", str(tiny_run), "--images", str(path), "--json", *anyway]) == 0
    assert json.loads(capsys.readouterr().out) == lines


def test_predict_bad_inputs_exit_2(tiny_run, tmp_path, capsys):
    np.savez(tmp_path / "other.npz", pixels=np.zeros((1, 28, 28), dtype=np.uint8))
    np.savez(tmp_path / "good.npz", images=np.zeros((1, 28, 28), dtype=np.uint8))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    cases = [
        [str(tiny_run), "--images", str(tmp_path / "missing.npz")],
        [str(tiny_run), "--images", str(tmp_path / "other.npz")],
        [str(tiny_run), "--images", str(tmp_path / "junk.npz")],
        [str(tmp_path), "--images", str(tmp_path / "good.npz")],  # not a run folder
    ]
    for args in cases:
        assert main(["classify", "captions", "predict", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("a3lab: error:")


def test_report_section_feeds_claim_11(tiny_data, tmp_path, monkeypatch):
    from a3lab import report
    from a3lab.classifiers.captions.section import CAPTIONS
    from a3lab.report import claims

    monkeypatch.setitem(captions.PRESETS, "quick", TINY)
    result = captions.section_experiment("quick", tmp_path / "captions", device="cpu")
    json.dumps(result)
    assert result["budget"]["done"] == result["budget"]["planned"] == 2 * 2 + 2 * 4 * 4
    assert all((tmp_path / "captions" / name).is_file() for name in result["images"])
    claim = next(c for c in report.CLAIMS if c.number == 11)
    verdict = claims.judge(claim, {"captions": {"status": "ok", "result": result}})
    assert verdict.verdict == "inconclusive" and "exact captions on 1..4 items" in verdict.why
    assert any(line.startswith("fashion-mnist, 5..8 items (unseen)") for line in verdict.evidence)
    assert sum(b[0] == "table" for b in CAPTIONS.render(result)) == 2
