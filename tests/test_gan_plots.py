"""a3lab.gan.plots: the sample grid's layout."""

from __future__ import annotations

import torch

from a3lab.gan.plots import tile


def test_tile_places_images_row_by_row():
    images = torch.arange(1, 6, dtype=torch.uint8).view(5, 1, 1).expand(5, 28, 28)
    grid = tile(images, nrow=3, pad=2)
    assert grid.shape == (2 * 30 + 2, 3 * 30 + 2)
    assert grid[2, 2] == 1 and grid[2, 32] == 2 and grid[32, 2] == 4 and grid[32, 32] == 5
    assert grid[32, 62] == 0 and grid[0, 0] == 0  # the missing sixth image and the padding stay black
