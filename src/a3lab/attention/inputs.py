"""What every attention function shares: the checks on q, k, v and the masks, and the rules for rows the
fused kernels get wrong or leave undefined (a non-finite query's row is NaN, a padded query's row is zero).

Legend: B batch, H heads, N tokens, D head dim.
"""

from __future__ import annotations

import torch

from a3lab.errors import UserError


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[int, int, int, int]:
    if q.dim() != 4:
        raise ValueError(f"q must be [B, H, N, D], got shape {tuple(q.shape)}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(
            f"q, k and v must have the same shape [B, H, N, D], got {tuple(q.shape)}, {tuple(k.shape)}, "
            f"{tuple(v.shape)}"
        )
    if not (q.dtype == k.dtype == v.dtype and q.device == k.device == v.device):
        raise ValueError(
            f"q, k and v must share one dtype and device, got {q.dtype}/{q.device}, {k.dtype}/{k.device}, "
            f"{v.dtype}/{v.device}"
        )
    if not q.dtype.is_floating_point:
        raise ValueError(f"q, k and v must be floating point, got {q.dtype}")
    B, H, N, D = q.shape
    if N < 1 or D < 1:
        raise ValueError(f"q, k and v need at least one token and one feature, got shape {tuple(q.shape)}")
    return B, H, N, D


def check_mask(mask: torch.Tensor | None, name: str, B: int, N: int, device: torch.device) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask.shape != (B, N):
        raise ValueError(f"`{name}` must have shape [B, N] = [{B}, {N}], got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise ValueError(f"`{name}` must be a bool tensor (True = {_MASK_MEANING[name]}), got {mask.dtype}")
    return mask.to(device)


_MASK_MEANING = {"key_padding_mask": "padding", "global_mask": "global token"}


def check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"`{name}` must be an integer >= 1, got {value!r}")


def keep_nan_queries(out: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Make the output row of a query holding a NaN or inf NaN, as the math says.

    The fused CPU kernel returns 0, not NaN, for a row whose scores are all NaN: without this a corrupt
    query would pass silently as a finite zero. One read of q (its sum) finds out whether there is anything
    to do, so clean inputs pay no extra pass over the output; on other devices nothing is checked (no sync).

    Shapes: out, q `[B, H, N, D]` -> `[B, H, N, D]`.
    """
    if q.device.type != "cpu" or bool(torch.isfinite(q.detach().sum())):
        return out
    return out + 0.0 * q.sum(-1, keepdim=True)


def zero_padded_queries(out: torch.Tensor, key_padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Outputs at padded positions are defined as zero (`where`, so no NaN or gradient leaks through)."""
    if key_padding_mask is None:
        return out
    return out.masked_fill(key_padding_mask[:, None, :, None], 0.0)
