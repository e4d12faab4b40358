"""GAN checkpoints: the one reader (`read_checkpoint`), what a training state holds (`capture`, `restore`),
and the checks before a run is resumed.

A checkpoint holds tensors and plain values only, so it loads with `weights_only` (no pickled code runs):
{"format", "config", "generator", "discriminator", "ema", "opt_g", "opt_d", "rng", "noise_rng", "data",
"progress", "meters", "history"}.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch.distributed as dist

from a3lab.errors import CheckpointError, UserError
from a3lab.gan import folder, models
from a3lab.gan.config import GANConfig
from a3lab.utils import get_rng_state, load_checkpoint, set_rng_state

if TYPE_CHECKING:
    from a3lab.gan.trainer import Trainer

# Fields that may differ when a run is resumed (more epochs, a finer history); everything else must match.
RESUMABLE_CHANGES = ("epochs", "log_every")


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], GANConfig]:
    """A GAN training checkpoint (on the CPU, upgraded to the current format) and its config.

    Raises:
        CheckpointError: the file is missing or unreadable, holds something else, or a config that is not a
            GAN config.
    """
    path = Path(path)
    state = load_checkpoint(path, map_location="cpu")
    if not (isinstance(state, dict) and isinstance(state.get("config"), dict) and "progress" in state):
        keys = ", ".join(sorted(map(str, state))[:5]) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not a GAN training checkpoint (it holds {keys})")
    try:
        state = models.upgrade_checkpoint(state)
        config = GANConfig.from_dict(state["config"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise CheckpointError(f"{path} does not hold a GAN run: {e}") from None
    return state, config


def resume_config(run_dir: Path, epochs: int | None = None, removed_temps: Iterable[str] = ()) -> GANConfig:
    """The config to continue the run in `run_dir` with, checked before anything is written: `epochs` (None:
    the run's own) not below the epochs done. A missing checkpoint says whether its first write was
    interrupted (`removed_temps`: the partial files the run folder removed) and how to start again."""
    path = Path(run_dir) / folder.CHECKPOINT
    if not path.is_file():
        interrupted = [n for n in removed_temps if n.startswith(f".{folder.CHECKPOINT}.")]
        why = (
            f"its first checkpoint write was interrupted (removed the partial file {interrupted[0]})"
            if interrupted
            else "no checkpoint was ever written"
        )
        raise CheckpointError(f"nothing to resume in {run_dir}: {why}; {_start_again(Path(run_dir))}")
    state, config = read_checkpoint(path)
    done = int(state["progress"]["epoch"])
    if epochs is not None:
        if epochs < done:
            raise UserError(f"`epochs` {epochs} is below the {done} epochs the run has done")
        config.epochs = epochs
    return config


def _start_again(run_dir: Path) -> str:
    """How to start over: in the same folder only when nothing but a GAN run's files (and hidden ones) is in it,
    since --force there would put a GAN run beside another command's files."""
    own = set(folder.RUN_FILES) | {p.name for pattern in folder.RUN_FILE_PATTERNS for p in run_dir.glob(pattern)}
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in own and not p.name.startswith("."))
    if foreign:
        return f"it holds files of another kind ({', '.join(foreign[:3])}): start a new run with --out NEW_FOLDER"
    return f"start the run again with --out {run_dir} --force"


def check_resume_config(saved: GANConfig, given: GANConfig) -> None:
    """A run continues with the settings it was trained with (`RESUMABLE_CHANGES` aside)."""
    a, b = saved.to_dict(), given.to_dict()
    differ = [k for k in a if k not in RESUMABLE_CHANGES and a[k] != b[k]]
    if differ:
        changes = ", ".join(f"{k}: {a[k]!r} -> {b[k]!r}" for k in differ)
        raise UserError(f"`resume`: the run was trained with other settings ({changes}); only `epochs` may change")


def last_good_checkpoint(run_dir: Path) -> str:
    """'; the last good checkpoint (epoch N) ...' for a failed write, or '' when there is none."""
    try:
        state, _ = read_checkpoint(Path(run_dir) / folder.CHECKPOINT)
        epoch = int(state["progress"]["epoch"])
    except (CheckpointError, KeyError, TypeError, ValueError):  # no readable checkpoint: nothing more to say
        return ""
    return f"; the last good checkpoint (epoch {epoch}) is intact: continue with --resume {run_dir}"


# ----------------------------------------------------------------------------------------------------------------
# a trainer's state


def capture(trainer: Trainer) -> dict[str, Any]:
    """Everything needed to continue `trainer` exactly (every rank takes part in gathering the noise streams)."""
    noise_states = [trainer.noise.get_state().cpu()]
    if trainer.world_size > 1:
        gathered: list = [None] * trainer.world_size
        dist.all_gather_object(gathered, noise_states[0])
        noise_states = gathered
    return {
        "format": models.CHECKPOINT_FORMAT,
        "config": trainer.config.to_dict(),
        "generator": trainer.generator.state_dict(),
        "discriminator": trainer.discriminator.state_dict(),
        "ema": trainer.ema.state_dict(),
        "opt_g": trainer.opt_g.state_dict(),
        "opt_d": trainer.opt_d.state_dict(),
        "rng": get_rng_state(),
        "noise_rng": noise_states,
        "data": trainer.batches.state_dict(),
        "progress": {
            "epoch": trainer.epoch,
            "step_in_epoch": trainer.step_in_epoch,
            "global_step": trainer.global_step,
            "images_seen": trainer.images_seen,
            "train_seconds": trainer.train_seconds,
            "wall_seconds": trainer.wall_seconds,
            "world_size": trainer.world_size,
        },
        "meters": trainer.losses.state_dict(),
        "history": trainer.losses.history,
    }


def restore(trainer: Trainer, state: dict[str, Any]) -> None:
    """Load a `capture`d state into a freshly built trainer of the same config.

    Raises:
        CheckpointError: the state does not fit the trainer's networks.
    """
    try:
        trainer.generator.load_state_dict(state["generator"])
        trainer.discriminator.load_state_dict(state["discriminator"])
        trainer.ema.load_state_dict(state["ema"])
        trainer.opt_g.load_state_dict(state["opt_g"])
        trainer.opt_d.load_state_dict(state["opt_d"])
        p = state["progress"]
        trainer.epoch, trainer.global_step = p["epoch"], p["global_step"]
        trainer.images_seen, trainer.train_seconds, trainer.wall_seconds = (
            p["images_seen"], p["train_seconds"], p["wall_seconds"],
        )  # fmt: skip
        trainer.batches.load_state_dict({"step": p["step_in_epoch"], **state["data"]})
        trainer.losses.load_state_dict(state["meters"], state["history"])
        if trainer.rank == 0:
            set_rng_state(state["rng"])
        _restore_noise(trainer, state["noise_rng"])
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{trainer.checkpoint_path} does not match this GAN: {e}") from None


def _restore_noise(trainer: Trainer, noise: list) -> None:
    """Each rank's own noise stream, where the checkpoint was written by as many ranks."""
    if len(noise) == trainer.world_size:
        trainer.noise.set_state(noise[trainer.rank].to(trainer.noise.get_state().device))
    elif trainer.is_writer:
        print(
            f"a3lab: note: checkpoint written by {len(noise)} processes, resuming with {trainer.world_size}: "
            "the noise streams restart, so this is not the exact continuation",
            file=sys.stderr,
        )
