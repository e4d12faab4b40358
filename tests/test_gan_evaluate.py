"""GAN evaluation: the real floor and its cache, metrics of known sample sets, run folders, the CLI, reproduce."""

from __future__ import annotations

import argparse
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from a3lab import cli
from a3lab.data import load_images
from a3lab.gan import evaluate as gan_evaluate
from a3lab.gan import reproduce as gan_reproduce
from a3lab.gan.config import STANDARD_INCEPTION_N, EvalConfig, Preset
from a3lab.gan.folder import RUN_NAMES
from test_gan_metrics import BarClassifier

SMALL = EvalConfig(n=100, real_n=60, batch_size=32, kid_subsets=5, kid_subset_size=30)


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> BarClassifier:
    """The known classifier stands in for the domain CNN wherever gan_eval would load it."""
    clf = BarClassifier()
    for module in (gan_evaluate, gan_reproduce):
        monkeypatch.setattr(module, "load_classifier", lambda dataset, root=None, device="cpu": clf)
    return clf


TINY = Preset(
    name="tiny",
    arch="dcgan",
    loss="bce",
    epochs=1,
    batch_size=32,
    train_examples=32,
    eval=EvalConfig(n=40, real_n=40, batch_size=40, kid_subsets=2, kid_subset_size=20),
    gan_options={"channels": 8},
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`report_experiment("quick")` once per module, with the quick preset shrunk to one step of a narrow DCGAN
    on the tiny data and the known classifier as judge; its four run folders serve the other tests."""
    from conftest import write_tiny_dataset

    base = tmp_path_factory.mktemp("gan-eval")
    for name in ("mnist", "fashion-mnist"):
        write_tiny_dataset(base / "data", name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("A3LAB_DATA", str(base / "data"))
        mp.setitem(gan_reproduce.PRESETS, "quick", TINY)
        mp.setattr(gan_evaluate, "default_eval_cache", lambda: base / "cache")
        for module in (gan_evaluate, gan_reproduce):
            mp.setattr(module, "load_classifier", lambda dataset, root=None, device="cpu": BarClassifier())
        result = gan_reproduce.report_experiment("quick", base / "report")
    return result, base / "report"


@pytest.fixture
def tiny_run(report, tiny_data: Path, tmp_path: Path):
    """A copy of one of the report's trained run folders (mnist-cgan or mnist-gan)."""

    def copy(conditional: bool = True) -> Path:
        name = "mnist-cgan" if conditional else "mnist-gan"
        return Path(shutil.copytree(report[1] / name, tmp_path / name))

    return copy


# ----------------------------------------------------------------------------- config


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


# ----------------------------------------------------------------------------- the real floor


def test_fingerprint_covers_scalar_buffers_and_values():
    bn = torch.nn.BatchNorm1d(3)  # holds a 0-d int64 num_batches_tracked
    assert gan_evaluate.classifier_fingerprint(bn) == gan_evaluate.classifier_fingerprint(torch.nn.BatchNorm1d(3))
    assert gan_evaluate.fingerprint(torch.tensor(1.5)) != gan_evaluate.fingerprint(torch.tensor(2.5))
    assert gan_evaluate.fingerprint(torch.zeros(2)) != gan_evaluate.fingerprint(torch.zeros(2, 1))
    assert gan_evaluate.fingerprint(torch.empty(0)) == gan_evaluate.fingerprint(torch.empty(0))


def test_real_reference_is_cached_per_classifier(tiny_root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    clf = BarClassifier()
    first = gan_evaluate.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)
    again = gan_evaluate.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)
    assert not first["cached"] and again["cached"]
    assert again["floor"] == first["floor"] and torch.equal(again["features"], first["features"])
    assert first["features"].shape == (60, 28)
    assert first["floor"]["classifier_test_accuracy"] == 1.0
    assert 0 <= first["floor"]["fid"] < 1.0  # train and test images of one distribution
    # Other weights are another judge: a new cache file, not the stale numbers.
    with torch.no_grad():
        clf.head.weight.mul_(2.0)
    assert not gan_evaluate.real_reference("mnist", clf, SMALL, root=tiny_root, cache_dir=cache)["cached"]
    assert len(list(cache.glob("mnist-*.pt"))) == 2


