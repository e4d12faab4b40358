"""The GAN training loop: in-memory batches, EMA of G, atomic checkpoints with exact resume, signals, DDP.

Legend: B batch (per rank), Z latent dim, K classes.

One step (the optimisers, the schedule, the EMA) is `a3lab.gan.step`'s; what a run folder holds is
`a3lab.gan.folder`'s; the checkpoint's contents `a3lab.gan.checkpoint`'s; the loss history
`a3lab.gan.history`'s; stopping on a signal `a3lab.gan.signals`'s.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from a3lab.data import ImageBatches, class_names, load_images
from a3lab.errors import A3labError, CheckpointError, TrainingDiverged, UserError
from a3lab.gan import checkpoint, distributed, folder, models, step
from a3lab.gan.config import GANConfig
from a3lab.gan.history import STAT_NAMES, LossLog
from a3lab.gan.plots import save_grid, save_loss_plot
from a3lab.gan.sampling import refresh_batch_norm, to_uint8
from a3lab.gan.signals import StopSignals
from a3lab.utils import atomic_copy, atomic_torch_save, progress, resolve_device, seed_everything, write_json


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
        self.checkpoint_path = self.out_dir / folder.CHECKPOINT
        self.progress_bar = progress_bar
        device = resolve_device(device) if isinstance(device, str) else torch.device(device)
        self.rank, self.world_size, self.device, self._owns_process_group = distributed.context(device)
        self.is_writer = self.rank == 0
        state = self._read_checkpoint() if resume else self._check_new_run_folder()

        self._build_models()
        self.batches = self._build_batches(data)
        self.steps_per_epoch = len(self.batches)
        self.opt_g, self.opt_d = step.optimisers(config, self.generator, self.discriminator, self.device)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)

        self.epoch = 0  # completed epochs
        self.global_step = 0
        self.images_seen = 0
        self.train_seconds = 0.0
        self.wall_seconds = 0.0
        self.losses = LossLog(config.log_every)
        if state is not None:
            checkpoint.restore(self, state)
        self.g_train, self.d_train = self._distributed_models()
        self.signals = StopSignals(announce=self.is_writer)

    @property
    def history(self) -> dict:
        """The loss history (`history.json`)."""
        return self.losses.history

    def _read_checkpoint(self) -> dict:
        """The checkpoint to resume from, checked against `config`."""
        if not self.checkpoint_path.is_file():
            raise CheckpointError(f"cannot resume: no {folder.CHECKPOINT} in {self.out_dir}")
        state, saved = checkpoint.read_checkpoint(self.checkpoint_path)
        checkpoint.check_resume_config(saved, self.config)
        return state

    def _check_new_run_folder(self) -> None:
        if self.checkpoint_path.exists():
            raise A3labError(
                f"{self.out_dir} already holds a run ({folder.CHECKPOINT}): continue it with --resume "
                f"{self.out_dir} or choose another --out"
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
        self.d_batch_norm = models.has_batch_norm(self.discriminator)
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

    def state_dict(self) -> dict:
        """Everything needed to continue exactly (`a3lab.gan.checkpoint.capture`)."""
        return checkpoint.capture(self)

    # ------------------------------------------------------------------------- one step

    def train_step(self, real: torch.Tensor, real_labels: torch.Tensor) -> torch.Tensor:
        """One D step and one G step (`a3lab.gan.step.train_step`); returns d_loss, g_loss, D(x), D(G(z)).

        Shapes: real `[B, 1, 28, 28]` in [-1, 1], real_labels `[B]` -> stats float64 `[4]` on the CPU.
        """
        return step.train_step(self, real, real_labels)

    def learning_rate(self, network: str = "generator") -> float:
        """The learning rate of "generator" or "discriminator" at this step (`a3lab.gan.step.learning_rate`)."""
        return step.learning_rate(self.config, network, self.global_step, self.steps_per_epoch)

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
            write_json(self.config.to_dict(), self.out_dir / folder.CONFIG)
        deadline = None if max_minutes is None else time.monotonic() + 60.0 * max_minutes
        self._wall_mark = time.monotonic()
        stopped = "completed"
        with self.signals:
            while self.epoch < self.config.epochs and stopped == "completed":
                stopped = self._run_epoch(deadline, on_step)
        self._tick_wall()
        summary = self._summary(stopped)
        if self.is_writer:
            write_json(summary, self.out_dir / folder.SUMMARY)
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
        stop_now = self.signals.received is not None
        out_of_time = deadline is not None and time.monotonic() > deadline
        finite = bool(torch.isfinite(stats).all())
        flags = torch.tensor([float(stop_now), float(out_of_time), float(not finite)])
        if self.world_size > 1:  # every rank stops at the same step
            dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        if flags[2]:
            self._diverged(stats)
        self.losses.add(stats, self.global_step, self.epoch + 1)
        if flags[0]:
            return "interrupted"
        return "time_limit" if flags[1] else None

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.losses.end_epoch(
            self.epoch,
            self.global_step,
            images_per_second=self.images_seen / max(self.train_seconds, 1e-9),
            reduce=distributed.mean_over_ranks if self.world_size > 1 else None,
        )
        self._write_checkpoint(epoch_done=True)

    def _write_checkpoint(self, epoch_done: bool) -> None:
        """Checkpoint and plots (all ranks take part in gathering the RNG states; rank 0 writes)."""
        self._tick_wall()
        if self.world_size > 1:
            # Each rank's last forward updated the batch-norm statistics with its own batch: take rank 0's.
            distributed.buffers_from_rank_0(self.generator, self.discriminator)
        if self.is_writer:
            # Standing statistics for the EMA generator, from a fixed seed (deterministic for resume).
            refresh_batch_norm(self.ema, self.config, seed=self.config.seed + 1)
        state = self.state_dict()
        if self.is_writer:
            self._save_plots(epoch_done)
            write_json(self.history, self.out_dir / folder.HISTORY)
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
        latest = save_grid(images, self.out_dir / folder.GRID_LATEST, nrow=10, row_labels=rows, title=title)
        if epoch_done:
            atomic_copy(latest, self.out_dir / folder.grid_of_epoch(self.epoch))
        if self.history["steps"]:
            save_loss_plot(self.history, self.out_dir / folder.LOSSES, title=f"{config.dataset} {config.arch} {kind}")

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
            "final": self.losses.final(mid_epoch=self.step_in_epoch != 0),
        }
