"""Problem 1, video: are RNNs preferred for "sequential images at different points of time"?

Clips of MNIST or Fashion-MNIST items (`data`), four clip classifiers that differ only in how they combine
frames over time (`models`: mean-pooled CNN, CNN + GRU, 3-D CNN, transformer), the experiment that trains and
tests them on clips of several lengths (`experiment`), its settings (`config`, no torch) and its report
section (`section`). The public names below load their module on first use.
"""

from __future__ import annotations

from a3lab.classifiers.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "config": ("MODELS", "ORDER_TASKS", "PRESETS", "RECURRENT", "TASKS", "VideoConfig", "VideoModelConfig"),
        "data": ("DIRECTIONS", "FRAME_SIZE", "NUM_CLASSES", "ItemBank", "cached_clips", "load_bank", "make_clips"),
        "models": ("C3DVideo", "FrameCNN", "build_video_model", "load_frame_cnn"),
        "experiment": (
            "accuracy", "clips_per_second", "count_clip_flops", "format_table", "plot_video", "pretrain_frame_cnn",
            "section_experiment", "run_video",
        ),
    },
)  # fmt: skip
