"""The configs of Problem 3's learning experiments, nested as the run is: `TrainConfig` holds the task, the
budget and a `ModelConfig`, which holds the layers' `AttentionConfig`. Each field is declared once, with its
bound; the presets override a few of them per task.

This module imports no torch: the CLI reads it while building its parser.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from a3lab.attention.config import AttentionConfig
from a3lab.config import MAX_SEED, Checked, field_info, from_dict, option
from a3lab.errors import UserError
from a3lab.runs import Kind

TaskKind = Literal["full", "sliding", "sliding_global", "sliding_dilated", "linformer"]
Task = Literal["pixel-mnist", "pixel-fashion-mnist", "long-range"]
Readout = Literal["cls", "mean"]
Projection = Literal["pool", "gaussian"]

KINDS: tuple[str, ...] = typing.get_args(TaskKind)
PIXEL_KINDS: tuple[str, ...] = ("full", "sliding", "sliding_global", "linformer")
TASKS: tuple[str, ...] = typing.get_args(Task)
READOUTS: tuple[str, ...] = typing.get_args(Readout)
PROJECTIONS: tuple[str, ...] = typing.get_args(Projection)
TRAIN_FOLDER = Kind("attention-train", "attention train", ("results.json", "*.pt"), ("results.json",))
"""The folder of `a3lab attention train --out`: results.json and one checkpoint per kind."""
TASK_DATASET = {"pixel-mnist": "mnist", "pixel-fashion-mnist": "fashion-mnist"}
IMAGE_SHAPE = (28, 28)
PIXEL_LEVELS = 256
MAX_PARAMETERS = 2**28
"""The most weights a task model may hold (1 GiB in float32, 4 GiB with AdamW's state): far above a useful run,
below an allocation failure."""


def cli_kind(kind: str) -> str:
    """`sliding-global` (CLI spelling) -> `sliding_global` (the name in configs and results)."""
    return kind.replace("-", "_")


def _classifier_attention() -> AttentionConfig:
    """The small classifier's layers: a window of one image row on each side, Linformer rank 64."""
    return AttentionConfig(window=28, k=64)


@dataclass
class ModelConfig(Checked):
    """The small sequence classifier: embedding, `depth` encoder blocks of one attention kind, linear head."""

    kind: TaskKind = field(default="full", metadata={"cli": False})
    """full, sliding, sliding_global (a CLS token that is global, read out), sliding_dilated or linformer"""
    seq_len: int = option(784, low=1, cli=False)
    """input tokens per sequence (without the CLS token)"""
    vocab_size: int = option(PIXEL_LEVELS, low=1, cli=False)
    """token vocabulary (256 grey levels for the pixel task)"""
    num_classes: int = option(10, low=2, cli=False)
    """output classes"""
    depth: int = option(1, low=1)
    """encoder blocks"""
    mlp_ratio: float = option(2.0, low=0, low_open=True)
    """MLP hidden width / dim"""
    image_shape: tuple[int, int] | None = option(None, low=1, cli=False)
    """(rows, cols) for a factorised row + column position embedding; None = one embedding per position"""
    readout: Readout | None = field(default=None, metadata={"default_text": "the task's"})
    """cls (a CLS token prepended at position 0 is read out; global for sliding_global) or mean (the mean of
    the token states); None = cls for sliding_global and on long-range, mean otherwise"""
    position_std: float = option(0.02, low=0)
    """initial scale of the position embedding (large enough and the first steps already see where a pixel is)"""
    attention: AttentionConfig = field(default_factory=_classifier_attention)
    """the layers' attention; sliding_dilated: layer l uses attention.dilation ** l (the others 1)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind == "sliding_global" and self.readout == "mean":
            raise UserError("`kind` sliding-global reads out its global CLS token: use `readout` cls")
        if self.kind == "sliding_dilated" and (self.attention.dilation < 2 or self.depth < 2):
            raise UserError(
                "`kind` sliding-dilated needs `dilation` >= 2 and `depth` >= 2 (layer 0 is undilated), "
                f"got {self.attention.dilation} and {self.depth}"
            )
        if self.image_shape is not None and (
            len(self.image_shape) != 2 or self.image_shape[0] * self.image_shape[1] != self.seq_len
        ):
            raise UserError(f"image_shape {self.image_shape} does not hold `seq_len` {self.seq_len} tokens")
        if self.parameters > MAX_PARAMETERS:
            raise UserError(
                f"the model would hold {self.parameters:,} weights, more than {MAX_PARAMETERS:,}: "
                "ask for a smaller `dim`, `depth`, `mlp_ratio` or sequence length"
            )
        base = "sliding" if self.kind.startswith("sliding") else self.kind
        if base == "sliding" and self.attention.window > self.seq_len:  # the band would dwarf full attention
            raise UserError(
                f"`window` must be at most the sequence length ({self.seq_len}): a window covering the whole "
                f"sequence is full attention (use `kind` full), got {self.attention.window}"
            )
        self.attention = dataclasses.replace(  # what every layer is, from the kind and the sequence
            self.attention,
            kind=base,
            global_tokens=int(self.kind == "sliding_global"),
            seq_len=self.tokens if base == "linformer" else None,
        )

    @property
    def parameters(self) -> int:
        """About how many weights the model holds: the blocks' projections and MLPs, token and position embeddings."""
        dim = self.attention.dim
        hidden = max(1, round(dim * self.mlp_ratio))
        return self.depth * (4 * dim * dim + 2 * dim * hidden) + (self.vocab_size + self.tokens) * dim

    @property
    def uses_cls(self) -> bool:
        """Whether a CLS token is prepended (and read out)."""
        return self.readout == "cls" or (self.readout is None and self.kind == "sliding_global")

    @property
    def tokens(self) -> int:
        """Tokens the encoder sees: seq_len, plus the CLS token."""
        return self.seq_len + int(self.uses_cls)


@dataclass
class TrainConfig(Checked):
    """One training run: a task, a budget (steps x batch) and the model. The model's sequence length,
    vocabulary, classes and image shape follow from the task."""

    task: Task = "pixel-mnist"
    """what to learn"""
    steps: int = option(200, low=1)
    """optimisation steps (equal for every kind: "equal steps")"""
    batch_size: int = option(32, low=1, high=4096)
    """sequences per step"""
    lr: float = option(3e-3, low=0, low_open=True)
    """peak AdamW learning rate (linear warm-up over the first 10% of steps, then cosine to 0)"""
    weight_decay: float = option(0.01, low=0)
    """AdamW weight decay"""
    train_examples: int | None = option(None, low=1, default_text="all")
    """pixel tasks: train on a seeded random subset of this many images"""
    test_examples: int = option(1000, low=1)
    """test sequences to score (a seeded random subset of the test split; fresh sequences for long-range)"""
    eval_batch_size: int = option(100, low=1, high=4096)
    """sequences per evaluation batch"""
    length: int = option(2048, low=1)
    """long-range: sequence length"""
    num_signals: int = option(2, low=2)
    """long-range: symbols the first and last token are drawn from (2: the label is XNOR of two far bits)"""
    num_noise: int = option(16, low=1)
    """long-range: symbols of the noise tokens between them"""
    span: int = option(1, low=1)
    """long-range: the first and the last `span` tokens carry the two symbols"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """random seed (model init, data order, subsets)"""
    device: str = "cpu"
    """where to train: auto, cpu or cuda"""
    model: ModelConfig = field(default_factory=ModelConfig)
    """the classifier (its task-given fields are filled in from the task)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task == "long-range" and not self.span <= self.length // 2:
            raise UserError(f"`span` must be between 1 and `length` / 2, got {self.span} for length {self.length}")
        given = self._task_model_fields()
        if any(getattr(self.model, name) != value for name, value in given.items()):
            self.model = dataclasses.replace(self.model, **given)

    def _task_model_fields(self) -> dict[str, Any]:
        pixel = self.task != "long-range"
        fields = {
            "seq_len": IMAGE_SHAPE[0] * IMAGE_SHAPE[1] if pixel else self.length,
            "vocab_size": PIXEL_LEVELS if pixel else self.num_noise + self.num_signals,
            "num_classes": 10 if pixel else 2,
            "image_shape": IMAGE_SHAPE if pixel else None,
        }
        if not pixel and self.model.readout is None:  # every kind reads a CLS token at position 0
            fields["readout"] = "cls"
        return fields

    @property
    def kind(self) -> str:
        """The attention kind of the model."""
        return self.model.kind

    @classmethod
    def create(cls, **options: Any) -> TrainConfig:
        """A run from flat field names, each found where it is declared (`window=4` is model.attention.window).

        The model is made with the task's sequence length already in place, so its checks see the real one.
        """
        nested = nest(cls, options)
        model = nested.pop("model", {})
        shell = cls(**nested)
        return cls(**nested, model=from_dict(ModelConfig, {**shell._task_model_fields(), **model}))


def nest(cls: type, flat: Mapping[str, Any]) -> dict[str, Any]:
    """Flat field names -> the nested dict of `cls` (a name goes to the outermost config declaring it).

    >>> nest(TrainConfig, {"steps": 3, "window": 4, "depth": 2})
    {'steps': 3, 'model': {'depth': 2, 'attention': {'window': 4}}}
    """
    nested, left = _nest(cls, dict(flat))
    if left:
        raise UserError(f"unknown {cls.__name__} fields: {', '.join(sorted(left))}")
    return nested


def _nest(cls: type, left: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    infos = field_info(cls)
    out = {name: left.pop(name) for name, info in infos.items() if info.kind != "config" and name in left}
    for name, info in infos.items():
        if info.kind == "config" and left:
            inner, left = _nest(info.config, left)
            if inner:
                out[name] = inner
    return out, left


@dataclass
class LinformerErrorConfig(Checked):
    """Linformer's error against full attention, as a function of K."""

    ks: tuple[int, ...] = option((8, 16, 32, 64, 128, 256, 392, 784), low=1, cli=False)
    """projected lengths K to measure (each <= seq_len)"""
    seq_len: int = option(784, low=1, cli=False)
    """tokens per sequence for the random inputs (784 = the pixel task)"""
    heads: int = option(2, low=1)
    """heads of the random inputs"""
    head_dim: int = option(16, low=1)
    """head dim of the random inputs"""
    examples: int = option(16, low=1, high=100_000)
    """sequences to measure on (random, and real test images for the trained model)"""
    projection: Projection = "pool"
    """E = F: pool (mean pooling, kernel = stride = N / K) or gaussian (random, averaged over 3 draws)"""
    seed: int = option(0, low=0, high=MAX_SEED)
    """random seed"""

    def __post_init__(self) -> None:
        if not self.ks:
            raise UserError("`k` needs at least one value")
        super().__post_init__()
        bad = [k for k in self.ks if not 1 <= k <= self.seq_len]
        if bad:
            raise UserError(f"`k` values must be between 1 and the sequence length {self.seq_len}, got {bad}")


# ----------------------------------------------------------------------------------------------------------------
# the report's budgets, and each task's defaults


PIXEL_MODEL = {"dim": 32, "depth": 1, "heads": 2, "window": 28, "dilation": 2, "k": 64, "lr": 1e-2,
               "position_std": 0.7}  # fmt: skip
"""The pixel runs' model: one block, window one image row on each side; row + column position embeddings
initialised at 0.7 (at 0.02 the first hundred steps see little more than the ink histogram); dilation 2 for
a sliding-dilated run asked for by hand (the report runs none on pixels)."""
LONG_RANGE_MODEL = {"length": 2048, "span": 128, "dim": 32, "depth": 2, "heads": 2, "window": 32, "dilation": 65,
                    "k": 64, "lr": 3e-3}  # fmt: skip
"""The long-range task and model: the plain window's CLS reaches 2 * 32 = 64 of 2048 positions; dilation
2 * window + 1 = 65 in layer 1 leaves no holes above the undilated layer 0 and reaches 32 + 32 * 65 = 2112;
span 128 >= 65, so the CLS token's dilated lattice lands inside both spans."""


@dataclass
class Preset:
    """The budget of the report's experiment for one preset."""

    pixel_steps: int
    """training steps per pixel run (every kind, both data sets)"""
    pixel_train_examples: int
    """training images per data set (a seeded subset)"""
    pixel_test_examples: int
    """test images scored per data set"""
    long_range_steps: int
    """training steps per long-range run"""
    long_range_kinds: tuple[str, ...]
    """kinds run on the long-range task (full only where affordable)"""
    batch_size: int = 32
    """pixel batch size"""
    long_range_batch_size: int = 16
    """long-range batch size"""
    long_range_test_examples: int = 256
    """long-range test sequences"""
    linformer_examples: int = 16
    """sequences for the Linformer error"""
    pixel: dict = field(default_factory=lambda: dict(PIXEL_MODEL))
    """model of the pixel runs (flat field names)"""
    long_range: dict = field(default_factory=lambda: dict(LONG_RANGE_MODEL))
    """model and task of the long-range runs (flat field names)"""


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        pixel_steps=40,
        pixel_train_examples=1280,
        pixel_test_examples=500,
        long_range_steps=40,
        long_range_kinds=("sliding", "sliding_global", "sliding_dilated", "linformer"),
        long_range_test_examples=128,
    ),
    "full": Preset(
        pixel_steps=200,
        pixel_train_examples=6400,
        pixel_test_examples=2000,
        long_range_steps=40,
        long_range_kinds=("full", "sliding", "sliding_global", "sliding_dilated", "linformer"),
    ),
}