def test_a_damaged_cache_file_is_recomputed(tiny_root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    first = gan_evaluate.real_reference("mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=cache)
    (path,) = cache.glob("mnist-*.pt")
    path.write_bytes(b"not a checkpoint")
    again = gan_evaluate.real_reference("mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=cache)
    assert not again["cached"] and again["floor"] == first["floor"]


# ----------------------------------------------------------------------------- metrics of known sample sets


def test_real_images_asked_for_their_own_classes_score_like_the_floor(tiny_root: Path, tmp_path: Path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    result = gan_evaluate.evaluate_samples(
        images, labels, "mnist", BarClassifier(), SMALL, root=tiny_root, cache_dir=tmp_path
    )
    assert result["conditional_accuracy"] == 1.0 and result["per_class_accuracy"] == [1.0] * 10
    assert result["class_entropy_bits"] == pytest.approx(math.log2(10))
    assert result["fid"] < 1.0 and result["precision"] > 0.75 and result["recall"] > 0.75
    assert result["n_generated"] == 200 and result["n_real"] == 60
    json.dumps(result)  # JSON-ready


def test_a_collapsed_generator_scores_worse_on_every_metric(tiny_root: Path, tmp_path: Path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    good = gan_evaluate.evaluate_samples(images, None, "mnist", BarClassifier(), SMALL, tiny_root, tmp_path)
    sevens = images[labels == 7].repeat(10, 1, 1)  # every image a 7
    asked = torch.arange(len(sevens)) % 10  # ... whatever class was asked for
    bad = gan_evaluate.evaluate_samples(sevens, asked, "mnist", BarClassifier(), SMALL, tiny_root, tmp_path)
    assert good["conditional_accuracy"] is None and good["per_class_accuracy"] is None
    assert bad["fid"] > 10 * good["fid"] and bad["kid"] > good["kid"]
    assert bad["recall"] < 0.3 < good["recall"]
    assert bad["class_entropy_bits"] == 0.0 and bad["class_histogram"][7] == 1.0
    assert bad["conditional_accuracy"] == pytest.approx(0.1)
    assert bad["per_class_accuracy"][7] == 1.0 and bad["per_class_accuracy"][3] == 0.0


def test_tanh_scaled_samples_are_refused(tiny_root: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="uint8"):
        gan_evaluate.evaluate_samples(torch.rand(10, 28, 28) * 2 - 1, None, "mnist", BarClassifier(), SMALL, tiny_root)


# ----------------------------------------------------------------------------- run folders


def test_evaluate_run_writes_eval_json(tiny_run, judge, tmp_path: Path):
    run = tiny_run(conditional=True)
    result = gan_evaluate.evaluate_run(run, SMALL, cache_dir=tmp_path / "cache")
    saved = json.loads((run / "eval.json").read_text())
    assert saved["fid"] == result["fid"] and saved["dataset"] == "mnist" and saved["conditional"] is True
    assert len(saved["per_class_accuracy"]) == 10 and 0.0 <= saved["conditional_accuracy"] <= 1.0
    assert math.isclose(sum(saved["class_histogram"]), 1.0)
    assert saved["n_generated"] == 100 and saved["arch"] == "dcgan" and saved["epochs_trained"] == 1.0
    table = gan_evaluate.format_table(result)
    assert "FID" in table and "conditional accuracy" in table


def test_evaluate_run_of_a_plain_gan_has_no_conditional_accuracy(tiny_run, judge, tmp_path: Path):
    result = gan_evaluate.evaluate_run(tiny_run(conditional=False), SMALL, cache_dir=tmp_path / "cache")
    assert result["conditional_accuracy"] is None and result["per_class_accuracy"] is None
    assert "conditional accuracy" not in gan_evaluate.format_table(result)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch):
    """`a3lab.cli.main` with `gan eval|reproduce` registered (through the gan area when it registers them)."""
    from a3lab.commands import gan as commands

    def build_parser() -> argparse.ArgumentParser:
        parser = real_build_parser()
        try:
            parser.parse_args(["gan", "eval", "x", "--n", "5"])
            return parser
        except SystemExit:  # the gan area does not add our actions (yet): a parser with only them
            parser = cli.ArgumentParser(prog="a3lab")
            areas = parser.add_subparsers(dest="area", required=True)
            actions = areas.add_parser("gan").add_subparsers(dest="action", required=True)
            commands.register(actions)
            return parser

    real_build_parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", build_parser)
    return cli.main


def test_cli_eval_prints_a_table_and_writes_json(tiny_run, judge, run_cli, tmp_path: Path, capsys):
    run = tiny_run(conditional=True)
    argv = ["gan", "eval", str(run), "--n", "60", "--real-n", "40", "--kid-subset-size", "20"]
    assert run_cli([*argv, "--kid-subsets", "3", "--cache-dir", str(tmp_path / "c"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "FID" in out and "real floor" in out and "eval.json" in out
    assert json.loads((run / "eval.json").read_text())["n_generated"] == 60
    assert run_cli([*argv, "--kid-subsets", "3", "--cache-dir", str(tmp_path / "c"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_real"] == 40


def test_cli_eval_errors_are_one_line_and_exit_2(run_cli, tmp_path: Path, capsys):
    assert run_cli(["gan", "eval", str(tmp_path / "missing")]) == 2
    assert "no run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_cli(["gan", "eval", str(tmp_path / "empty")]) == 2
    assert "checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        run_cli(["gan", "eval", str(tmp_path), "--n", "0"])
    assert e.value.code == 2


def test_cli_reproduce_overrides_the_preset_and_names_them(run_cli, monkeypatch: pytest.MonkeyPatch, capsys):
    from a3lab.commands import gan as commands

    seen = {}

    def fake_reproduce(preset, out, **kwargs):
        seen["preset"], seen["runs"] = preset, kwargs["runs"]
        return {"preset": preset.name, "seed": 0, "runs": {}, "images": []}

    monkeypatch.setattr(gan_reproduce, "reproduce", fake_reproduce)
    assert run_cli(["gan", "reproduce", "--preset", "full", "--arch", "dcgan", "--max-minutes", "10"]) == 0
    p = seen["preset"]
    assert (p.arch, p.max_minutes, p.epochs) == ("dcgan", 10.0, gan_reproduce.PRESETS["full"].epochs)
    assert p.options_for("fashion-mnist")["arch"] == p.options_for("mnist")["arch"] == "dcgan"  # all four runs
    assert p.name == "full, arch dcgan, max-minutes 10.0" and p.eval == gan_reproduce.PRESETS["full"].eval
    assert "full, arch dcgan" in capsys.readouterr().out
    assert (
        commands.reproduce_preset(
            argparse.Namespace(preset="quick", arch=None, loss=None, epochs=None, max_minutes=None)
        )
        is (gan_reproduce.PRESETS["quick"])
    )
    assert run_cli(["gan", "reproduce", "--preset", "full", "--loss", "hinge"]) == 0
    p = seen["preset"]
    assert p.name == "full, loss hinge" and p.config_for("fashion-mnist", True).arch == "dcgan"
    assert p.options_for("fashion-mnist")["loss"] == p.options_for("mnist")["loss"] == "hinge"
    assert run_cli(["gan", "reproduce", "--preset", "full", "--inception-n", "2000"]) == 0
    p = seen["preset"]
    assert (p.name, p.eval.inception, p.eval.inception_n) == ("full, inception-n 2000", True, 2000)
    assert gan_reproduce.PRESETS["full"].eval.inception_n == STANDARD_INCEPTION_N == 10_000
    with pytest.raises(SystemExit) as e:  # argparse's error: one line, exit 2
        run_cli(["gan", "reproduce", "--loss", "wasserstein"])
    assert e.value.code == 2 and "--loss" in capsys.readouterr().err
    assert run_cli(["gan", "reproduce", "--runs", "mnist-gan, fashion-mnist-cgan"]) == 0
    assert seen["runs"] == ["mnist-gan", "fashion-mnist-cgan"]
    with pytest.raises(SystemExit) as e:
        run_cli(["gan", "reproduce", "--max-minutes", "0"])
    assert e.value.code == 2 and "--max-minutes: must be > 0" in capsys.readouterr().err


# ----------------------------------------------------------------------------- reproduce and the report


def test_reproduce_resume_keeps_a_run_that_used_up_its_time_budget(tiny_data: Path, tmp_path: Path):
    kwargs = dict(cache_dir=tmp_path / "cache", classifier_for=lambda d: BarClassifier(), progress_bar=False)
    capped = replace(TINY, epochs=3, train_examples=96, max_minutes=1e-6)  # stops after its first step
    first = gan_reproduce.reproduce(capped, tmp_path / "out", runs=["mnist-gan"], **kwargs)["runs"]["mnist-gan"]
    assert first["stopped"] == "time_limit" and first["epochs"] < 3
    checkpoint = tmp_path / "out" / "mnist-gan" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    again = gan_reproduce.reproduce(capped, tmp_path / "out", runs=["mnist-gan"], resume=True, **kwargs)["runs"][
        "mnist-gan"
    ]
    assert checkpoint.stat().st_mtime_ns == stamp  # not trained past the preset's cap
    assert (again["epochs"], again["train_seconds"], again["fid"]) == (
        first["epochs"],
        first["train_seconds"],
        first["fid"],
    )
    # A run interrupted before its cap continues, with what is left of the budget.
    roomy = replace(capped, max_minutes=5.0)
    summary = json.loads((tmp_path / "out" / "mnist-gan" / "summary.json").read_text())
    (tmp_path / "out" / "mnist-gan" / "summary.json").write_text(json.dumps({**summary, "stopped": "interrupted"}))
    more = gan_reproduce.reproduce(roomy, tmp_path / "out", runs=["mnist-gan"], resume=True, **kwargs)["runs"][
        "mnist-gan"
    ]
    assert more["stopped"] == "completed" and more["epochs"] == 3


def test_reproduce_runs_only_the_named_runs_and_a_later_call_reuses_them(tiny_data: Path, tmp_path: Path):
    kwargs = dict(cache_dir=tmp_path / "cache", classifier_for=lambda d: BarClassifier(), progress_bar=False)
    preset = replace(TINY, by_dataset={"fashion-mnist": {"arch": "mlp", "loss": "hinge"}})
    part = gan_reproduce.reproduce(preset, tmp_path / "out", runs=["fashion-mnist-cgan"], **kwargs)
    assert list(part["runs"]) == ["fashion-mnist-cgan"] and part["runs"]["fashion-mnist-cgan"]["arch"] == "mlp"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_dir()) == ["fashion-mnist-cgan"]
    stamp = (tmp_path / "out" / "fashion-mnist-cgan" / "checkpoint.pt").stat().st_mtime_ns
    whole = gan_reproduce.reproduce(preset, tmp_path / "out", resume=True, **kwargs)
    assert [(r["arch"], r["loss"]) for r in whole["runs"].values()] == [("dcgan", "bce")] * 2 + [("mlp", "hinge")] * 2
    assert list(whole["runs"]) == ["mnist-gan", "mnist-cgan", "fashion-mnist-gan", "fashion-mnist-cgan"]
    assert (tmp_path / "out" / "fashion-mnist-cgan" / "checkpoint.pt").stat().st_mtime_ns == stamp  # not retrained
    assert whole["runs"]["fashion-mnist-cgan"]["fid"] == part["runs"]["fashion-mnist-cgan"]["fid"]
    with pytest.raises(ValueError, match="`runs` takes some of mnist-gan"):
        gan_reproduce.reproduce(TINY, tmp_path / "bad", runs=["cifar-gan"], **kwargs)


def test_report_experiment_runs_the_four_runs(report, tiny_data: Path, tmp_path: Path):
    result, out = report
    assert set(result) == {"images", "runs", "budget"}
    budget = result["budget"]
    assert budget["done"] == budget["planned"] > 0 and budget["stopped"] is None and budget["unit"] == "steps"
    assert list(result["runs"]) == list(RUN_NAMES)
    for name, run in result["runs"].items():
        assert set(run) == {*gan_reproduce.REPORT_RUN_KEYS, "epochs_planned"}
        assert run["epochs"] == run["epochs_planned"] == TINY.epochs
        assert run["conditional"] == name.endswith("cgan") and run["dataset"] == name.rsplit("-", 1)[0]
        assert math.isclose(sum(run["class_histogram"]), 1.0) and len(run["class_histogram"]) == 10
        assert (run["conditional_accuracy"] is None) == (not run["conditional"])
        assert run["train_seconds"] > 0 and run["fid_floor"] >= 0
    assert sorted(result["images"]) == sorted(f"{n}-grid.png" for n in RUN_NAMES)
    assert all((out / image).is_file() for image in result["images"])
    json.dumps(result)
    markdown = (out / "comparison.md").read_text()
    assert (
        all(f"| {n} |" in markdown for n in RUN_NAMES) and "![mnist-cgan](mnist-cgan-grid.png)" in markdown
    )
    assert set(json.loads((out / "comparison.json").read_text())["runs"]) == set(RUN_NAMES)
    # A second call resumes finished runs instead of refusing their folders.
    again = gan_reproduce.reproduce(
        TINY, out, resume=True, classifier_for=lambda d: BarClassifier(), progress_bar=False, cache_dir=tmp_path
    )
    assert again["runs"]["mnist-gan"]["fid"] == pytest.approx(result["runs"]["mnist-gan"]["fid"])


# ----------------------------------------------------------------------------- standard Inception FID


def test_inception_fid_is_skipped_with_a_clear_note_without_the_extra(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(gan_evaluate.metrics, "inception_weights_path", lambda: None)
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert result["inception_fid"] is None
    assert "skipped" in result["inception_note"] and "inception" in result["inception_note"]


@pytest.mark.slow  # about a minute on CPU: 3 x 8 images through the 299x299 InceptionV3
@pytest.mark.skipif(gan_evaluate.metrics.inception_weights_path() is None, reason="extra `inception` not installed")
def test_inception_fid_of_real_images_is_finite_and_cached(tiny_root, tmp_path):
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True, inception_n=8)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert result["inception_n"] == 8 and math.isfinite(result["inception_fid"]) and result["inception_fid"] >= 0
    assert len(list(tmp_path.glob("mnist-inception-*.pt"))) == 2  # test and training features
    assert gan_evaluate.format_table({**result, "dataset": "mnist", "conditional": True, "arch": "x", "epochs": 1})


class MeanPixels(torch.nn.Module):
    """A cheap stand-in for the Inception network: 4 features per image (means of its quarters), counting calls."""

    num_features = 4

    def __init__(self) -> None:
        super().__init__()
        self.images_seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.images_seen += len(images)
        x = images.float().view(-1, 2, 14, 2, 14)  # (B, 2, 14, 2, 14): quarters of the image
        return x.mean((2, 4)).flatten(1)  # (B, 4)


def test_inception_features_are_cached_as_a_growing_prefix(tiny_root: Path, tmp_path: Path):
    images, _ = load_images("mnist", train=False, root=tiny_root)
    extractor, path = MeanPixels(), tmp_path / "features.pt"
    five = gan_evaluate.cached_prefix_features(path, images, 5, extractor)
    eight = gan_evaluate.cached_prefix_features(path, images, 8, extractor)
    three = gan_evaluate.cached_prefix_features(path, images, 3, extractor)
    assert extractor.images_seen == 8  # 5, then only the 3 images not cached yet, then none
    assert torch.equal(eight[:5], five) and torch.equal(three, five[:3]) and eight.shape == (8, 4)
    many = gan_evaluate.cached_prefix_features(path, images, 10_000, extractor)
    assert len(many) == len(images)  # capped at the split
    path.write_bytes(b"damaged")
    assert torch.equal(gan_evaluate.cached_prefix_features(path, images, 8, extractor), eight)


def test_inception_reference_uses_a_fixed_prefix_of_each_split(tiny_root: Path, tmp_path: Path):
    small = gan_evaluate.inception_reference("mnist", MeanPixels(), 20, root=tiny_root, cache_dir=tmp_path)
    large = gan_evaluate.inception_reference("mnist", MeanPixels(), 60, root=tiny_root, cache_dir=tmp_path)
    assert (small["n"], large["n"]) == (20, 60) and torch.equal(large["features"][:20], small["features"])
    assert sorted(p.name.split("-")[2] for p in tmp_path.glob("mnist-inception-*.pt")) == ["test", "train"]
    assert small["fid_floor"] >= 0 and math.isfinite(large["fid_floor"])


def test_inception_fid_names_its_image_count_and_the_published_best(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(gan_evaluate.metrics, "inception_weights_path", lambda: tmp_path)
    monkeypatch.setattr(gan_evaluate.metrics, "InceptionFeatures", lambda device: MeanPixels())
    images, labels = load_images("mnist", train=True, root=tiny_root)
    config = EvalConfig(n=100, real_n=60, kid_subsets=2, kid_subset_size=30, inception=True, inception_n=50)
    result = gan_evaluate.evaluate_samples(images, labels, "mnist", BarClassifier(), config, tiny_root, tmp_path)
    assert (result["inception_n"], result["inception_fid_published"]) == (50, 6.8)
    assert "50 generated vs 50 test images" in result["inception_note"] and "biased upward" in result["inception_note"]
    table = gan_evaluate.format_table({**result, "dataset": "mnist", "conditional": True, "arch": "x", "epochs": 1})
    assert "Lucic et al. 2018" in table and "6.8" in table
    markdown = "\n".join(gan_reproduce.inception_markdown({"mnist-cgan": result}))
    assert f"| mnist-cgan | {result['inception_fid']:.2f} | 50 |" in markdown and "| 6.8 |" in markdown


def test_report_budget_marks_a_run_stopped_at_its_time_limit(tmp_path: Path) -> None:
    for name, steps, stopped in (("mnist-gan", 1874, "completed"), ("mnist-cgan", 105, "time_limit")):
        (tmp_path / name).mkdir()
        summary = {"epochs": 2, "steps_per_epoch": 937, "global_step": steps, "stopped": stopped}
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    budget = gan_reproduce._report_budget(TINY, tmp_path)
    assert (budget["planned"], budget["done"]) == (2 * 1874, 1874 + 105)
    assert budget["stopped"] == "the time limit (mnist-cgan)"
    from a3lab.report.claims import stopped_early

    assert stopped_early({"budget": budget}) == "stopped at the time limit (mnist-cgan) after 1,979 of 3,748 steps"


def test_full_preset_budgets_are_epochs_per_data_set(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    full = gan_reproduce.PRESETS["full"]
    assert full.config_for("mnist", True).epochs == 40 and full.config_for("fashion-mnist", True).epochs == 16
    seen = {}

    def fake_reproduce(preset, out, **kwargs):
        seen["preset"] = preset
        return {"preset": preset.name, "seed": 0, "runs": {}, "images": []}

    monkeypatch.setattr(gan_reproduce, "reproduce", fake_reproduce)
    assert run_cli(["gan", "reproduce", "--preset", "full", "--epochs", "3"]) == 0
    assert {seen["preset"].config_for(d, False).epochs for d in ("mnist", "fashion-mnist")} == {3}
