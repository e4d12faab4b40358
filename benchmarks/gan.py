"""GAN speed: a3lab's training and sampling loops against a plain reference loop, and a bounded real run.

Run by hand (never by pytest):

    A3LAB_DATA=/work/shared/data python benchmarks/gan.py                      # the speed table
    A3LAB_DATA=/work/shared/data python benchmarks/gan.py --real-run-minutes 5 # + a bounded MNIST cGAN run

Speed table, per architecture (mlp, dcgan) and batch size (64, 256), same models, same process:
- ours: `a3lab.gan.Trainer`'s step over `ImageBatches` (whole batches indexed and scaled at once, one D forward
  for real and fake together, D frozen during the G step, fused Adam) and `a3lab.gan.sample` (eval mode, no grad);
- reference: the loop most GAN tutorials write (PyTorch-GAN's cgan.py): a `DataLoader` over the same torchvision
  dataset with per-sample `ToTensor` + `Normalize` transforms, sigmoid + `BCELoss`, G step then D step with
  separate real and fake forwards, default Adam; sampling calls G with autograd on, batch by batch.
Images per second are medians over timed steps after warm-up, ours and the reference interleaved
(`--repeats` rounds), so a shared machine's load hits both alike; read the ratio. Like the a3lab CLI, the script
first makes glibc malloc keep freed memory (`a3lab.utils.keep_freed_memory`), which speeds up both loops;
`--default-malloc` leaves it alone.

The real run trains a conditional GAN (DCGAN by default, `--real-run-arch mlp --real-run-projection` for the MLP
with a projection discriminator) for as long as `--real-run-minutes` allows, then reports its throughput and, when
`a3lab.gan_eval` is installed, the conditional accuracy of 2,000 samples of the EMA generator judged by the domain
CNN.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from a3lab.data import load_images
from a3lab.gan import GANConfig, Trainer, build_models, load_generator, sample, train
from a3lab.utils import keep_freed_memory, write_json


def ours_train_rate(config: GANConfig, data, steps: int, warmup: int) -> float:
    """Images per second of a3lab's training step (data indexing and scaling included)."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config, Path(tmp) / "run", progress_bar=False, data=data)
        batches, times = iter(trainer.batches), []
        for _ in range(warmup + steps):
            t0 = time.perf_counter()
            real, labels = next(batches)  # (B, 1, 28, 28), (B,)
            stats = trainer.train_step(real, labels)
            bool(torch.isfinite(stats).all())  # the loop's divergence check
            times.append(time.perf_counter() - t0)
    return config.batch_size / statistics.median(times[warmup:])


def reference_train_rate(config: GANConfig, root: str | None, steps: int, warmup: int) -> float:
    """Images per second of the tutorial loop over a torchvision DataLoader with per-sample transforms."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from a3lab.data import find_root

    tv = datasets.MNIST if config.dataset == "mnist" else datasets.FashionMNIST
    dataset = tv(
        str(find_root(config.dataset, root)[0]),
        train=True,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])]),
    )
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=True, drop_last=True)
    torch.manual_seed(config.seed)
    generator, discriminator = build_models(config)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=config.betas)
    bce = nn.BCELoss()
    times = []
    t0 = time.perf_counter()
    for i, (imgs, labels) in enumerate(loader):
        B = imgs.shape[0]
        valid, fake = torch.ones(B), torch.zeros(B)
        y = labels if config.conditional else None
        # G step
        opt_g.zero_grad()
        z = torch.randn(B, config.latent_dim)
        gen_labels = torch.randint(0, config.num_classes, (B,)) if config.conditional else None
        gen_imgs = generator(z, gen_labels)
        g_loss = bce(torch.sigmoid(discriminator(gen_imgs, gen_labels)), valid)
        g_loss.backward()
        opt_g.step()
        # D step
        opt_d.zero_grad()
        real_loss = bce(torch.sigmoid(discriminator(imgs, y)), valid)
        fake_loss = bce(torch.sigmoid(discriminator(gen_imgs.detach(), gen_labels)), fake)
        d_loss = (real_loss + fake_loss) / 2
        d_loss.backward()
        opt_d.step()
        d_loss.item(), g_loss.item()  # the tutorial prints them every step
        t1 = time.perf_counter()
        times.append(t1 - t0)  # includes fetching the batch from the DataLoader
        t0 = t1
        if i + 1 == warmup + steps:
            break
    return config.batch_size / statistics.median(times[warmup:])


def ours_sample_rate(generator: nn.Module, config: GANConfig, batch_size: int, n: int) -> float:
    sample(generator, config, batch_size, batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    sample(generator, config, n, batch_size=batch_size)
    return n / (time.perf_counter() - t0)


def reference_sample_rate(generator: nn.Module, config: GANConfig, batch_size: int, n: int) -> float:
    """The tutorial's way: G left in train mode, autograd on, images rescaled to uint8 batch by batch."""
    generator.train()
    out = []
    t0 = time.perf_counter()
    for start in range(-batch_size, n, batch_size):  # first batch: warm-up
        if start == 0:
            t0 = time.perf_counter()
        b = min(batch_size, n - max(start, 0))
        z = torch.randn(b, config.latent_dim)
        labels = torch.randint(0, config.num_classes, (b,)) if config.conditional else None
        images = generator(z, labels)
        out.append((images.data * 0.5 + 0.5).mul(255).round().clamp(0, 255).to(torch.uint8))
    elapsed = time.perf_counter() - t0
    generator.eval()
    return n / elapsed


