"""The GAN training loop: in-memory batches, EMA of G, atomic checkpoints with exact resume, signals, DDP.

Legend: B batch (per rank), Z latent dim, K classes.

One step (Goodfellow et al. 2014, with the pytorch/examples DCGAN structure):
  1. z ~ N(0, I), fake labels uniform over all K classes, fake = G(z, y_fake), kept for step 3.
  2. D step on real and fake.detach() (separate batches when D has batch norm), D loss, Adam step.
  3. G step: D (updated, frozen: no weight gradients) on the same fake, non-saturating or hinge G loss, Adam step.
  4. EMA of G's weights (Karras et al. 2018), with a warm-up so short runs are not dominated by the init.

A run folder holds `config.json`, `checkpoint.pt`, `history.json`, `grid_epoch_XXX.png`, `grid_latest.png`,
`losses.png` and, once training stops, `summary.json`.
"""

from __future__ import annotations

import copy
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from a3lab.data import ImageBatches, class_names, load_images
from a3lab.errors import A3labError, CheckpointError, TrainingDiverged, UserError
from a3lab.gan import models
from a3lab.gan.config import GANConfig
from a3lab.gan.plots import save_grid, save_loss_plot
from a3lab.gan.sampling import to_uint8
from a3lab.utils import (
    atomic_copy,
    atomic_torch_save,
    get_rng_state,
    load_checkpoint,
    progress,
    resolve_device,
    seed_everything,
    set_rng_state,
    write_json,
)

STAT_NAMES = ("d_loss", "g_loss", "d_real", "d_fake")
# Fields that may differ when a run is resumed (more epochs, a finer history); everything else must match.
RESUMABLE_CHANGES = ("epochs", "log_every")
# Generated images used to re-estimate the EMA generator's batch-norm statistics before it is used.
BN_REFRESH_EXAMPLES = 2048


def train(
    config: GANConfig,
    out_dir: str | Path,
    resume: bool = False,
    device: str | torch.device = "cpu",
    progress_bar: bool = True,
    max_minutes: float | None = None,
) -> dict:
    """Train a GAN (or continue one) and return a summary; under torchrun, every rank calls this.

    Args:
        config: what to train.
        out_dir: the run folder (created). Without `resume` it must not hold a checkpoint yet.
        resume: continue from `out_dir/checkpoint.pt` (the saved config must match `config` except for
            `epochs` and `log_every`). On CPU the result is bit-for-bit the uninterrupted run's. A run
            that already has `config.epochs` epochs returns at once.
        device: "cpu", "cuda", "auto" or a torch.device; under torchrun CUDA ranks use `cuda:LOCAL_RANK`.
        progress_bar: show a tqdm bar (rank 0 only) with losses, D(x), D(G(z)) and images per second.
        max_minutes: stop (with a checkpoint) after this much wall time; None: no limit.

    Returns:
        A JSON-serialisable summary: `run_dir`, `epochs_done`, `epochs`, `global_step`, `steps_per_epoch`,
        `stopped` ("completed", "interrupted" by SIGINT/SIGTERM, or "time_limit"), `seconds` (wall time of
        the whole run, all resumes included), `train_seconds` (time inside training steps), `images_seen`
        (real training images, all ranks), `images_per_second` (images_seen / train_seconds), `world_size`,
        `device`, and `final`: the last epoch's mean `d_loss`, `g_loss`, `d_real` (mean sigmoid D(x)) and
        `d_fake` (mean sigmoid D(G(z)) before the D step), or the partial epoch's when stopped mid-epoch.

    Raises:
        TrainingDiverged: a loss became NaN or infinite (the last good checkpoint is left untouched).
        CheckpointError: `resume` without a readable checkpoint.
        A3labError: `out_dir` already holds a run and `resume` is False.
    """
    return Trainer(config, out_dir, resume=resume, device=device, progress_bar=progress_bar).run(max_minutes)


def _distributed_context(device: torch.device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, this rank's device, whether we created the process group)."""
    if dist.is_available() and dist.is_initialized():
        rank, world, created = dist.get_rank(), dist.get_world_size(), False
    elif int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        rank, world, created = dist.get_rank(), dist.get_world_size(), True
    else:
        return 0, 1, device, False
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank % torch.cuda.device_count())))
        torch.cuda.set_device(device)
    return rank, world, device, created


