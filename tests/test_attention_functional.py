"""a3lab.attention.functional (and the band kernels under it) against a dense n x n reference, which lives only here."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils._python_dispatch import TorchDispatchMode

from a3lab import attention
from a3lab.attention.functional import full_attention, linformer_attention, sliding_window_attention


def dense_reference(q, k, v, window, dilation=1, global_mask=None, key_padding_mask=None, causal=False):
    """The contract written as an n x n boolean mask: the oracle for every sliding-window test."""
    B, _, N, D = q.shape
    offset = torch.arange(N)[:, None] - torch.arange(N)[None, :]  # i - j
    allowed = ((offset.abs() <= window * dilation) & (offset % dilation == 0)).expand(B, N, N).clone()
    if global_mask is not None:
        allowed |= global_mask[:, :, None] | global_mask[:, None, :]
    if key_padding_mask is not None:
        allowed &= ~key_padding_mask[:, None, :]
    if causal:
        allowed &= offset >= 0
    scores = (q @ k.transpose(-1, -2) / math.sqrt(D)).masked_fill(~allowed[:, None], float("-inf"))
    out = torch.softmax(scores, -1).nan_to_num(0.0) @ v
    if key_padding_mask is not None:
        out = out.masked_fill(key_padding_mask[:, None, :, None], 0.0)
    return out


@st.composite
def cases(draw, max_n: int = 48):
    B = draw(st.integers(1, 2))
    H = draw(st.integers(1, 3))
    N = draw(st.integers(1, max_n))
    D = draw(st.integers(1, 8))
    window = draw(st.integers(1, 20))  # often larger than N, rarely a divisor of it
    dilation = draw(st.integers(1, 4))
    causal = draw(st.booleans())
    block = draw(st.sampled_from([None, 1, 3, 8, 16]))
    backend = draw(st.sampled_from(["blocked", "matmul"]))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    global_mask = torch.rand(B, N, generator=g) < 0.15 if draw(st.booleans()) else None
    padding = torch.rand(B, N, generator=g) < 0.25 if draw(st.booleans()) else None
    return dict(B=B, H=H, N=N, D=D, window=window, dilation=dilation, causal=causal, block=block, seed=seed,
                backend=backend, global_mask=global_mask, key_padding_mask=padding)  # fmt: skip


def qkv(B, H, N, D, seed=0, dtype=torch.float32, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, H, N, D, generator=g, dtype=dtype).requires_grad_(requires_grad) for _ in range(3)]


@settings(max_examples=150, deadline=None)
@given(c=cases())
def test_sliding_window_equals_dense_reference_with_gradients(c) -> None:
    q, k, v = qkv(c["B"], c["H"], c["N"], c["D"], c["seed"], requires_grad=True)
    masks = dict(global_mask=c["global_mask"], key_padding_mask=c["key_padding_mask"], causal=c["causal"])
    options = dict(block_size=c["block"], backend=c["backend"])
    out = sliding_window_attention(q, k, v, c["window"], c["dilation"], **masks, **options)
    ref = dense_reference(q, k, v, c["window"], c["dilation"], **masks)
    assert out.shape == (c["B"], c["H"], c["N"], c["D"])
    assert (out - ref).abs().max() <= 1e-5
    with torch.no_grad():  # the inference path picks its own block size
        assert (sliding_window_attention(q, k, v, c["window"], c["dilation"], **masks) - ref).abs().max() <= 1e-5
    grad_out = torch.randn_like(out)
    ours = torch.autograd.grad(out, (q, k, v), grad_out)
    theirs = torch.autograd.grad(ref, (q, k, v), grad_out)
    for a, b in zip(ours, theirs):
        assert (a - b).abs().max() <= 1e-5 * max(1.0, b.abs().max().item())


@pytest.mark.parametrize("dilation,causal,backend", [(1, False, "blocked"), (2, True, "blocked"), (3, False, "matmul")])
def test_sliding_window_gradcheck_float64(dilation: int, causal: bool, backend: str) -> None:
    q, k, v = qkv(2, 1, 11, 2, seed=dilation, dtype=torch.float64, requires_grad=True)
    glob = torch.zeros(2, 11, dtype=torch.bool)
    glob[0, 5] = glob[1, 0] = glob[1, 9] = True
    pad = torch.zeros(2, 11, dtype=torch.bool)
    pad[1, 8:] = True

    def f(q, k, v):
        return sliding_window_attention(q, k, v, 2, dilation, glob, pad, causal, block_size=4, backend=backend)

    assert torch.autograd.gradcheck(f, (q, k, v))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["blocked", "matmul"])
def test_sliding_window_on_cuda_matches_reference(backend: str) -> None:
    q, k, v = (t.cuda().requires_grad_() for t in qkv(2, 3, 300, 16, seed=7))
    glob = torch.zeros(2, 300, dtype=torch.bool, device="cuda")
    glob[:, 0] = True
    pad = torch.zeros(2, 300, dtype=torch.bool, device="cuda")
    pad[1, 250:] = True
    out = sliding_window_attention(q, k, v, 16, 2, glob, pad, backend=backend)
    out.sum().backward()
    ref = dense_reference(*(t.detach().cpu() for t in (q, k, v)), 16, 2, glob.cpu(), pad.cpu())
    assert (out.detach().cpu() - ref).abs().max() <= 1e-4  # TF32 off by default for SDPA, kept loose for matmul


def test_sliding_window_bfloat16_runs_and_stays_close() -> None:
    q, k, v = qkv(1, 2, 70, 16, seed=3)
    glob = torch.zeros(1, 70, dtype=torch.bool)
    glob[0, 0] = True
    ref = dense_reference(q, k, v, 8, 2, glob)
    out = sliding_window_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), 8, 2, glob)
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05


class LargestTensor(TorchDispatchMode):
    """Records the largest tensor any aten op produces."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("dilation", [1, 3])
