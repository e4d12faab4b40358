"""The report's two attention sections: the cost of each attention against N (`COST`) and what each kind
learns (`TASKS`), their result types and how they are shown. Loading this module loads no torch: the report lists
the sections before running anything."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from a3lab.blocks import Block, pct, spread_row, table_block
from a3lab.section import Budget, Section

__all__ = ["COST", "TASKS", "CostResult", "TasksResult", "render_cost", "render_tasks", "run_cost", "run_tasks"]


# ----------------------------------------------------------------------------------------------------------------
# attention cost


class Spread(TypedDict):
    """`a3lab.timing.spread` of per-round values."""

    median: float | None
    low: float | None
    high: float | None
    rounds: int


class RatioSpread(Spread):
    values: list[float]
    """the per-round ratios"""


class CostRow(TypedDict):
    """One method at one length N of the benchmark table."""

    n: int
    method: str
    """full, sliding, linformer or hf-longformer"""
    backend: str
    """sdpa, blocked, matmul, flex or transformers"""
    device: str
    forward_ms: float | None
    """None where the method did not run at this N"""
    forward_backward_ms: float | None
    peak_mb: float | None


class HFCheck(TypedDict):
    installed: bool
    max_abs_diff: float | None
    """HF LongformerSelfAttention against ours on the same weights (None when not installed)"""


class SpeedupVsFull(TypedDict):
    device: str
    n: int
    method: str
    ratio: RatioSpread
    """full attention's time over the method's, round by round"""


class CostTiming(TypedDict):
    """The side-by-side timing of interleaved rounds that the claims read."""

    device: str
    threads: int
    rounds: int
    slope_sizes: list[int]
    ms: dict[str, dict[str, Spread]]
    """method -> str(N) -> forward milliseconds"""
    slopes: dict[str, Spread]
    """method -> per-round log-log slopes of forward time against N"""
    speedup_vs_full: list[SpeedupVsFull]


class CostResult(TypedDict):
    images: list[str]
    """PNG file names (log-log time and memory against N)"""
    rows: list[CostRow]
    slopes: dict[str, float]
    """method label (full, sliding-blocked, ...) -> log-log slope of forward time against N"""
    matmul_gflops: float
    """GFLOP/s of a large float32 matmul in the same run (the machine's practical peak)"""
    band_gflops: dict[str, float]
    """band method label -> useful band GFLOP/s at its largest N"""
    hf: HFCheck
    speedup_vs_full: dict[str, float]
    """str(N) -> full SDPA time / our best sliding-window time"""
    speedup_vs_hf: dict[str, float | None]
    """str(N) -> HF time / our best sliding-window time (None without transformers)"""
    timing: CostTiming
    budget: Budget


COST_TIMING_KEYS = frozenset(
    {"timing", "rows", "slopes", "matmul_gflops", "band_gflops", "speedup_vs_full", "speedup_vs_hf"}
)


def run_cost(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    """The benchmark and the claims' side-by-side timing (`a3lab.attention.cost.section_experiment`)."""
    from a3lab.attention.cost import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render_timing(r: dict) -> list[Block]:
    """The side-by-side timing: per-round slopes and full attention's time over the window's."""
    t = r.get("timing")
    if not t:
        return []
    slopes = [spread_row([m], stats) for m, stats in t["slopes"].items()]
    speed = [spread_row([s["n"], s["method"], s["device"]], s["ratio"]) for s in t["speedup_vs_full"]]
    return [
        (
            "p",
            f"Side by side: {t['rounds']} interleaved rounds, {t['threads']} thread(s), on {t['device']}; slopes "
            f"fitted per round over N = {', '.join(map(str, t['slope_sizes']))}.",
        ),
        table_block(["method", "log-log slope (median)", "lowest", "highest", "rounds"], slopes),
        table_block(
            ["N", "sliding window", "device", "full time / window time (median)", "lowest", "highest", "rounds"], speed
        ),
    ]


def render_cost(r: dict) -> list[Block]:
    """The benchmark table, slopes and GFLOP/s, the HF check, then the side-by-side timing."""
    rows = [
        [
            row["n"],
            row["method"],
            row.get("backend"),
            row.get("forward_ms"),
            row.get("forward_backward_ms"),
            row.get("peak_mb"),
        ]
        for row in r["rows"]
    ]
    blocks = [table_block(["N", "method", "backend", "forward ms", "forward+backward ms", "peak MB"], rows)]
    slope_rows = [[m, round(s, 3), r.get("band_gflops", {}).get(m)] for m, s in r["slopes"].items()]
    blocks.append(table_block(["method", "log-log slope (time vs N)", "achieved GFLOP/s"], slope_rows))
    hf = r.get("hf", {})
    hf_text = (
        f"max |ours - HF| = {hf.get('max_abs_diff')}"
        if hf.get("installed")
        else "Hugging Face transformers not installed: no HF comparison in this run"
    )
    blocks.append(
        ("p", f"Large torch.matmul in the same run: {r.get('matmul_gflops', float('nan')):.1f} GFLOP/s. {hf_text}.")
    )
    return blocks + render_timing(r)


COST = Section(
    name="attention_cost",
    title="Attention cost",
    run=run_cost,
    render=render_cost,
    result=CostResult,
    timing_keys=COST_TIMING_KEYS,
    cost=5.0,
)


# ----------------------------------------------------------------------------------------------------------------
# attention tasks


class PixelRun(TypedDict):
    accuracy: float
    """test accuracy"""
    seconds_per_epoch: float
    """measured training seconds per pass over the train_examples"""
    steps: int
    train_examples: int


class LongRange(TypedDict):
    length: int
    layers: int
    window: int
    chance: float
    results: dict[str, float]
    """kind -> test accuracy, for the preset's kinds"""


class LinformerError(TypedDict):
    k: list[int]
    random: list[float]
    """relative error on random Gaussian q, k, v"""
    trained: list[float]
    """relative error on the trained full-attention MNIST model's first-layer q, k, v"""


class TasksResult(TypedDict):
    images: list[str]
    pixel: dict[str, dict[str, PixelRun]]
    """data set (mnist, fashion-mnist) -> kind (full, sliding, sliding_global, linformer) -> its run"""
    long_range: LongRange
    linformer_error: LinformerError
    budget: Budget


TASKS_TIMING_KEYS = frozenset({"seconds_per_epoch"})


def run_tasks(preset: str, out_dir: Path, *, device: str, seed: int) -> dict:
    """Pixel sequences, the long-range task and Linformer's error (`a3lab.attention.experiment`)."""
    from a3lab.attention.experiment import section_experiment

    return section_experiment(preset, out_dir, device=device, seed=seed)


def render_tasks(r: dict) -> list[Block]:
    """Pixel accuracies per data set and kind, long-range accuracies, Linformer's error against K."""
    blocks: list[Block] = []
    rows = [
        [ds, kind, pct(v["accuracy"]), round(v["seconds_per_epoch"], 1), v.get("steps"), v.get("train_examples")]
        for ds, kinds in r["pixel"].items()
        for kind, v in kinds.items()
    ]
    blocks.append(("p", "Pixel-sequence classification (784 tokens, Long Range Arena 'Image' on our data):"))
    blocks.append(table_block(["data set", "attention", "test accuracy", "s/epoch", "steps", "train examples"], rows))
    lr = r["long_range"]
    blocks.append(("p", f"Long-range task, length {lr['length']}, {lr['layers']} layers, window {lr['window']}:"))
    blocks.append(table_block(["attention", "accuracy"], [[k, pct(a)] for k, a in lr["results"].items()]))
    le = r["linformer_error"]
    blocks.append(
        table_block(
            ["K", "relative error (random)", "relative error (trained)"],
            [list(t) for t in zip(le["k"], le["random"], le["trained"])],
        )
    )
    return blocks


TASKS = Section(
    name="attention_tasks",
    title="Attention tasks",
    run=run_tasks,
    render=render_tasks,
    result=TasksResult,
    timing_keys=TASKS_TIMING_KEYS,
    cost=7.0,
)