@torch.no_grad()
def refresh_batch_norm(generator: nn.Module, config: GANConfig, seed: int, examples: int = BN_REFRESH_EXAMPLES) -> None:
    """Recompute the generator's batch-norm running statistics for its current weights.

    The EMA generator's weights are an average the running statistics were never measured on; sampling it in
    eval mode with G's statistics gives washed-out images. This runs `examples` generated images through it in
    train mode with a cumulative average (BigGAN's "standing statistics"), from its own seeded noise, so it
    leaves the global RNG alone and is reproducible.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(generator.parameters()).device
    noise = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the refresh batches
    generator.train()
    batch = 256
    for start in range(0, examples, batch):
        b = min(batch, examples - start)
        z = torch.randn(b, config.latent_dim, generator=noise).to(device)  # (b, Z)
        y = torch.randint(0, config.num_classes, (b,), generator=noise).to(device) if config.conditional else None
        generator(z, y)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    generator.eval()


class Trainer:
    """One GAN run: models, optimisers, EMA, data, RNG streams and the step loop (see `train`).

    Tests use it directly to inspect the models (`generator`, `discriminator`, `ema`) after `run()`.
    """

    def __init__(
        self,
        config: GANConfig,
        out_dir: str | Path,
        resume: bool = False,
        device: str | torch.device = "cpu",
        progress_bar: bool = True,
        data: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        """See `train`; `data` (uint8 images `[N, 28, 28]`, int64 labels `[N]`) replaces loading the data set."""
        self.config = config
        self.out_dir = Path(out_dir)
        self.checkpoint_path = self.out_dir / "checkpoint.pt"
        self.progress_bar = progress_bar
        device = resolve_device(device) if isinstance(device, str) else torch.device(device)
        self.rank, self.world_size, self.device, self._owns_process_group = _distributed_context(device)
        self.is_writer = self.rank == 0
        state = self._read_checkpoint() if resume else self._check_new_run_folder()

        self._build_models()
        self.batches = self._build_batches(data)
        self.steps_per_epoch = len(self.batches)
        fused = {"fused": True} if self.device.type in ("cpu", "cuda") else {}
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=config.betas, **fused)
        d_lr = config.lr if config.discriminator_lr is None else config.discriminator_lr
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=d_lr, betas=config.betas, **fused)

        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.images_seen = 0
        self.train_seconds = 0.0
        self.wall_seconds = 0.0
        self.history: dict = {"steps": [], "epochs": []}
        self._log_sum = torch.zeros(len(STAT_NAMES), dtype=torch.float64)
        self._epoch_sum = torch.zeros(len(STAT_NAMES), dtype=torch.float64)
        self._log_count = self._epoch_count = 0
        if state is not None:
            self._load_state(state)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        if state is not None:
            self.ema.load_state_dict(state["ema"])
        self.g_train, self.d_train = self._distributed_models()
        self._stop_signal: int | None = None

    def _read_checkpoint(self) -> dict:
        """The checkpoint to resume from, upgraded to the current format and checked against `config`."""
        if not self.checkpoint_path.is_file():
            raise CheckpointError(f"cannot resume: no checkpoint.pt in {self.out_dir}")
        state = load_checkpoint(self.checkpoint_path, map_location="cpu")
        try:
            state = models.upgrade_checkpoint(state)
            saved = GANConfig.from_dict(state["config"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise CheckpointError(f"{self.checkpoint_path} does not hold a GAN run: {e}") from None
        _check_resume_config(saved, self.config)
        return state

    def _check_new_run_folder(self) -> None:
        if self.checkpoint_path.exists():
            raise A3labError(
                f"{self.out_dir} already holds a run (checkpoint.pt): continue it with --resume {self.out_dir} "
                "or choose another --out"
            )

    def _build_models(self) -> None:
        """G and D with the same initial weights on every rank (DDP also broadcasts rank 0's), then each rank's
        own RNG streams, the fixed noise of the sample grids."""
        config = self.config
        seed_everything(config.seed)
        self.generator, self.discriminator = models.build_models(config)
        # Channels-last: oneDNN's CPU convolutions are faster in NHWC. No-op for the MLP's 2-D weights.
        self.memory_format = torch.channels_last if config.arch == "dcgan" else torch.contiguous_format
        self.generator.to(self.device, memory_format=self.memory_format)
        self.discriminator.to(self.device, memory_format=self.memory_format)
        self._d_batch_norm = models.has_batch_norm(self.discriminator)
        seed_everything(config.seed, self.rank)
        self.noise = torch.Generator(self.device).manual_seed(config.seed * 1_000_003 + 7919 * (self.rank + 1))
        fixed = torch.Generator().manual_seed(config.seed)
        self.fixed_noise = torch.randn(100, config.latent_dim, generator=fixed)  # (100, Z): the grid, every epoch
        # One row per class (all ten, 0..9), ten samples each.
        self.fixed_labels = torch.arange(10).repeat_interleave(10) if config.conditional else None

    def _build_batches(self, data: tuple[torch.Tensor, torch.Tensor] | None) -> ImageBatches:
        config = self.config
        images, labels = load_images(config.dataset, train=True) if data is None else data
        if config.train_examples is not None:
            if config.train_examples > len(images):
                raise UserError(
                    f"`train_examples` must be <= {len(images)} (the training split), got {config.train_examples}"
                )
            images, labels = images[: config.train_examples], labels[: config.train_examples]
        batches = ImageBatches(
            images, labels, batch_size=config.batch_size, shuffle=True, drop_last=True, scale="symmetric",
            seed=config.seed, device=self.device, rank=self.rank, world_size=self.world_size,
        )  # fmt: skip
        if len(batches) == 0:
            raise UserError(
                f"`batch_size` {config.batch_size} is larger than the {batches.shard_size} training images "
                f"per process: lower it or use more `train_examples`"
            )
        return batches

    def _distributed_models(self) -> tuple[nn.Module, nn.Module]:
        """The modules the steps call: G and D themselves, or their DDP wrappers under torchrun."""
        if self.world_size == 1:
            return self.generator, self.discriminator
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(self.generator, device_ids=ids), DDP(self.discriminator, device_ids=ids)

    @property
    def step_in_epoch(self) -> int:
        """Steps done in the current epoch (the data's position)."""
        return self.batches.step

    # ------------------------------------------------------------------------- state

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (tensors and plain values only: loads with weights_only)."""
        noise_states = [self.noise.get_state().cpu()]
        if self.world_size > 1:
            gathered: list = [None] * self.world_size
            dist.all_gather_object(gathered, noise_states[0])
            noise_states = gathered
        return {
            "format": models.CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": get_rng_state(),
            "noise_rng": noise_states,
            "data": self.batches.state_dict(),
            "progress": {
                "epoch": self.epoch,
                "step_in_epoch": self.step_in_epoch,
                "global_step": self.global_step,
                "images_seen": self.images_seen,
                "train_seconds": self.train_seconds,
                "wall_seconds": self.wall_seconds,
                "world_size": self.world_size,
            },
            "meters": {
                "log_sum": self._log_sum.clone(),
                "log_count": self._log_count,
                "epoch_sum": self._epoch_sum.clone(),
                "epoch_count": self._epoch_count,
            },
            "history": self.history,
        }

    def _load_state(self, state: dict) -> None:
        try:
            self.generator.load_state_dict(state["generator"])
            self.discriminator.load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            p = state["progress"]
            self.epoch, self.global_step = p["epoch"], p["global_step"]
            self.images_seen, self.train_seconds, self.wall_seconds = (
                p["images_seen"], p["train_seconds"], p["wall_seconds"],
            )  # fmt: skip
            self.batches.load_state_dict({"step": p["step_in_epoch"], **state["data"]})
            m = state["meters"]
            self._log_sum, self._log_count = m["log_sum"].clone(), m["log_count"]
            self._epoch_sum, self._epoch_count = m["epoch_sum"].clone(), m["epoch_count"]
            self.history = state["history"]
            if self.rank == 0:
                set_rng_state(state["rng"])
            noise = state["noise_rng"]
            if len(noise) == self.world_size:
                self.noise.set_state(noise[self.rank].to(self.noise.get_state().device))
            elif self.is_writer:
                print(
                    f"a3lab: note: checkpoint written by {len(noise)} processes, resuming with {self.world_size}: "
                    "the noise streams restart, so this is not the exact continuation",
                    file=sys.stderr,
                )
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise CheckpointError(f"{self.checkpoint_path} does not match this GAN: {e}") from None

    # ------------------------------------------------------------------------- one step

    def train_step(self, real: torch.Tensor, real_labels: torch.Tensor) -> torch.Tensor:
        """One D step and one G step on a batch of real images; returns d_loss, g_loss, D(x), D(G(z)).

        Shapes: real `[B, 1, 28, 28]` in [-1, 1], real_labels `[B]` -> stats float64 `[4]` on the CPU.
        """
        config = self.config
        B = real.shape[0]
        real = real.contiguous(memory_format=self.memory_format)
        z = torch.randn(B, config.latent_dim, generator=self.noise, device=self.device)  # (B, Z)
        fake_labels = None
        if config.conditional:
            # All K classes (randint's high is exclusive: the classic off-by-one passes K - 1 and never draws 9).
            fake_labels = torch.randint(0, config.num_classes, (B,), generator=self.noise, device=self.device)
        fake = self.g_train(z, fake_labels)  # (B, 1, 28, 28), its graph kept for the G step

        # ---- D step: maximise log D(x) + log(1 - D(G(z))) (or the hinge version)
        if self._d_batch_norm:  # separate real and fake batches: batch statistics must not mix them
            real_logits = self.d_train(real, real_labels if fake_labels is not None else None)  # (B,)
            fake_logits = self.d_train(fake.detach(), fake_labels)  # (B,)
        else:  # one call for both halves
            both = torch.cat([real, fake.detach()])  # (2B, 1, 28, 28)
            both_labels = torch.cat([real_labels, fake_labels]) if fake_labels is not None else None
            logits = self.d_train(both, both_labels)  # (2B,)
            real_logits, fake_logits = logits[:B], logits[B:]
        d_loss = models.discriminator_loss(real_logits, fake_logits, config.loss)
        for network, optimiser in (("generator", self.opt_g), ("discriminator", self.opt_d)):
            for group in optimiser.param_groups:
                group["lr"] = self.learning_rate(network)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # ---- G step: D frozen, so backward computes no D weight gradients (and DDP reduces none)
        self.discriminator.requires_grad_(False)
        g_loss = models.generator_loss(self.discriminator(fake, fake_labels), config.loss)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        self._update_ema()

        with torch.no_grad():
            d_real, d_fake = torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()
            return torch.stack([d_loss.detach(), g_loss.detach(), d_real, d_fake]).double().cpu()

    def learning_rate(self, network: str = "generator") -> float:
        """The learning rate of "generator" or "discriminator" at this step: `lr` (`discriminator_lr`), falling
        linearly to zero over the last `lr_decay` of the `epochs * steps_per_epoch` steps (a function of the step
        alone, so a resumed run follows it)."""
        config = self.config
        lr = config.discriminator_lr if network == "discriminator" and config.discriminator_lr else config.lr
        total = config.epochs * self.steps_per_epoch
        decay_steps = config.lr_decay * total
        if decay_steps == 0 or self.global_step < total - decay_steps:
            return lr
        return lr * max(0.0, (total - self.global_step) / decay_steps)

    @torch.no_grad()
    def _update_ema(self) -> None:
        # Warm-up: the effective decay grows from 0.1 towards ema_decay, so early weights fade quickly.
        decay = min(self.config.ema_decay, (1 + self.global_step) / (10 + self.global_step))
        torch._foreach_lerp_(list(self.ema.parameters()), list(self.generator.parameters()), 1.0 - decay)
        for ema_buffer, buffer in zip(self.ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    # ------------------------------------------------------------------------- the loop

    def run(self, max_minutes: float | None = None, on_step: Callable[[Trainer], None] | None = None) -> dict:
        """Train until `config.epochs` epochs are done, a signal arrives or the time limit passes.

        Args:
            max_minutes: stop (with a checkpoint) after this much wall time; None: no limit.
            on_step: called with the trainer after every step, before the step's stop checks (e.g. to watch
                the learning rate or send a signal).
        """
        if max_minutes is not None and not max_minutes > 0:
            raise UserError(f"`max_minutes` must be > 0, got {max_minutes}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.is_writer:
            write_json(self.config.to_dict(), self.out_dir / "config.json")
        deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        previous = self._install_signal_handlers()
        self._wall_mark = time.monotonic()
        stopped = "completed"
        try:
            while self.epoch < self.config.epochs:
                stopped = self._run_epoch(deadline, on_step)
                if stopped != "completed":
                    break
        finally:
            self._restore_signal_handlers(previous)
        self._tick_wall()
        summary = self._summary(stopped)
        if self.is_writer:
            write_json(summary, self.out_dir / "summary.json")
        if self._owns_process_group:
            dist.destroy_process_group()
        return summary

    def _tick_wall(self) -> None:
        """Add the wall time since the last tick to `wall_seconds` (kept across resumes)."""
        now = time.monotonic()
        self.wall_seconds += now - self._wall_mark
        self._wall_mark = now

    def _run_epoch(self, deadline: float | None, on_step: Callable[[Trainer], None] | None) -> str:
        """The rest of the current epoch: "completed", or why it stopped early ("interrupted", "time_limit")."""
        config, B = self.config, self.config.batch_size
        bar = progress(
            total=self.steps_per_epoch,
            initial=self.step_in_epoch,
            desc=f"{config.arch} {'cGAN' if config.conditional else 'GAN'} epoch {self.epoch + 1}/{config.epochs}",
            disable=None if (self.progress_bar and self.is_writer) else True,
        )
        self.generator.train()
        self.discriminator.train()
        t_epoch, first_step = time.perf_counter(), self.step_in_epoch
        t0 = t_epoch  # a step's time includes indexing and scaling its batch
        for real, real_labels in self.batches:  # real (B, 1, 28, 28) in [-1, 1], real_labels (B,)
            stats = self.train_step(real, real_labels)
            self.train_seconds += time.perf_counter() - t0
            self.global_step += 1
            self.images_seen += B * self.world_size
            if on_step is not None:
                on_step(self)
            reason = self._after_step(stats, deadline)
            bar.update(1)
            if self.step_in_epoch % 10 == 1 or self.step_in_epoch == self.steps_per_epoch:
                images = (self.step_in_epoch - first_step) * B * self.world_size
                rate = images / max(time.perf_counter() - t_epoch, 1e-9)
                bar.set_postfix_str(
                    f"D {stats[0]:.3f} G {stats[1]:.3f} D(x) {stats[2]:.2f} D(G(z)) {stats[3]:.2f} {rate:,.0f} img/s"
                )
            if reason is not None:
                bar.close()
                self._write_checkpoint(epoch_done=False)
                if self.is_writer:
                    print(
                        f"a3lab: {reason.replace('_', ' ')} at epoch {self.epoch + 1}, step {self.step_in_epoch}/"
                        f"{self.steps_per_epoch}; checkpoint written, continue with --resume {self.out_dir}",
                        file=sys.stderr,
                    )
                return reason
            t0 = time.perf_counter()
        bar.close()
        self._end_epoch()
        return "completed"

    def _after_step(self, stats: torch.Tensor, deadline: float | None) -> str | None:
        """Account one step's stats; the reason to stop now (the same on every rank), or None.

        Raises:
            TrainingDiverged: a loss of this step is not finite.
        """
        stop_now = self._stop_signal is not None
        out_of_time = deadline is not None and time.monotonic() > deadline
        finite = bool(torch.isfinite(stats).all())
        flags = torch.tensor([float(stop_now), float(out_of_time), float(not finite)])
        if self.world_size > 1:  # every rank stops at the same step
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        if flags[2]:
            self._diverged(stats)
        self._log_sum += stats
        self._epoch_sum += stats
        self._log_count += 1
        self._epoch_count += 1
        if self._log_count == self.config.log_every:
            self._flush_log()
        if flags[0]:
            return "interrupted"
        return "time_limit" if flags[1] else None

    def _flush_log(self) -> None:
        if self._log_count:
            mean = (self._log_sum / self._log_count).tolist()
            self.history["steps"].append({"step": self.global_step, "epoch": self.epoch + 1, **_named(mean)})
        self._log_sum.zero_()
        self._log_count = 0

    def _end_epoch(self) -> None:
        self._flush_log()
        mean = self._epoch_sum / max(self._epoch_count, 1)
        if self.world_size > 1:
            dist.all_reduce(mean, op=dist.ReduceOp.SUM)
            mean /= self.world_size
        self._epoch_sum.zero_()
        self._epoch_count = 0
        self.epoch += 1
        self.history["epochs"].append(
            {
                "epoch": self.epoch,
                "step": self.global_step,
                **_named(mean.tolist()),
                "images_per_second": self.images_seen / max(self.train_seconds, 1e-9),
            }
        )
        self._write_checkpoint(epoch_done=True)

    def _write_checkpoint(self, epoch_done: bool) -> None:
        """Checkpoint and plots (all ranks take part in gathering the RNG states; rank 0 writes)."""
        self._tick_wall()
        if self.world_size > 1:
            # Each rank's last forward updated the batch-norm statistics with its own batch: take rank 0's.
            for buffer in [*self.generator.buffers(), *self.discriminator.buffers()]:
                dist.broadcast(buffer, src=0)
        if self.is_writer:
            # Standing statistics for the EMA generator, from a fixed seed (deterministic for resume).
            refresh_batch_norm(self.ema, self.config, seed=self.config.seed + 1)
        state = self.state_dict()
        if self.is_writer:
            self._save_plots(epoch_done)
            write_json(self.history, self.out_dir / "history.json")
            atomic_torch_save(state, self.checkpoint_path)
        if self.world_size > 1:
            dist.barrier()
        self._tick_wall()

    def _save_plots(self, epoch_done: bool) -> None:
        """The fixed-noise grid (`grid_latest.png`, and `grid_epoch_XXX.png` at an epoch's end) and `losses.png`."""
        config = self.config
        labels = self.fixed_labels.to(self.device) if self.fixed_labels is not None else None
        with torch.no_grad():
            images = to_uint8(self.ema(self.fixed_noise.to(self.device), labels)[:, 0]).cpu()  # (100, 28, 28)
        kind = "conditional GAN" if config.conditional else "GAN"
        epochs = self.epoch + self.step_in_epoch / self.steps_per_epoch
        title = f"{config.dataset} {config.arch} {kind}, epoch {round(epochs, 2):g} (EMA generator)"
        rows = class_names(config.dataset) if config.conditional else None
        latest = save_grid(images, self.out_dir / "grid_latest.png", nrow=10, row_labels=rows, title=title)
        if epoch_done:
            atomic_copy(latest, self.out_dir / f"grid_epoch_{self.epoch:03d}.png")
        if self.history["steps"]:
            save_loss_plot(self.history, self.out_dir / "losses.png", title=f"{config.dataset} {config.arch} {kind}")

    def _diverged(self, stats: torch.Tensor) -> None:
        values = ", ".join(f"{n}={v:.4g}" for n, v in zip(STAT_NAMES, stats.tolist()))
        kept = (
            f"the last good checkpoint {self.checkpoint_path} is kept"
            if self.checkpoint_path.exists()
            else "no checkpoint had been written yet"
        )
        if self._owns_process_group:
            dist.destroy_process_group()
        raise TrainingDiverged(
            f"training diverged at epoch {self.epoch + 1}, step {self.step_in_epoch} (a loss is not finite: "
            f"{values}); {kept}; try a lower --lr"
        )

    def _summary(self, stopped: str) -> dict:
        if self.history["epochs"] and self.step_in_epoch == 0:
            last = self.history["epochs"][-1]
            final = {n: last[n] for n in STAT_NAMES}
        elif self._epoch_count:
            final = _named((self._epoch_sum / self._epoch_count).tolist())
        else:
            final = {n: math.nan for n in STAT_NAMES}
        return {
            "run_dir": str(self.out_dir),
            "epochs_done": self.epoch,
            "epochs": self.config.epochs,
            "global_step": self.global_step,
            "steps_per_epoch": self.steps_per_epoch,
            "stopped": stopped,
            "seconds": self.wall_seconds,
            "train_seconds": self.train_seconds,
            "images_seen": self.images_seen,
            "images_per_second": self.images_seen / self.train_seconds if self.train_seconds else 0.0,
            "world_size": self.world_size,
            "device": str(self.device),
            "final": final,
        }

    # ------------------------------------------------------------------------- signals

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum, frame):
            if self._stop_signal is not None:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_signal = signum
            if self.is_writer:
                print(
                    f"\na3lab: {signal.Signals(signum).name}: finishing the step and writing a checkpoint "
                    "(again to abort at once)",
                    file=sys.stderr,
                )

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous

    @staticmethod
    def _restore_signal_handlers(previous: dict) -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _named(values: list[float]) -> dict[str, float]:
    return dict(zip(STAT_NAMES, values))


def _check_resume_config(saved: GANConfig, given: GANConfig) -> None:
    a, b = saved.to_dict(), given.to_dict()
    differ = [k for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]]
    if differ:
        changes = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in differ)
        raise UserError(f"`resume`: the run was trained with other settings ({changes}); only `epochs` may change")