def test_sliding_window_never_materialises_n_by_n(dilation: int) -> None:
    N, W = 512, 4
    q, k, v = qkv(1, 1, N, 4, requires_grad=True)
    glob = torch.zeros(1, N, dtype=torch.bool)
    glob[0, [0, 500]] = True
    with LargestTensor() as probe:
        out = sliding_window_attention(q, k, v, W, dilation, glob, causal=True)
        out.sum().backward()
    assert probe.largest < N * N // 8  # the band is N * (C + 2W) = 24 N here; N x N would be 512 N


def test_full_attention_matches_reference_with_padding_and_causal() -> None:
    q, k, v = qkv(2, 3, 13, 4, seed=1)
    pad = torch.zeros(2, 13, dtype=torch.bool)
    pad[0, :3] = True  # leading padding: with causal, padded rows have no key at all
    pad[1, 10:] = True
    for causal in (False, True):
        out = full_attention(q, k, v, pad, causal)
        ref = dense_reference(q, k, v, 13, 1, None, pad, causal)
        assert torch.isfinite(out).all()
        assert (out - ref).abs().max() <= 1e-5


def test_wide_window_equals_full_attention() -> None:
    q, k, v = qkv(2, 2, 37, 8, seed=2)
    for causal in (False, True):
        wide = sliding_window_attention(q, k, v, 40, causal=causal)
        assert (wide - full_attention(q, k, v, causal=causal)).abs().max() <= 1e-5


def test_linformer_equals_its_formula() -> None:
    B, H, N, D, K = 2, 3, 20, 4, 6
    q, k, v = qkv(B, H, N, D, seed=4)
    pad = torch.zeros(B, N, dtype=torch.bool)
    pad[1, 15:] = True
    for E, F in ((torch.randn(K, N), torch.randn(K, N)), (torch.randn(H, K, N), torch.randn(H, K, N))):
        out = linformer_attention(q, k, v, E, F, pad)
        kz, vz = k.masked_fill(pad[:, None, :, None], 0), v.masked_fill(pad[:, None, :, None], 0)
        pattern = "kn,bhnd->bhkd" if E.dim() == 2 else "hkn,bhnd->bhkd"
        Ek, Fv = torch.einsum(pattern, E, kz), torch.einsum(pattern, F, vz)
        ref = torch.softmax(q @ Ek.transpose(-1, -2) / math.sqrt(D), -1) @ Fv
        ref = ref.masked_fill(pad[:, None, :, None], 0)
        assert out.shape == (B, H, N, D)
        assert (out - ref).abs().max() <= 1e-5


