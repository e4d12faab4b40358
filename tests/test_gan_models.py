"""a3lab.gan.models: shapes and ranges, the label paths, the tutorial's MLP, the losses."""

from __future__ import annotations

import math

import pytest
import torch

from a3lab.gan import (
    GANConfig,
    build_models,
    discriminator_loss,
    generator_loss,
)

MODEL_CASES = [
    ("mlp", False, False),
    ("mlp", True, False),
    ("mlp", True, True),
    ("dcgan", False, False),
    ("dcgan", True, False),
    ("dcgan", True, True),
]


@pytest.mark.parametrize(("arch", "conditional", "projection"), MODEL_CASES)
def test_models_shapes_and_ranges(arch, conditional, projection):
    config = GANConfig(arch=arch, conditional=conditional, projection=projection, channels=8, latent_dim=16)
    torch.manual_seed(0)
    G, D = build_models(config)
    z = torch.randn(5, 16)
    y = torch.tensor([0, 3, 9, 9, 1]) if conditional else None
    x = G(z, y)
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x, y)
    assert logits.shape == (5,)
    if conditional:
        # The label changes both networks' outputs.
        G.eval()
        other = torch.tensor([1, 4, 0, 2, 2])
        assert not torch.allclose(G(z, y), G(z, other))
        assert not torch.allclose(D(x, y), D(x, other))
        with pytest.raises(ValueError, match="needs labels"):
            D(x)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_dcgan_label_channel_shortcut_equals_the_concatenated_convolution(memory_format):
    torch.manual_seed(0)
    _, D = build_models(GANConfig(arch="dcgan", conditional=True, projection=False, channels=8))
    D.to(memory_format=memory_format)
    x, y = torch.randn(5, 1, 28, 28).contiguous(memory_format=memory_format), torch.tensor([0, 3, 3, 9, 1])
    stacked = torch.cat([x, D.embed(y).view(-1, 1, 28, 28)], dim=1)  # (B, 2, 28, 28): the label as a channel
    expected = D.net(stacked).permute(0, 2, 3, 1).flatten(1)  # (B, 49 * 2C)
    torch.testing.assert_close(D.features(x, y), expected, atol=1e-5, rtol=1e-5)


def test_mlp_generator_matches_the_tutorial_with_default_batchnorm_eps():
    G, D = build_models(GANConfig(arch="mlp", conditional=False))
    widths = [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 256, 512, 1024, 784]
    norms = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3 and all(m.eps == 1e-5 for m in norms)  # not the tutorial's accidental 0.8
    assert [D.net[0].in_features, D.net[0].out_features, D.net[2].out_features, D.head.out_features] == [
        784,
        512,
        256,
        1,
    ]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_losses_match_their_definitions():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    bce = torch.nn.functional.binary_cross_entropy
    expected_d = bce(torch.sigmoid(real), torch.ones(2)) + bce(torch.sigmoid(fake), torch.zeros(2))
    torch.testing.assert_close(discriminator_loss(real, fake, "bce"), expected_d)
    torch.testing.assert_close(generator_loss(fake, "bce"), bce(torch.sigmoid(fake), torch.ones(2)))
    # hinge: mean(relu(1 - real)) + mean(relu(1 + fake)) = (0 + 2) / 2 + (1.5 + 0) / 2
    torch.testing.assert_close(discriminator_loss(real, fake, "hinge"), torch.tensor(1.75))
    torch.testing.assert_close(generator_loss(fake, "hinge"), torch.tensor(1.25))
    # At logit 0 (D undecided) the bce D loss is 2 log 2.
    assert discriminator_loss(torch.zeros(3), torch.zeros(3), "bce").item() == pytest.approx(2 * math.log(2))
