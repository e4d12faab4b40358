"""HF models with a3lab's sliding window, inside the model, on one process.

--model longformer (default): a randomly initialised base-sized `LongformerModel` (LongformerConfig defaults:
12 layers, hidden 768, 12 heads, attention_window 512, i.e. one-sided W = 256; positions extended to --tokens)
runs a forward on one sequence of --tokens tokens with a global first token. The HF model and a patched deep
copy (`a3lab.attention.hf.patch_longformer`) alternate for --rounds rounds; forward hooks time the
self-attention modules' own forward (projections and attention), process CPU time. Prints the medians, the
per-round ratios and attention's share of the model.

--model modernbert / mistral: ModernBERT at base width (hidden 768, 22 layers, local_attention 128, global
attention every third layer) or a narrow Mistral-style decoder (grouped-query attention, window 1024), random
weights, under attn_implementation "a3lab" (`a3lab.attention.hf_backend.register`), "sdpa" and (ModernBERT)
"eager": whole-model and attention-module CPU time per forward in interleaved rounds at each of --sizes, the
FLOP bound of the whole-model gain, the largest attention call a3lab made, and peak memory per implementation
in a fresh process. --slope: one round per size, and the log-log slope of time against N.

    OMP_NUM_THREADS=1 python benchmarks/attention_hf.py --tokens 4096 --rounds 3 --out runs/attention_hf.json
    OMP_NUM_THREADS=1 python benchmarks/attention_hf.py --model modernbert --sizes 4096,8192 --rounds 3
    OMP_NUM_THREADS=1 python benchmarks/attention_hf.py --model mistral --sizes 4096,8192 --rounds 5
    OMP_NUM_THREADS=1 python benchmarks/attention_hf.py --model mistral --slope --sizes 2048,4096,8192,16384,32768
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch

from a3lab.attention.hf import attention_seconds, patch_longformer

KEYS = ("model_s", "attention_s", "attention_share")


def _spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("longformer", "modernbert", "mistral"), default="longformer")
    parser.add_argument("--tokens", type=int, default=4096, help="longformer: sequence length (default: 4096)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=None, help="layers (default: 12, 22 or 2 by --model)")
    parser.add_argument("--window", type=int, default=None, help="modernbert / mistral: window (default: 128, 1024)")
    parser.add_argument("--sizes", default="4096,8192", help="modernbert / mistral: comma-separated N")
    parser.add_argument("--implementations", default=None, help="default: a3lab,sdpa,eager (mistral: a3lab,sdpa)")
    parser.add_argument("--memory-sizes", default=None, help="N to probe peak memory at (default: --sizes)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--no-timing", action="store_true", help="only the peak-memory subprocesses")
    parser.add_argument("--slope", action="store_true", help="one round per size and the log-log slope")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.model != "longformer":
        result = sliding_models(args)
    else:
        result = longformer(args)
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def longformer(args) -> dict:
    """HF Longformer against its patched copy (see the module docstring)."""
    from transformers import LongformerConfig, LongformerModel

    from a3lab.utils import keep_freed_memory

    keep_freed_memory()  # as the a3lab CLI does
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers = args.layers or 12
    config = LongformerConfig(
        num_hidden_layers=layers, max_position_embeddings=args.tokens + 2, attention_probs_dropout_prob=0.0
    )
    hf = LongformerModel(config).eval()
    ours = copy.deepcopy(hf)
    patch_longformer(ours)
    ids = torch.randint(5, 1000, (1, args.tokens))
    glob = torch.zeros_like(ids)
    glob[:, 0] = 1

    def call(model):
        def run():
            with torch.no_grad():
                model(input_ids=ids, global_attention_mask=glob)

        return run

    with torch.no_grad():
        diff = (ours(input_ids=ids, global_attention_mask=glob).last_hidden_state
                - hf(input_ids=ids, global_attention_mask=glob).last_hidden_state).abs().max().item()  # fmt: skip
    rounds = {"hf": [], "a3lab": []}
    for _ in range(args.rounds):
        for name, model in (("hf", hf), ("a3lab", ours)):
            rounds[name].append(attention_seconds(model, call(model), repeats=1))
    result = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "tokens": args.tokens,
        "layers": layers,
        "pass": "forward",
        "clock": "process CPU time",
        "max_abs_diff_last_hidden_state": diff,
        **{name: {k: _spread([r[k] for r in rounds[name]]) for k in KEYS} for name in ("hf", "a3lab")},
        **{f"{k.removesuffix('_s')}_speedup": _spread([h[k] / a[k] for h, a in zip(rounds["hf"], rounds["a3lab"])])
           for k in ("attention_s", "model_s")},
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    return result


def sliding_models(args) -> dict:
    """ModernBERT or the Mistral-style decoder under each attention implementation (see the module docstring)."""
    from a3lab.attention import hf_backend_bench as bench
    from a3lab.timing import log_log_slope, ratio_spread, spread
    from a3lab.utils import keep_freed_memory

    keep_freed_memory()  # as the a3lab CLI does
    torch.set_num_threads(1)
    spec = dict(bench.MODERNBERT_BASE if args.model == "modernbert" else bench.NARROW_MISTRAL)
    spec["layers"] = args.layers or spec["layers"]
    spec["window"] = args.window or spec["window"]
    default = "a3lab,sdpa,eager" if args.model == "modernbert" else "a3lab,sdpa"
    names = tuple((args.implementations or default).split(","))
    sizes = [int(n) for n in args.sizes.split(",")]
    load = {"before": os.getloadavg()}
    models = bench.build_models(spec, max(sizes), names)
    check = None if args.no_timing or "sdpa" not in names else min(sizes[0], 2048)
    diff = bench.max_abs_diff(models, check) if check else {}
    rows = []
    for n in [] if args.no_timing else sizes:
        times = bench.time_models(models, n, 1 if args.slope else args.rounds)
        row = {"tokens": n, "flops": bench.flop_bound(spec, n), "a3lab_largest_call": None}
        for name in names:
            row[name] = {key: spread(values) for key, values in times[name].items()}
        for name in names[1:]:
            row[f"{name}_over_a3lab"] = {
                key: ratio_spread(times[name][key], times["a3lab"][key]) for key in times[name]
            }
        if "a3lab" in names:
            row["a3lab_largest_call"] = bench.largest_attention_call(models["a3lab"], n)
        rows.append(row)
    del models
    memory = {}
    if not args.no_memory:
        probe = [int(n) for n in (args.memory_sizes or args.sizes).split(",")]
        memory = {f"{name}@{n}": bench.measure_memory(spec, name, n) for n in probe for name in names}
    load["after"] = os.getloadavg()
    result = {
        "model": spec, "implementations": names, "threads": torch.get_num_threads(), "pass": "forward, no grad",
        "check_tokens": check, "max_abs_diff_vs_sdpa": diff,
        "clock": "process CPU time", "rounds": 1 if args.slope else args.rounds, "sizes": rows,
        "peak_memory_mb": memory, "memory_method": "peak RSS above the start of the forward, fresh process each",
        "load_average": load, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }  # fmt: skip
    if args.slope:
        result["slope"] = {
            name: {key: log_log_slope([(r["tokens"], r[name][key]["median"]) for r in rows]) for key in row[name]}
            for name in names
        }
    return result


if __name__ == "__main__":
    sys.exit(main())