def test_linformer_with_identity_projection_is_full_attention() -> None:
    q, k, v = qkv(2, 2, 16, 8, seed=5)
    eye = torch.eye(16)
    assert (linformer_attention(q, k, v, eye, eye) - full_attention(q, k, v)).abs().max() <= 1e-5


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda q, k, v: sliding_window_attention(q, k, v, 0), "`window`"),
        (lambda q, k, v: sliding_window_attention(q, k, v, 2, dilation=0), "`dilation`"),
        (lambda q, k, v: sliding_window_attention(q, k, v, 2, backend="fast"), "`backend`"),
        (lambda q, k, v: sliding_window_attention(q.long(), k.long(), v.long(), 2), "floating point"),
        (lambda q, k, v: full_attention(q.int(), k.int(), v.int()), "floating point"),
        (lambda q, k, v: sliding_window_attention(q, k.double(), v, 2), "one dtype"),
        (lambda q, k, v: sliding_window_attention(q, k, v, 2, 1, None, torch.zeros(2, 9).bool()), "key_padding"),
        (lambda q, k, v: sliding_window_attention(q, k, v, 2, global_mask=torch.zeros(1, 8)), "global_mask"),
        (lambda q, k, v: sliding_window_attention(q, k[..., :2], v, 2), "same shape"),
        (lambda q, k, v: full_attention(q[0], k[0], v[0]), "q must be"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.randn(9, 8), torch.randn(9, 8)), "`k`"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.randn(4, 7), torch.randn(4, 7)), "`E` must be"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.ones(4, 8).long(), torch.randn(4, 8)), "`E`.*floating"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.randn(4, 8), torch.randn(4, 8, device="meta")), "`F_`"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.randn(4, 8), torch.randn(3, 8)), "same K"),
        (lambda q, k, v: linformer_attention(q, k, v, torch.randn(4, 8), torch.randn(4, 8), causal=True), "causal"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(call, message: str) -> None:
    q, k, v = qkv(1, 2, 8, 4)
    with pytest.raises(ValueError, match=message) as error:
        call(q, k, v)
    assert "--" not in str(error.value)  # library errors name parameters, the CLI translates to flags


def test_nan_projection_or_query_gives_nan_not_finite_zeros() -> None:
    q, k, v = qkv(1, 2, 8, 4)
    nan = torch.full((4, 8), float("nan"))
    assert linformer_attention(q, k, v, nan, torch.randn(4, 8)).isnan().all()
    one_bad = torch.randn(4, 8)
    one_bad[2, 5] = float("nan")  # one projected key row is NaN: every score row holds a NaN
    assert linformer_attention(q, k, v, one_bad, torch.randn(4, 8)).isnan().all()
    bad_q = q.clone()
    bad_q[0, 1, 3] = float("nan")
    for out in (full_attention(bad_q, k, v), sliding_window_attention(bad_q, k, v, 2)):
        assert out[0, 1, 3].isnan().all()
        assert out.isnan().sum() == out.shape[-1]  # only that query's row


@pytest.mark.parametrize("backend,nan_rows", [("matmul", 5), ("blocked", 8)])
def test_nan_key_reaches_the_queries_its_docstring_says(backend: str, nan_rows: int) -> None:
    q, k, v = qkv(1, 1, 32, 4)
    k[0, 0, 20] = float("nan")
    out = sliding_window_attention(q, k, v, 2, backend=backend, block_size=8)
    rows = out[0, 0].isnan().any(-1).nonzero().flatten().tolist()
    # matmul: exactly the queries 18..22 that see key 20; blocked: its whole query block 16..23
    assert rows == (list(range(18, 23)) if backend == "matmul" else list(range(16, 24)))
    assert len(rows) == nan_rows


def test_flex_backend_equals_reference_and_caches_its_block_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    flex = pytest.importorskip("torch.nn.attention.flex_attention")
    monkeypatch.setattr(attention.flex, "_COMPILED_FLEX", [flex.flex_attention])  # eager: no 20 s compile in tests
    q, k, v = qkv(2, 2, 40, 8, seed=6)
    glob = torch.zeros(2, 40, dtype=torch.bool)
    glob[1, 3] = True
    pad = torch.zeros(2, 40, dtype=torch.bool)
    pad[0, 30:] = True
    for dilation, causal, masks in ((1, False, (glob, pad)), (2, True, (glob, pad)), (1, False, (None, None))):
        # 40 tokens run padded to the 128 of their length bucket: those keys must stay out of every row
        out = sliding_window_attention(q, k, v, 5, dilation, *masks, causal, backend="flex")
        assert (out - dense_reference(q, k, v, 5, dilation, *masks, causal)).abs().max() <= 1e-5
    first = attention.flex_block_mask(2, 40, 5, 2, glob, pad, True, q.device)
    assert attention.flex_block_mask(2, 40, 5, 2, glob.clone(), pad.clone(), True, q.device) is first
    with pytest.raises(ValueError, match="backward on CPU"):
        sliding_window_attention(*qkv(1, 1, 8, 4, requires_grad=True), 2, backend="flex")


@pytest.mark.parametrize("padded_from", [None, 10])
def test_training_backward_equals_autograd_of_the_fused_kernel(monkeypatch: pytest.MonkeyPatch, padded_from) -> None:
    from a3lab.attention import band

    q, k, v = qkv(2, 3, 40, 8, seed=8, requires_grad=True)
    pad = None
    if padded_from is not None:  # a long padded tail: some queries see no valid key at all
        pad = torch.zeros(2, 40, dtype=torch.bool)
        pad[1, padded_from:] = True
    grad_out = torch.randn(2, 3, 40, 8)

    def grads():
        out = sliding_window_attention(q, k, v, 3, key_padding_mask=pad, block_size=4)
        return (out, *torch.autograd.grad(out, (q, k, v), grad_out))

    ours = grads()
    monkeypatch.setattr(band, "_CPU_FLASH", False)  # autograd through scaled_dot_product_attention
    theirs = grads()
    for a, b in zip(ours, theirs):
        assert (a - b).abs().max() <= 1e-5
    ref = dense_reference(q, k, v, 3, key_padding_mask=pad)
    assert (ours[0] - ref).abs().max() <= 1e-5


@pytest.mark.parametrize("padded", [False, True])
def test_global_tokens_merged_by_log_sum_exp_have_exact_gradients(padded: bool) -> None:
    q, k, v = qkv(2, 2, 13, 3, seed=9, dtype=torch.float64, requires_grad=True)
    glob = torch.zeros(2, 13, dtype=torch.bool)
    glob[0, [1, 9]] = glob[1, 12] = True  # the band's log-sum-exp merges the global keys
    pad = None
    if padded:  # one mask per sequence: the band runs sequence by sequence; a padded global key is dropped
        pad = torch.zeros(2, 13, dtype=torch.bool)
        pad[1, 8:] = True

    def f(q, k, v):
        return sliding_window_attention(q, k, v, 2, global_mask=glob, key_padding_mask=pad, block_size=4)

    assert torch.autograd.gradcheck(f, (q, k, v))
    assert (f(q, k, v) - dense_reference(q, k, v, 2, global_mask=glob, key_padding_mask=pad)).abs().max() <= 1e-10


@pytest.mark.parametrize("backend", ["blocked", "matmul"])
def test_autocast_with_global_tokens_stays_within_low_precision_error(backend) -> None:
    q, k, v = qkv(2, 2, 40, 8, seed=10)
    glob = torch.zeros(2, 40, dtype=torch.bool)
    glob[0, [0, 20]] = glob[1, 3] = True
    for pad in (None, torch.arange(40).expand(2, 40) >= torch.tensor([[40], [33]])):
        ref = dense_reference(q, k, v, 5, 1, glob, pad)
        for dtype in (torch.bfloat16, torch.float16):
            with torch.autocast("cpu", dtype=dtype):
                out = sliding_window_attention(q, k, v, 5, global_mask=glob, key_padding_mask=pad, backend=backend)
            assert (out.float() - ref).abs().max() <= 8 * torch.finfo(dtype).eps
