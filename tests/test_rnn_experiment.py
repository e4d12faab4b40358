"""a3lab.rnn.experiment: the report's exactness checks and learning run."""

import pytest

from a3lab.errors import UserError
from a3lab.rnn import experiment
from a3lab.rnn.experiment import exactness_checks, section_experiment


def test_exactness_checks_find_no_mismatch_and_the_write_ups_patterns() -> None:
    r = exactness_checks(seed=0, sequences_per_length=5, max_length=6)
    assert r["mismatches"] == 0 and r["checked_sequences"] == 5 * 7 and r["max_length"] == 6
    assert r["coefficients_T8"] == [-1, 1] * 4 and r["coefficients_T7"][-1] == 1
    assert r["consecutive_all_match"] and all(c["h_T"] == c["T/2+h0"] for c in r["consecutive"])
    assert r["rule_agreement"] == 1.0 and 0 < r["rule_ties"] < r["rule_sequences"]


def test_section_experiment_refuses_an_unknown_preset(tmp_path) -> None:
    with pytest.raises(UserError, match="`preset` must be one of quick, full"):
        section_experiment("nonsense", tmp_path)


def test_section_experiment_restores_the_callers_threads(tmp_path, monkeypatch) -> None:
    import torch

    monkeypatch.setitem(experiment.PRESETS, "quick", {"steps": 3, "batch_size": 4, "eval_size": 4})
    monkeypatch.setattr(experiment, "exactness_checks", lambda seed: {"seed": seed})
    torch.set_num_threads(2)
    r = section_experiment("quick", tmp_path / "out", seed=5)
    assert torch.get_num_threads() == 2
    assert r["exact"] == {"seed": 5} and r["learn"]["config"]["seed"] == 5
    assert r["budget"] == {
        "work": "3 Adam steps of 4 sequences",
        "unit": "steps",
        "planned": 3,
        "done": 3,
        "images": None,
        "stopped": None,
    }
    assert (tmp_path / "out" / "rnn_learning.png").stat().st_size > 0
