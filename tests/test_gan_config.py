"""a3lab.gan.config: bounds named by field, the data set's best configuration, presets, no torch."""

from __future__ import annotations

import json

import pytest

from a3lab.data import DATASETS
from a3lab.errors import UserError
from a3lab.gan import (
    GANConfig,
)
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.config import (
    BEST_BY_DATASET,
    BEST_FIELDS,
    STANDARD_INCEPTION_N,
    EvalConfig,
    Preset,
    SampleConfig,
    get_preset,
)
from test_gan_fixtures import SMALL


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(arch="resnet"), "`arch`"),
        (dict(loss="wgan"), "`loss`"),
        (dict(dataset="cifar"), "`dataset`"),
        (dict(batch_size=1), "`batch_size`"),
        (dict(epochs=0), "`epochs`"),
        (dict(lr=0.0), "`lr`"),
        (dict(discriminator_lr=-1.0), "`discriminator_lr`"),
        (dict(lr_decay=1.5), "`lr_decay`"),
        (dict(ema_decay=1.0), "`ema_decay`"),
        (dict(betas=(0.5, 1.0)), "`beta"),
        (dict(batch_size=64, train_examples=10), "`train_examples`"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(overrides, message):
    with pytest.raises(UserError, match=message):
        GANConfig(**overrides)


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("conditional", [True, False])
def test_unset_fields_take_the_data_sets_best_configuration(dataset, conditional):
    config = GANConfig(dataset=dataset, conditional=conditional)
    best = BEST_BY_DATASET[dataset]
    assert (config.arch, config.loss) == (best["arch"], best["loss"])
    assert config.projection is (best["projection"] and conditional)  # a plain GAN has no labels to project
    assert GANConfig(dataset=dataset, arch="dcgan", loss="bce", projection=False).to_dict() == {
        **config.to_dict(), "arch": "dcgan", "loss": "bce", "projection": False, "conditional": True,
    }  # fmt: skip
    assert set(BEST_BY_DATASET) == set(DATASETS) and set(best) == set(BEST_FIELDS)


def test_projection_is_ignored_for_the_plain_gan():
    assert GANConfig(conditional=False, projection=True).projection is False
    assert GANConfig(conditional=True, projection=True).projection is True


def test_config_round_trips_through_json():
    config = GANConfig(arch="mlp", conditional=False, loss="hinge", betas=(0.0, 0.9), train_examples=500)
    again = GANConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ValueError, match="unknown GANConfig keys: colour"):
        GANConfig.from_dict({**config.to_dict(), "colour": 1})


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"n": 0}, "`n`"), ({"k": 0}, "`k`"), ({"real_n": 1}, "`real_n`"), ({"kid_subset_size": 1}, "`kid_subset_size`")],
)
def test_eval_config_errors_name_the_flag(kwargs, flag):
    with pytest.raises(ValueError, match=flag):
        EvalConfig(**kwargs)


def test_presets_are_the_documented_ones():
    assert set(gan_reproduce.PRESETS) == {"quick", "full"}
    assert gan_reproduce.PRESETS["full"].train_examples is None and gan_reproduce.PRESETS["full"].eval.n == 10_000
    with pytest.raises(ValueError, match="`preset`"):
        gan_reproduce.get_preset("huge")
    with pytest.raises(ValueError, match="`arch`"):
        Preset(name="x", arch="resnet", epochs=1, batch_size=64, train_examples=None, eval=SMALL)
    with pytest.raises(ValueError, match="`max_minutes`"):
        Preset(name="x", arch="mlp", epochs=1, batch_size=64, train_examples=None, eval=SMALL, max_minutes=0)
    base = dict(name="x", arch="mlp", epochs=1, batch_size=64, train_examples=None, eval=SMALL)
    with pytest.raises(ValueError, match="`arch`"):
        Preset(**base, by_dataset={"mnist": {"arch": "resnet"}})
    with pytest.raises(ValueError, match="`loss`"):
        Preset(**base, by_dataset={"fashion-mnist": {"loss": "wasserstein"}})
    with pytest.raises(ValueError, match="unknown data sets in the preset: cifar10"):
        Preset(**base, by_dataset={"cifar10": {"arch": "mlp"}})
    # Per data set settings win over the preset's own; `without` drops one of them from every data set.
    p = Preset(**base, loss="hinge", gan_options={"projection": True}, by_dataset={"mnist": {"arch": "dcgan"}})
    assert p.options_for("mnist") == {"arch": "dcgan", "loss": "hinge", "projection": True}
    assert p.options_for("fashion-mnist") == {"arch": "mlp", "loss": "hinge", "projection": True}
    assert p.without("arch").by_dataset == {} and p.without("loss").by_dataset == {"mnist": {"arch": "dcgan"}}


def test_preset_changes_apply_to_all_four_runs_and_name_themselves():
    full = get_preset("full")
    assert full.changed({}) is full
    p = full.changed({"arch": "mlp", "epochs": 3}, inception_n=500)
    assert p.name == "full, arch mlp, epochs 3, inception-n 500" and p.by_dataset == {}
    assert {p.config_for(d, True).arch for d in DATASETS} == {"mlp"} and p.config_for(
        "fashion-mnist", False
    ).epochs == 3
    assert (p.eval.inception, p.eval.inception_n, full.eval.inception_n) == (True, 500, STANDARD_INCEPTION_N)
    with pytest.raises(UserError, match="`max_minutes` must be > 0"):
        full.changed({"max_minutes": -1.0})


def test_betas_take_two_numbers_in_0_1_and_json_lists():
    assert GANConfig(betas=[0, 0.9]).betas == (0.0, 0.9)
    with pytest.raises(UserError, match="`betas` must be two numbers"):
        GANConfig(betas=(0.5,))


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"n": 0}, "`n`"), ({"batch_size": 0}, "`batch_size`"), ({"seed": -1}, "`seed`")]
)
def test_sample_config_errors_name_the_flag(kwargs, field):
    assert SampleConfig() == SampleConfig(n=1000, label=None, raw=False, batch_size=500, seed=0)
    with pytest.raises(UserError, match=field):
        SampleConfig(**kwargs)
