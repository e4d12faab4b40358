"""The band |i - j| <= W of the sliding window, as query blocks: the blocked (fused kernel) and matmul kernels.

Legend: B batch, H heads, N tokens, D head dim, W one-sided window, d dilation, C query block, nb = ceil(N / C)
blocks, L = C + 2W keys seen by one query block, M = ceil(N / d), X, Y the two batch dimensions handed to the
fused kernel.

Paper: Beltagy et al. 2020 (Longformer, arXiv:2004.05150). Each block of C queries attends the L keys around
it, an overlapping strided view of the zero-padded keys, so work and memory are O(N * L). `_Windows` is the
training pass's own backward for these views; `band_backward` holds the fused CPU kernel's (`_BandAttention`
takes k and v whole, `_MaskedAttention` any windows). A
dilated band is d ordinary bands over the tokens regrouped by position mod d (`_regroup`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from a3lab.attention.band_backward import _CPU_FLASH, _BandAttention, _MaskedAttention, padded_windows


def default_block_size(window: int, n: int, grad: bool = False) -> int:
    """Query block C: each block sees C + 2W keys, of which 2W + 1 per query are in the band.

    Smaller blocks waste less work ((C + 2W) / (2W + 1) - 1) but make smaller matmuls. On CPU the forward
    is fastest near W / 4 and forward + backward near W / 2, where the backward's matmuls of C x L scores
    are large enough to run near the machine's matmul speed; at least 16. The measurements behind these
    choices are in docs/attention.md.
    """
    return max(1, min(n, max(16, window // 2 if grad else window // 4)))


def _band_geometry(N: int, window: int, block_size: int | None, grad: bool = False) -> tuple[int, int, int]:
    """(C, number of blocks, L) for a band over N tokens."""
    C = min(block_size or default_block_size(window, N, grad), N)
    return C, -(-N // C), C + 2 * window


def _band_allowed(
    key_valid: torch.Tensor | None, B: int, N: int, window: int, C: int, causal: bool, device: torch.device
) -> torch.Tensor:
    """Which of the L keys around each query block each query may see (in range, in band, not padding).

    Key column l of query row c in block b is token b*C - W + l, at offset l - c - W from the query.

    Shapes: key_valid `[B, N]` or None -> `[B, nb, C, L]` (B = 1 when key_valid is None).
    """
    C, nb, L = _band_geometry(N, window, C)
    rel = torch.arange(L, device=device)[None, :] - torch.arange(C, device=device)[:, None]  # (C, L): l - c
    band = (rel >= 0) & (rel <= (window if causal else 2 * window))
    valid = key_valid if key_valid is not None else torch.ones(1, N, dtype=torch.bool, device=device)
    valid = F.pad(valid, (window, nb * C - N + window), value=False).unfold(1, L, C)  # (B, nb, L)
    return band & valid[:, :, None, :]


def _additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool mask as an additive float mask; finfo.min (not -inf) keeps fully masked rows finite."""
    return torch.zeros(allowed.shape, dtype=dtype, device=allowed.device).masked_fill(~allowed, torch.finfo(dtype).min)


