"""a3lab.classifiers.captions.folder: every model kept, the one that reads the input's length best chosen, lengths
no model reads refused; damaged or foreign files named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from a3lab.classifiers.captions.config import CaptionModelConfig
from a3lab.classifiers.captions.folder import caption_file, choose_model, load_model, read_run
from a3lab.classifiers.captions.models import build_caption_model
from a3lab.cli import main
from a3lab.errors import CheckpointError, UserError

SMALL = CaptionModelConfig(channels=(4, 4, 8), feature_dim=8, hidden_dim=8, beam_size=1)
# The quick preset's shape: per_position is best on the trained lengths 1..4 and reads nothing longer, while the
# CRNN reads 6 items well.
QUICK = {
    "per_position": {1: 0.99, 2: 0.97, 3: 0.95, 4: 0.93, 5: 0.0, 6: 0.0, 7: 0.0, 8: 0.0},
    "crnn": {1: 0.95, 2: 0.93, 3: 0.92, 4: 0.90, 5: 0.90, 6: 0.89, 7: 0.40, 8: 0.20},
}


def write_run(folder: Path, exact: dict[str, dict[int, float]] = QUICK, best: str = "per_position") -> Path:
    """A run folder as `save_run` leaves it, with untrained tiny models and the given accuracies."""
    models = {}
    for kind, by_length in exact.items():
        (folder / "models").mkdir(parents=True, exist_ok=True)
        torch.save(build_caption_model(kind, SMALL).state_dict(), folder / "models" / f"{kind}.pt")
        models[kind] = {"weights": f"models/{kind}.pt", "exact_by_length": {str(n): v for n, v in by_length.items()}}
    run = {"format": 2, "dataset": "mnist", "model": best, "model_config": vars(SMALL) | {"channels": [4, 4, 8]}}
    (folder / "run.json").write_text(json.dumps({**run, "models": models}))
    return folder


def strips_file(path: Path, length: int, n: int = 2) -> str:
    np.savez(path, images=np.zeros((n, 28, 28 * length), dtype=np.uint8))
    return str(path)


def test_the_model_that_reads_the_length_best_is_chosen() -> None:
    run = {"models": {k: {"exact_by_length": v} for k, v in QUICK.items()}}
    assert choose_model(run, 2) == ("per_position", 0.97)
    assert choose_model(run, 6) == ("crnn", 0.89)


def test_a_length_no_model_reads_is_refused_naming_the_limit() -> None:
    run = {"models": {k: {"exact_by_length": v} for k, v in QUICK.items()}}
    with pytest.raises(UserError, match=r"strips of 8 items .*best: crnn at 20%.* at most 6 items"):
        choose_model(run, 8)
    assert choose_model(run, 8, min_accuracy=0.1) == ("crnn", 0.2)
    nothing = {"models": {"ctc": {"exact_by_length": {n: 0.0 for n in range(1, 9)}}}}
    with pytest.raises(UserError, match="nor of any length"):
        choose_model(nothing, 3)


def test_caption_file_uses_the_crnn_on_six_items(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run")
    done = caption_file(folder, strips_file(tmp_path / "six.npz", 6))
    assert done["model"] == "crnn" and done["length"] == 6 and len(done["captions"]) == 2
    assert caption_file(folder, strips_file(tmp_path / "two.npz", 2))["model"] == "per_position"


def test_predict_refuses_longer_strips_than_any_model_reads(tmp_path: Path, capsys) -> None:
    folder = write_run(tmp_path / "run")
    code = main(["classify", "captions", "predict", str(folder), "--images", strips_file(tmp_path / "s.npz", 8)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "at most 6 items" in err[0] and "--min-accuracy" in err[0], err


def test_a_folder_that_kept_only_its_best_model_is_read_with_its_accuracies(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    torch.save(build_caption_model("crnn", SMALL).state_dict(), folder / "model.pt")
    run = {"format": 1, "dataset": "mnist", "model": "crnn", "model_config": vars(SMALL)}
    (folder / "run.json").write_text(json.dumps(run))
    by_length = {str(n): {"exact": v, "wer": 0.0} for n, v in QUICK["crnn"].items()}
    (folder / "results.json").write_text(json.dumps({"models": {"crnn": {"by_length": by_length}}}))
    assert read_run(folder)["models"]["crnn"]["exact_by_length"][6] == 0.89
    assert caption_file(folder, strips_file(tmp_path / "six.npz", 6))["model"] == "crnn"


@pytest.mark.parametrize(
    "weights,words",
    [
        (lambda p: torch.save(build_caption_model("ctc", SMALL).state_dict(), p), "weights of another model"),
        (lambda p: torch.save({"encoder.weight": torch.zeros(2)}, p), "weights of another model"),
        (lambda p: p.write_text("not weights\n"), "not a weights file of a3lab"),
        (lambda p: torch.save([1, 2], p), "does not hold a model's weights"),
    ],
    ids=["another model", "foreign keys", "text", "a list"],
)
def test_foreign_or_damaged_weights_are_one_line(tmp_path: Path, capsys, weights, words: str) -> None:
    folder = write_run(tmp_path / "run", {"crnn": QUICK["crnn"]}, best="crnn")
    weights(folder / "models" / "crnn.pt")
    with pytest.raises(CheckpointError, match=words):
        load_model(folder, read_run(folder), "crnn", torch.device("cpu"))
    code = main(["classify", "captions", "predict", str(folder), "--images", strips_file(tmp_path / "s.npz", 2)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and words in err[0] and "crnn.pt" in err[0], err


def test_a_damaged_run_json_is_one_line(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run")
    (folder / "run.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"run\.json: damaged"):
        read_run(folder)
