"""What the attention benchmarks run: the CPU benchmark's `BenchConfig` and presets, the device sweep's
`SweepConfig`, and the names of the methods they time.

Legend: N tokens, W one-sided window (HF `attention_window` = 2 W), K Linformer rank.

This module imports no torch: the CLI reads it while building its parser.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import typing
from dataclasses import dataclass, field
from typing import Literal

from a3lab.config import MAX_SEED, Checked, option
from a3lab.errors import UserError
from a3lab.runs import Kind

Method = Literal["full", "sliding-blocked", "sliding-matmul", "sliding-flex", "linformer", "hf-longformer"]
SweepMethod = Literal["full", "sliding-blocked", "sliding-matmul", "sliding-flex", "linformer", "flash-window"]
DType = Literal["bfloat16", "float32"]
Pass = Literal["forward", "forward+backward"]

METHODS: tuple[str, ...] = typing.get_args(Method)
"""What the CPU benchmark can time: `<kind>` or `<kind>-<backend>`."""
SLIDING = ("sliding-blocked", "sliding-matmul", "sliding-flex")
BAND_METHODS = (*SLIDING, "hf-longformer")
SWEEP_METHODS: tuple[str, ...] = typing.get_args(SweepMethod)
"""full SDPA, our band (blocked, matmul), compiled FlexAttention, Linformer, flash-attn's window_size."""
PASSES: tuple[str, ...] = typing.get_args(Pass)
LONGEST = 2**20
"""longest sequence, window or rank a benchmark takes"""


def hf_installed() -> bool:
    """Whether Hugging Face transformers is installed (looked up without the slow import)."""
    return importlib.util.find_spec("transformers") is not None


def label_backend(method: str) -> tuple[str, str]:
    """("sliding", "blocked") for "sliding-blocked"; the backend of the others."""
    if method.startswith("sliding-"):
        return "sliding", method.removeprefix("sliding-")
    return method, {"full": "sdpa", "linformer": "sdpa", "hf-longformer": "transformers"}[method]


