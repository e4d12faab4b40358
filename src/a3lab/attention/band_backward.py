"""The training pass of the band on CPU: the fused kernel's forward with a backward written as matmuls.

Legend: X, Y the two batch dimensions handed to the fused kernel (query blocks and heads), C query block,
L = C + 2W keys seen by one query block, D head dim, N tokens, W one-sided window.

Both functions recompute the probabilities of a few blocks at a time from the saved log-sum-exp instead of
storing them, P = exp(q k^T / sqrt(D) + mask - lse), then dV = P^T dO, dS = P (dO V^T - rowsum(dO O)),
dQ = dS K / sqrt(D), dK = dS^T Q / sqrt(D): five batched matmuls and two passes over the scores of one chunk,
which stays in cache (autograd's fused backward allocates and zero-fills buffers for all blocks at once).
The log-sum-exp is an output too (differentiable), so that a second softmax can be merged with this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

_CPU_FLASH = hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu")
_BACKWARD_SCORES = 1 << 18
"""Scores per step of the backward (a few blocks of one head): they stay in cache."""


def _flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> tuple:
    out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, False, attn_mask=mask)[:2]
    return out, lse  # (X, Y, C, D), (X, Y, C)


def _chunks(saved: tuple, grad_out: torch.Tensor, grad_lse: torch.Tensor | None, grad_q: torch.Tensor) -> Iterator:
    """Walk the blocks a chunk of one head at a time, writing dQ into `grad_q` `[Y, X, C, D]`.

    Yields (y, first block, probs, grad_scores, q chunk, grad_out chunk) for the caller's dK and dV.
    Shapes: q, out `[X, Y, C, D]`, k, v `[X, Y, L, D]`, mask `[X or 1, 1, C, L]`, lse `[X, Y, C]`.
    """
    q, k, v, mask, out, lse = saved
    X, Y, C, D = q.shape
    L = k.shape[2]
    scale = D**-0.5
    delta = (grad_out * out).sum(-1, keepdim=True)  # (X, Y, C, 1)
    if grad_lse is not None:  # d lse / d scores = probs: it joins dS = P (dP - delta + grad_lse)
        delta = delta - grad_lse[..., None]
    mask = mask.expand(X, 1, C, L)
    keep = (mask > torch.finfo(mask.dtype).min / 2).to(q.dtype)  # (X, 1, C, L): 1 = key in the band
    step = max(1, _BACKWARD_SCORES // (C * L))
    for y in range(Y):
        for s in range(0, X, step):
            e = slice(s, s + step)
            qc, kc, vc, go = q[e, y], k[e, y], v[e, y], grad_out[e, y]  # (step, C or L, D) views
            probs = torch.baddbmm(mask[e, 0] - lse[e, y, :, None], qc, kc.transpose(1, 2), alpha=scale)
            # exp is many times slower below log(smallest normal float) (denormals, masked keys), so those
            # scores become exp(-80) and the masked ones exact zeros
            probs = probs.clamp_(min=-80.0).exp_().mul_(keep[e, 0])
            grad_scores = torch.baddbmm(delta[e, y], go, vc.transpose(1, 2), beta=-1).mul_(probs)  # (step, C, L)
            torch.bmm(grad_scores, kc, out=grad_q[y, e]).mul_(scale)
            yield y, s, probs, grad_scores.mul_(scale), qc, go


class _MaskedAttention(torch.autograd.Function):
    """Fused CPU attention forward that keeps each row's log-sum-exp, and the backward of `_chunks`.

    Shapes: q `[X, Y, C, D]`, k, v `[X, Y, L, D]`, mask `[X or 1, 1, C, L]` -> `[X, Y, C, D]`, lse `[X, Y, C]`.
    """

    @staticmethod
    def forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> tuple:
        return _flash(q, k, v, mask)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(*inputs, *output)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_lse: torch.Tensor | None):
        saved = ctx.saved_tensors
        # gradients laid out (Y, X, ., D): each head's slice is contiguous, so bmm writes it in place
        grads = [torch.empty(t.shape[1], t.shape[0], *t.shape[2:], dtype=t.dtype, device=t.device) for t in saved[:3]]
        for y, s, probs, grad_scores, qc, go in _chunks(saved, grad_out, grad_lse, grads[0]):
            e = slice(s, s + len(qc))
            torch.bmm(grad_scores.transpose(1, 2), qc, out=grads[1][y, e])
            torch.bmm(probs.transpose(1, 2), go, out=grads[2][y, e])
        return *(g.transpose(0, 1) for g in grads), None


class _BandAttention(torch.autograd.Function):
    """`_MaskedAttention` on the windows of k and v, whose backward adds each chunk's window gradients
    straight into the sequence's: no gradient tensor of all the overlapping windows, no second pass over it.

    The L rows of a window are cut into ceil(L / C) slices of C rows; slice j of the chunk's blocks lands
    on rows (b + j) * C onwards of the zero-padded sequence, one strided add per slice.

    Shapes: q `[X, Y, C, D]` (X = nb query blocks), k, v `[Y, N, D]`, mask `[X, 1, C, L]`
        -> `[X, Y, C, D]`, lse `[X, Y, C]`.
    """

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, window: int) -> tuple:
        X, _, C, _ = q.shape
        kw, vw = (padded_windows(t[None], window, C, X)[0].transpose(0, 1) for t in (k, v))  # (X, Y, L, D)
        out, lse = _flash(q, kw, vw, mask)
        ctx.save_for_backward(q, kw, vw, mask, out, lse)
        ctx.window, ctx.N = window, k.shape[1]
        return out, lse

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_lse: torch.Tensor | None):
        saved = ctx.saved_tensors
        q, kw = saved[0], saved[1]
        X, Y, C, D = q.shape
        L = kw.shape[2]
        slices = -(-L // C)
        grad_q = torch.empty(Y, X, C, D, dtype=q.dtype, device=q.device)
        padded = [q.new_zeros(Y, (X + slices) * C, D) for _ in range(2)]  # token t is row t + W
        chunk = q.new_empty(2, min(X, max(1, _BACKWARD_SCORES // (C * L))), L, D)  # one chunk's dK, dV windows
        for y, s, probs, grad_scores, qc, go in _chunks(saved, grad_out, grad_lse, grad_q):
            n = len(qc)
            torch.bmm(grad_scores.transpose(1, 2), qc, out=chunk[0, :n])
            torch.bmm(probs.transpose(1, 2), go, out=chunk[1, :n])
            for grad, part in zip(padded, chunk):
                for j in range(slices):
                    width = min(C, L - j * C)
                    grad[y, (s + j) * C : (s + j + n) * C].view(n, C, D)[:, :width] += part[:n, j * C : j * C + width]
        W, N = ctx.window, ctx.N
        return grad_q.transpose(0, 1), padded[0][:, W : W + N], padded[1][:, W : W + N], None, None


def padded_windows(x: torch.Tensor, window: int, C: int, nb: int) -> torch.Tensor:
    """The L = C + 2W rows around each query block, as a strided view of the zero-padded sequence.

    Shapes: `[B, H, N, D]` -> `[B, H, nb, L, D]` (overlapping views of one padded copy).
    """
    B, H, N, D = x.shape
    L = C + 2 * window
    left = x.new_zeros(B, H, window, D)
    right = x.new_zeros(B, H, nb * C - N + window, D)
    padded = torch.cat([left, x, right], dim=2)  # one pass (F.pad fills, then copies)
    return padded.unfold(2, L, C).transpose(-1, -2)  # (B, H, nb, L, D)