def _windows(x: torch.Tensor, window: int, C: int, nb: int) -> torch.Tensor:
    """The L = C + 2W keys around each query block, as a strided view of the zero-padded sequence.

    Shapes: `[B, H, N, D]` -> `[B, H, nb, L, D]`.
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return _Windows.apply(x, window, C, nb)
    return padded_windows(x, window, C, nb)


class _Windows(torch.autograd.Function):
    """`_padded_windows` with a backward that adds the overlapping window gradients back slice by slice.

    Autograd's own backward of `unfold` scatters every window element separately; here the L rows of each
    window are cut into ceil(L / C) slices of C rows, and slice j of every block lands on the padded rows
    b * C + j * C onwards: one strided add per slice, each a plain pass over `[B, H, N, D]`.
    """

    @staticmethod
    def forward(x: torch.Tensor, window: int, C: int, nb: int) -> torch.Tensor:
        return padded_windows(x, window, C, nb)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, ctx.window, ctx.C, ctx.nb = inputs
        ctx.N = x.shape[2]

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        W, C, nb, N = ctx.window, ctx.C, ctx.nb, ctx.N
        B, H, _, L, D = grad.shape  # (B, H, nb, L, D)
        slices = -(-L // C)
        padded = grad.new_zeros(B, H, (nb + slices) * C, D)  # token t of the sequence is row t + W
        for j in range(slices):
            width = min(C, L - j * C)
            target = padded[:, :, j * C : (j + nb) * C].view(B, H, nb, C, D)[:, :, :, :width]
            target += grad[:, :, :, j * C : j * C + width]
        return padded[:, :, W : W + N], None, None, None


def _band_sdpa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None,
    causal: bool,
    block_size: int | None,
    dropout_p: float,
    extra: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Band |i - j| <= W through the fused `scaled_dot_product_attention` kernel, one call for all blocks.

    Each block of C queries is one "batch" entry whose keys are the L tokens around it, a strided view of k:
    the kernel's own tiling and online softmax then run on O(N * L) work instead of O(N^2).
    `extra` = (k_extra, v_extra, allowed_extra) adds keys every block sees (the global tokens), so one
    softmax covers band and globals.

    Shapes: q, k, v `[B, H, N, D]`, key_valid `[B, N]`, extra `[B, H, G, D]` x 2 and bool `[B, N, G]`
        -> `[B, H, N, D]`.
    """
    B, H, N, D = q.shape
    grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    C, nb, L = _band_geometry(N, window, block_size, grad)
    Np = nb * C
    allowed = _band_allowed(key_valid, B, N, window, C, causal, q.device)  # (B or 1, nb, C, L)
    qb = (q if Np == N else F.pad(q, (0, 0, 0, Np - N))).view(B, H, nb, C, D)
    if extra is None and key_valid is None:
        # the mask is the same for every sequence: fold B into the heads, no copy of the windows
        mask = _additive(allowed[0], q.dtype)[:, None]  # (nb, 1, C, L)
        qf = qb.flatten(0, 1).transpose(0, 1)  # (nb, B*H, C, D)
        if grad and dropout_p == 0 and q.dtype == torch.float32 and _lse_kernel(q):
            out = _BandAttention.apply(qf, k.reshape(B * H, N, D), v.reshape(B * H, N, D), mask, window)[0]
        else:
            kw, vw = (_windows(t, window, C, nb).flatten(0, 1).transpose(0, 1) for t in (k, v))  # (nb, B*H, L, D)
            out = _masked_sdpa(qf, kw, vw, mask, dropout_p)  # (nb, B*H, C, D)
        return out.transpose(0, 1).reshape(B, H, Np, D)[:, :, :N]
    kw, vw = _windows(k, window, C, nb), _windows(v, window, C, nb)  # (B, H, nb, L, D)
    # the mask differs per sequence: blocks of all sequences become the batch (a view when B = 1)
    qb = qb.transpose(1, 2).reshape(B * nb, H, C, D)
    if extra is None:
        kw = kw.transpose(1, 2).reshape(B * nb, H, L, D)
        vw = vw.transpose(1, 2).reshape(B * nb, H, L, D)
    else:
        k_extra, v_extra, allowed_extra = extra
        G = k_extra.shape[2]
        kw, vw = _with_extra_keys(kw, k_extra), _with_extra_keys(vw, v_extra)  # (B*nb, H, L+G, D)
        allowed_extra = F.pad(allowed_extra, (0, 0, 0, Np - N)).view(B, nb, C, G)
        allowed = torch.cat([allowed.expand(B, nb, C, L), allowed_extra], dim=-1)  # (B, nb, C, L+G)
    mask = _additive(allowed, q.dtype).reshape(B * nb, 1, C, -1)
    out = _masked_sdpa(qb, kw, vw, mask, dropout_p)  # (B*nb, H, C, D)
    return out.view(B, nb, H, C, D).transpose(1, 2).reshape(B, H, Np, D)[:, :, :N]


def _lse_kernel(q: torch.Tensor) -> bool:
    """Whether the fused kernel that also returns the log-sum-exp serves q (CPU, float32 or float64)."""
    return _CPU_FLASH and q.device.type == "cpu" and q.dtype in (torch.float32, torch.float64)