@dataclass
class BenchConfig(Checked):
    """One CPU benchmark run; errors name the CLI flags of `a3lab attention bench`."""

    sizes: tuple[int, ...] = option((1024, 2048, 4096), low=1, high=LONGEST)
    """sequence lengths N"""
    methods: tuple[Method, ...] = ("full", "sliding-blocked", "sliding-matmul", "linformer", "hf-longformer")
    """methods to time; hf-longformer is skipped with a note when transformers is missing"""
    batch: int = option(1, low=1)
    """batch B"""
    heads: int = option(12, low=1, high=1024)
    """heads H"""
    head_dim: int = option(64, low=1, high=4096)
    """head dim D"""
    window: int = option(128, low=1, high=LONGEST)
    """one-sided window W; HF attention_window = 2 W"""
    linformer_k: int = option(256, low=1, high=LONGEST)
    """Linformer rank K"""
    repeats: int = option(3, low=1, high=100_000)
    """timed calls per cell (median), after one warm-up"""
    backward: bool = True
    """also time forward + backward"""
    memory: bool = True
    """measure peak memory (a fresh subprocess on CPU)"""
    threads: int | None = option(1, low=1, cli=False)
    """intra-op threads while timing (None: the caller's setting)"""
    matmul_size: int = option(2048, low=1, high=16_384)
    """square matmul for the machine's GFLOP/s"""
    max_call_s: float = option(60.0, low=0, low_open=True)
    """skip a method's larger N once one call took longer than this"""
    device: str = option("cpu", cli=False)
    seed: int = option(0, low=0, high=MAX_SEED, cli=False)
    hf_check_n: int = option(1024, low=1, high=LONGEST)
    """sequence length of the equal-output check against Hugging Face"""
    clock: Literal["cpu", "wall"] = "cpu"
    """cpu: process CPU time, robust on a shared machine; wall: elapsed (always on CUDA)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sizes or not self.methods:
            raise UserError(f"`sizes` and `methods` must not be empty, got {self.sizes}, {self.methods}")
        self.sizes = tuple(sorted(set(self.sizes)))
        if "linformer" in self.methods and self.linformer_k > max(self.sizes):
            raise UserError(
                f"`linformer_k` must be <= the largest of `sizes` ({max(self.sizes)}), got {self.linformer_k}"
            )
        if any(m in BAND_METHODS for m in self.methods) and self.window > max(self.sizes):
            raise UserError(f"`window` must be <= the largest of `sizes` ({max(self.sizes)}), got {self.window}")
        if "hf-longformer" in self.methods and any(n % (2 * self.window) for n in self.sizes):
            raise UserError(
                f"hf-longformer needs every `sizes` value to be a multiple of 2 * `window` = {2 * self.window}"
            )


BENCH_FILES = ("attention_bench.json", "attention_sweep.json")
BENCH_FOLDER = Kind("attention-bench", "attention bench", (*BENCH_FILES, "*.png"), BENCH_FILES)
"""The folder of `a3lab attention bench`: `bench` and `bench --sweep` share it, each with its own JSON."""

PRESETS = {
    "quick": BenchConfig(methods=("full", "sliding-blocked", "linformer", "hf-longformer")),
    "full": BenchConfig(sizes=(1024, 2048, 4096, 8192, 16384, 32768), methods=METHODS, repeats=3, max_call_s=40.0),
}
"""quick: N = 1k..4k, no FlexAttention; full: N = 1k..32k, every method"""


def describe_presets() -> str:
    """The presets in words, for --help."""
    return "; ".join(f"{n}: N = {min(c.sizes)}..{max(c.sizes)}, {', '.join(c.methods)}" for n, c in PRESETS.items())


def preset_config(preset: str, **overrides) -> BenchConfig:
    """The configuration of a named preset ("quick" or "full"), with fields overridden."""
    if preset not in PRESETS:
        raise UserError(f"`preset` must be one of {', '.join(PRESETS)}, got {preset!r}")
    return dataclasses.replace(PRESETS[preset], **overrides)


@dataclass
class SweepConfig(Checked):
    """One device benchmark; errors name the fields."""

    sizes: tuple[int, ...] = option((4096, 8192, 16384, 32768, 65536, 131072), low=1, high=LONGEST)
    """sequence lengths N"""
    windows: tuple[int, ...] = option((128, 256), low=1, high=LONGEST)
    """sweep: one-sided windows W"""
    dtypes: tuple[DType, ...] = ("bfloat16", "float32")
    """sweep: dtypes, bfloat16 first: a run cut short by its budget keeps the comparisons with FlexAttention
    and flash-attn"""
    passes: tuple[Pass, ...] = PASSES
    methods: tuple[SweepMethod, ...] = SWEEP_METHODS
    batch: int = option(1, low=1)
    heads: int = option(12, low=1)
    head_dim: int = option(64, low=1)
    linformer_k: int = option(256, low=1)
    warmup: int = option(2, low=0)
    """untimed calls per cell before the rounds (compilation, autotuning, caches)"""
    rounds: int = option(5, low=1)
    """interleaved timed rounds per group"""
    full_limit_s: float = option(10.0, low=0, low_open=True)
    """full attention stops at the first N with a call over this many seconds (or out of memory)"""
    exact_max_n: int = option(4096, low=1)
    """exactness against a dense reference at N up to this"""
    device: str = "cuda"
    seed: int = option(0, low=0, high=MAX_SEED)
    extra: dict = field(default_factory=dict, metadata={"cli": False})
    """free-form notes recorded with the results (e.g. the command line)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("sizes", "windows", "dtypes", "passes", "methods"):
            if not getattr(self, name):
                raise UserError(f"`{name}` must be a non-empty list, got {getattr(self, name)}")
        self.sizes, self.windows = tuple(sorted(set(self.sizes))), tuple(sorted(set(self.windows)))
        if max(self.windows) > max(self.sizes):  # a band wider than every sequence: full attention at a band's cost
            raise UserError(f"`windows` must be <= the largest of `sizes` ({max(self.sizes)}), got {max(self.windows)}")