def speed_table(args: argparse.Namespace) -> list[dict]:
    data = load_images(args.dataset, train=True)
    rows = []
    for arch in args.archs:
        for batch_size in args.batch_sizes:
            config = GANConfig(
                dataset=args.dataset, arch=arch, conditional=True, batch_size=batch_size, channels=args.channels
            )
            ours_t, ref_t, ours_s, ref_s = [], [], [], []
            generator = build_models(config)[0].eval()
            for _ in range(args.repeats):
                ours_t.append(ours_train_rate(config, data, args.steps, args.warmup))
                ref_t.append(reference_train_rate(config, None, args.steps, args.warmup))
                ours_s.append(ours_sample_rate(generator, config, batch_size, args.sample_n))
                ref_s.append(reference_sample_rate(generator, config, batch_size, args.sample_n))
            row = {
                "arch": arch,
                "batch_size": batch_size,
                "train_ours": statistics.median(ours_t),
                "train_reference": statistics.median(ref_t),
                "sample_ours": statistics.median(ours_s),
                "sample_reference": statistics.median(ref_s),
            }
            row["train_ratio"] = row["train_ours"] / row["train_reference"]
            row["sample_ratio"] = row["sample_ours"] / row["sample_reference"]
            rows.append(row)
            print(_format_row(row), flush=True)
    return rows


def _format_row(r: dict) -> str:
    return (
        f"| {r['arch']:5} | {r['batch_size']:5} | {r['train_ours']:9,.0f} | {r['train_reference']:9,.0f} | "
        f"{r['train_ratio']:5.2f}x | {r['sample_ours']:9,.0f} | {r['sample_reference']:9,.0f} | "
        f"{r['sample_ratio']:5.2f}x |"
    )


def real_run(args: argparse.Namespace, out_dir: Path) -> dict:
    """Train the conditional DCGAN on real data for a bounded time; judge its samples with the domain CNN."""
    config = GANConfig(
        dataset=args.dataset,
        arch=args.real_run_arch,
        conditional=True,
        projection=args.real_run_projection,
        epochs=100,
        channels=args.channels,
    )
    summary = train(config, out_dir, progress_bar=True, max_minutes=args.real_run_minutes)
    result = {"config": config.to_dict(), "train": summary}
    try:
        from a3lab.gan import metrics
        from a3lab.gan.evaluate import load_classifier
    except ImportError:
        print("a3lab.gan_eval not installed: no conditional accuracy")
        return result
    generator, config = load_generator(out_dir)
    images, labels = sample(generator, config, args.judge_n, seed=1)
    judge = load_classifier(args.dataset)
    with torch.no_grad():
        logits = torch.cat([judge(batch.float().div(255).unsqueeze(1)) for batch in images.split(500)])
    accuracy, per_class = metrics.conditional_accuracy(logits.argmax(1), labels)
    result["conditional_accuracy"] = accuracy
    result["per_class_accuracy"] = per_class
    result["judged_images"] = args.judge_n
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--archs", nargs="+", default=["mlp", "dcgan"], choices=["mlp", "dcgan"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--channels", type=int, default=GANConfig.channels, help="dcgan width")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds (median taken)")
    parser.add_argument("--sample-n", type=int, default=2048, help="images per sampling measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--skip-speed", action="store_true", help="only the real run")
    parser.add_argument("--real-run-minutes", type=float, default=0.0, help="bounded real run (0: none)")
    parser.add_argument("--real-run-arch", default="dcgan", choices=["mlp", "dcgan"], help="real run's networks")
    parser.add_argument("--real-run-projection", action="store_true", help="real run: projection discriminator")
    parser.add_argument("--judge-n", type=int, default=2000, help="generated images judged after the real run")
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument(
        "--default-malloc", action="store_true", help="leave glibc malloc as it is (the CLI tunes it; both loops alike)"
    )
    args = parser.parse_args()
    malloc_tuned = False if args.default_malloc else keep_freed_memory()
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "dataset": args.dataset,
        "malloc_keeps_freed_memory": malloc_tuned,
    }
    if not args.skip_speed:
        malloc = "kept freed memory" if malloc_tuned else "default malloc"
        print(f"images per second, conditional models, {args.dataset}, {torch.get_num_threads()} thread(s), {malloc}")
        print("| arch  | batch | train ours | train ref | ratio | sample ours | sample ref | ratio |")
        print("|-------|-------|-----------|-----------|-------|-----------|-----------|-------|")
        results["speed"] = speed_table(args)
    if args.real_run_minutes > 0:
        out_dir = Path(tempfile.mkdtemp(prefix="gan-real-run-"))
        results["real_run"] = real_run(args, out_dir)
        results["real_run"]["run_dir"] = str(out_dir)
        print(json.dumps(results["real_run"], indent=2))
    if args.out is not None:
        write_json(results, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