def _band_sdpa_lse(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None,
    causal: bool,
    block_size: int | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`_band_sdpa` without extra keys or dropout, that also returns each row's log-sum-exp.

    The windows stay strided views of k and v: one fused call for all sequences when they share the mask
    (no padding, or one sequence), else one call per sequence, each with its own `[nb, 1, C, L]` mask.

    Shapes: q, k, v `[B, H, N, D]`, key_valid `[B, N]` -> `[B, H, N, D]`, lse `[B, H, N]` (of q k^T / sqrt(D)).
    """
    B, H, N, D = q.shape
    grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    C, nb, _ = _band_geometry(N, window, block_size, grad)
    Np = nb * C
    masks = _additive(_band_allowed(key_valid, B, N, window, C, causal, q.device), q.dtype)  # (B or 1, nb, C, L)
    qb = (q if Np == N else F.pad(q, (0, 0, 0, Np - N))).view(B, H, nb, C, D)
    if masks.shape[0] == 1:
        qf, kf, vf = qb.flatten(0, 1).transpose(0, 1), k.reshape(B * H, N, D), v.reshape(B * H, N, D)
        out, lse = _BandAttention.apply(qf, kf, vf, masks[0, :, None], window)  # (nb, B*H, C, D), (nb, B*H, C)
    else:
        parts = [_BandAttention.apply(qb[b].transpose(0, 1), k[b], v[b], masks[b, :, None], window)
                 for b in range(B)]  # fmt: skip
        out = torch.cat([o for o, _ in parts], dim=1)  # (nb, B*H, C, D)
        lse = torch.cat([m for _, m in parts], dim=1)  # (nb, B*H, C)
    out = out.transpose(0, 1).reshape(B, H, Np, D)[:, :, :N]
    return out, lse.transpose(0, 1).reshape(B, H, Np)[:, :, :N]


def _with_extra_keys(windows: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
    """Each block's L window rows followed by the G extra rows, written once into one new tensor.

    Shapes: windows `[B, H, nb, L, D]`, extra `[B, H, G, D]` -> `[B * nb, H, L + G, D]`.
    """
    B, H, nb, L, D = windows.shape
    G = extra.shape[2]
    keys = windows.new_empty(B, nb, H, L + G, D)
    keys[:, :, :, :L] = windows.transpose(1, 2)
    keys[:, :, :, L:] = extra[:, None]
    return keys.view(B * nb, H, L + G, D)


def _masked_sdpa(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, dropout_p: float
) -> torch.Tensor:
    """`scaled_dot_product_attention` with an additive mask; on CPU in training, with `_MaskedAttention`'s
    backward.

    Shapes: q `[X, Y, C, D]`, k, v `[X, Y, L, D]`, mask `[X or 1, 1, C, L]` -> `[X, Y, C, D]`.
    """
    needs_grad = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    if needs_grad and q.device.type == "cpu" and q.dtype == torch.float32 and dropout_p == 0 and _CPU_FLASH:
        return _MaskedAttention.apply(q, k, v, mask)[0]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)


def _band_matmul(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    window: int,
    key_valid: torch.Tensor | None,
    causal: bool,
    block_size: int | None,
    dropout_p: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same band written out: scores of each query block against its L keys, softmax, values.

    The manual path beside the fused one: it also returns the log-sum-exp of each row's scores, so that
    global tokens can be merged with a second partial softmax. q must already carry the 1/sqrt(D) scale.

    Shapes: q, k, v `[B, H, N, D]`, key_valid `[B, N]` -> `[B, H, N, D]`, lse `[B, H, N]`.
    """
    B, H, N, D = q.shape
    C, nb, _ = _band_geometry(N, window, block_size)
    Np = nb * C
    qb = F.pad(q, (0, 0, 0, Np - N)).view(B, H, nb, C, D)
    scores = qb @ _windows(k, window, C, nb).transpose(-1, -2)  # (B, H, nb, C, L)
    allowed = _band_allowed(key_valid, B, N, window, C, causal, q.device)  # (B or 1, nb, C, L)
    scores = scores.masked_fill(~allowed[:, None], torch.finfo(scores.dtype).min)
    lse = torch.logsumexp(scores, dim=-1).reshape(B, H, Np)[:, :, :N]
    probs = torch.softmax(scores, dim=-1)
    if dropout_p > 0:
        probs = F.dropout(probs, dropout_p)
    out = (probs @ _windows(v, window, C, nb)).reshape(B, H, Np, D)[:, :, :N]  # (B, H, N, D)
    return out, lse


def _regroup(x: torch.Tensor, d: int) -> torch.Tensor:
    """Tokens regrouped by position mod d: a dilated band becomes d ordinary bands.

    Shapes: `[B, H, N, D]` -> `[B * d, H, M, D]` with M = ceil(N / d) (tail padded with zeros).
    """
    B, H, N, D = x.shape
    M = -(-N // d)
    x = F.pad(x, (0, 0, 0, M * d - N)).view(B, H, M, d, D)  # token m * d + r
    return x.permute(0, 3, 1, 2, 4).reshape(B * d, H, M, D)  # (B * d, H, M, D): residue r, lattice index m


def _regroup_seq(x: torch.Tensor, d: int, fill: bool | float = False) -> torch.Tensor:
    """`_regroup` for per-token tables: `[B, N, *rest]` -> `[B * d, M, *rest]` (tail filled with `fill`)."""
    B, N = x.shape[:2]
    rest = x.shape[2:]
    M = -(-N // d)
    pad = [0, 0] * len(rest) + [0, M * d - N]
    x = F.pad(x, pad, value=fill).view(B, M, d, *rest)  # token m * d + r
    return x.transpose(1, 2).reshape(B * d, M, *rest)


def _ungroup(x: torch.Tensor, d: int, N: int) -> torch.Tensor:
    """Inverse of `_regroup`: `[B * d, H, M, *rest]` -> `[B, H, N, *rest]`."""
    Bd, H, M = x.shape[:3]
    rest = x.shape[3:]
    x = x.view(Bd // d, d, H, M, *rest).movedim(1, 3)  # (B, H, M, d, *rest)
    return x.reshape(Bd // d, H, M * d, *rest)[:, :, :N]
