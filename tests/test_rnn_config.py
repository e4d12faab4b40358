"""a3lab.rnn.config: the cell's and the learning run's configs, their bounds, and no torch at import."""

import math
import subprocess
import sys

import pytest

from a3lab.config import MAX_SEED
from a3lab.errors import UserError
from a3lab.rnn.config import AlternatingRNNConfig, LearnConfig


def test_learn_config_validation() -> None:
    with pytest.raises(UserError, match="`min_length` <= `max_length`"):
        LearnConfig(min_length=5, max_length=3)
    LearnConfig(min_length=3, max_length=3)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 2**20 + 1}, "batch_size"),
        ({"max_length": 1, "min_length": 1}, "max_length"),
        ({"min_length": 0}, "min_length"),
        ({"max_value": 0}, "max_value"),
        ({"lr": 0.0}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"eval_lengths": (50, 0)}, "eval_lengths"),
        ({"eval_size": 0}, "eval_size"),
        ({"seed": -1}, "seed"),
    ],
)
def test_learn_config_refuses_out_of_bounds_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(UserError, match=f"`{field}`"):
        LearnConfig(**changes)


def test_learn_config_takes_json_lists_and_the_largest_seed() -> None:
    c = LearnConfig(eval_lengths=[5, 7], seed=MAX_SEED)
    assert c.eval_lengths == (5, 7)
    with pytest.raises(UserError, match="`seed`"):
        LearnConfig(seed=MAX_SEED + 1)


@pytest.mark.parametrize("changes", [{"gain": 0.0}, {"gain": -1.0}, {"w_h": math.inf}, {"b": math.nan}])
def test_cell_config_refuses_non_finite_weights_and_non_positive_gain(changes: dict) -> None:
    with pytest.raises(UserError, match=f"`{next(iter(changes))}`"):
        AlternatingRNNConfig(**changes)


def test_config_module_and_package_import_no_torch() -> None:
    code = "import sys, a3lab.rnn.config, a3lab.rnn.section; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_package_exports_its_public_names() -> None:
    import a3lab.rnn

    for name in a3lab.rnn.__all__:
        assert getattr(a3lab.rnn, name) is not None
    with pytest.raises(AttributeError, match="nothere"):
        a3lab.rnn.nothere  # noqa: B018
