"""a3lab.rnn.section: the report's section: its run gives a result of the declared type, which renders."""

import json
import types
import typing
from pathlib import Path

import pytest

from a3lab.rnn import experiment
from a3lab.rnn.section import RNN, RNNResult
from a3lab.section import import_closure


def conforms(value, tp) -> bool:
    """Whether JSON-like `value` has exactly the shape of the type `tp` (TypedDicts, lists, dicts, scalars)."""
    if typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        return (
            isinstance(value, dict)
            and set(value) == set(hints)
            and all(conforms(value[k], t) for k, t in hints.items())
        )
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and all(conforms(v, args[0]) for v in value)
    if origin is dict or tp is dict:
        return isinstance(value, dict) and (not args or all(conforms(v, args[1]) for v in value.values()))
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, a) for a in args)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is type(None):
        return value is None
    return isinstance(value, tp)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("rnn")
    with pytest.MonkeyPatch.context() as mp:
        tiny = {"steps": 3, "batch_size": 4, "eval_lengths": (5, 9), "eval_size": 4}
        mp.setitem(experiment.PRESETS, "quick", tiny)
        return RNN.run("quick", out, device="cpu", seed=0), out


def test_the_result_has_exactly_the_declared_type_and_is_json(run_dir) -> None:
    r, out = run_dir
    assert conforms(r, RNNResult)
    assert json.loads(json.dumps(r)) == r
    assert all((out / name).is_file() for name in r["images"])
    broken = json.loads(json.dumps(r))
    broken["learn"]["history"][0].pop("loss")
    assert not conforms(broken, RNNResult)  # the check can fail


def test_render_shows_the_weights_and_accuracy_per_test_length(run_dir) -> None:
    r, _ = run_dir
    blocks = RNN.render(r)
    weights, acc, took = blocks
    assert weights[0] == "table" and [row[0] for row in weights[2]] == ["w_x", "w_h", "b"]
    assert weights[2][1][2] == f"{r['learn']['learned']['w_h']:+.6f}"
    assert acc[1] == ["test length (trained on 2..20)", "accuracy"] and [row[0] for row in acc[2]] == ["5", "9"]
    assert took == ("p", f"Training took {r['learn']['seconds']:.1f} s.")


def test_section_metadata_and_cache_key() -> None:
    assert (RNN.name, RNN.title, RNN.cost) == ("rnn", "The hand-wired RNN", 1.0)
    assert RNN.timing_keys == {"seconds"}
    closure = import_closure(RNN.run)
    assert {"a3lab.rnn.experiment", "a3lab.rnn.learning", "a3lab.rnn.model", "a3lab.rnn.closed_form"} <= set(closure)
    assert "a3lab.rnn.section" not in closure  # how a result is shown does not rerun it
    assert len(RNN.digest()) == 16
