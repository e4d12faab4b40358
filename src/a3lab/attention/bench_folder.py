"""The benchmark's run folder: `a3lab attention bench` (CPU table) and its sweep (the device benchmark) each
write one JSON and their plots into it, under the folder's lock, the JSON checked before any timing."""

from __future__ import annotations

from pathlib import Path

from a3lab.attention.bench_config import BENCH_FILES, BENCH_FOLDER, BenchConfig, SweepConfig, hf_installed
from a3lab.runs import check_outputs, open_run
from a3lab.utils import seed_everything, write_json

BENCH_JSON, SWEEP_JSON = BENCH_FILES


def bench_into(config: BenchConfig, out: str | Path, *, force: bool) -> dict:
    """Run the CPU benchmark into `out`: print its table, write `attention_bench.json` and its plots."""
    from a3lab.attention.bench import format_table, plot, run_benchmark

    out = Path(out)
    with open_run(out, BENCH_FOLDER, reuse=True):
        check_outputs({"out": out / BENCH_JSON}, force=force)
        seed_everything(config.seed)
        result = run_benchmark(config)
        print(format_table(result))
        return _write({**result, "images": plot(result, out), "hf_installed": hf_installed()}, out / BENCH_JSON)


def sweep_into(config: SweepConfig, out: str | Path, *, force: bool) -> dict:
    """Run the device sweep into `out`, writing `attention_sweep.json` after every group (a long run that is
    stopped keeps what it measured), then its plots."""
    from a3lab.attention.sweep import format_sweep, plot_sweep, run_sweep

    out = Path(out)
    with open_run(out, BENCH_FOLDER, reuse=True):
        check_outputs({"out": out / SWEEP_JSON}, force=force)
        seed_everything(config.seed)
        result = run_sweep(config, on_group=lambda partial: write_json(partial, out / SWEEP_JSON))
        images = plot_sweep(result, out)
        print(format_sweep(result))
        return _write({**result, "images": images}, out / SWEEP_JSON)


def _write(result: dict, path: Path) -> dict:
    write_json(result, path)
    print(f"wrote {path} and {', '.join(result['images'])}")
    return result