def task_defaults(task: str, preset: str = "full") -> dict:
    """Flat TrainConfig values of a task in a preset's budget (the CLI's defaults)."""
    p = PRESETS[preset]
    if task == "long-range":
        return {"steps": p.long_range_steps, "batch_size": p.long_range_batch_size,
                "test_examples": p.long_range_test_examples, **p.long_range}  # fmt: skip
    return {"steps": p.pixel_steps, "batch_size": p.batch_size, "train_examples": p.pixel_train_examples,
            "test_examples": p.pixel_test_examples, **p.pixel}  # fmt: skip


def task_defaults_text() -> dict[str, str]:
    """What --help says for a field the tasks set: "28 pixel, 32 long-range" (one value where they agree)."""
    pixel, long_range = task_defaults("pixel-mnist"), task_defaults("long-range")
    config = {**_defaults(AttentionConfig), **_defaults(ModelConfig), **_defaults(TrainConfig)}
    shown = {}
    for name in dict.fromkeys([*pixel, *long_range]):
        a, b = pixel.get(name, config[name]), long_range.get(name, config[name])
        shown[name] = str(a) if a == b else ", ".join(f"{v} {t}" for v, t in ((a, "pixel"), (b, "long-range")) if v)
    return shown


def _defaults(cls: type) -> dict[str, Any]:
    return {name: info.default for name, info in field_info(cls).items() if info.kind != "config"}


def task_kinds(kind: str, task: str) -> list[str]:
    """The kinds `attention train --kind` names: "all" is every kind on long-range, the pixel kinds otherwise."""
    if kind == "all":
        return list(KINDS if task == "long-range" else PIXEL_KINDS)
    return [kind.replace("-", "_")]


def task_configs(task: str, kinds: list[str], given: Mapping[str, Any]) -> list[TrainConfig]:
    """One run of `task` per kind: the task's defaults, then the `given` fields (nested as
    `a3lab.commands.flags.overrides` gives them). Every kind's config is checked before the first run starts."""
    options = {**task_defaults(task), **_flat(given)}
    return [TrainConfig.create(**options, kind=kind) for kind in kinds]


def _flat(nested: Mapping[str, Any]) -> dict[str, Any]:
    """{"model": {"depth": 2}} -> {"depth": 2}: the fields by name, wherever they are declared."""
    out: dict[str, Any] = {}
    for name, value in nested.items():
        out.update(_flat(value) if isinstance(value, Mapping) else {name: value})
    return out
