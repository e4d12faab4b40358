"""The data sets a3lab knows, by name, and their classes. This module imports no torch, so configurations
and the CLI can name the data sets without loading them (`a3lab.data` loads them)."""

from __future__ import annotations

from typing import Literal

DATASETS = ("mnist", "fashion-mnist")
DatasetName = Literal["mnist", "fashion-mnist"]
NUM_CLASSES = 10  # both data sets
