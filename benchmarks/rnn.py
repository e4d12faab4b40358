"""Speed of the hand-wired RNN: closed form against the step-by-step recurrence.

Run: .venv/bin/python benchmarks/rnn.py [--batch 10000] [--length 10000]
Prints sequence-steps per second (batch * length / seconds) for each path and dtype, and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from a3lab.rnn.closed_form import alternating_sum, recurrence


def best_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    B, T = args.batch, args.length
    print(f"batch {B}, length {T}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'dtype':<8} {'path':<12} {'seconds':>9} {'steps/s':>12} {'vs recurrence':>14}")
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.int64, torch.float32):
        x = torch.randint(-1000, 1001, (B, T), generator=gen).to(dtype)
        t_rec = best_time(lambda x=x: recurrence(x), args.repeats)
        t_closed = best_time(lambda x=x: alternating_sum(x), args.repeats)
        assert torch.equal(recurrence(x)[:, -1], alternating_sum(x)), "closed form and recurrence disagree"
        name = str(dtype).removeprefix("torch.")
        for path, t in (("recurrence", t_rec), ("closed form", t_closed)):
            print(f"{name:<8} {path:<12} {t:>9.3f} {B * T / t:>12.3e} {t_rec / t:>13.1f}x")


if __name__ == "__main__":
    main()
