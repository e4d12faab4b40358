"""Problem 1, sequences: does recurrence generalise to longer inputs where a fixed window does not?

The two tasks' sequences (`tasks`), the models (`models`: GRU, LSTM, 1-D CNN, MLP, the hand-wired
reference), the experiment that trains them on short sequences and tests them on long ones (`experiment`)
and its settings (`config`, no torch). The public names below load their module on first use.
"""

from __future__ import annotations

from a3lab.classifiers.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "config": ("MODELS", "PRESETS", "TASKS", "TEST_LENGTHS", "THREADS", "SequenceConfig"),
        "tasks": ("encode", "make_batch", "parity_recurrence"),
        "models": ("HandWired", "SequenceCNN", "SequenceMLP", "SequenceRNN", "build_model"),
        "experiment": (
            "accuracy", "chance_level", "format_table", "make_test_sets", "plot_sequences",
            "section_experiment", "run_sequences", "train_model",
        ),
    },
)  # fmt: skip
