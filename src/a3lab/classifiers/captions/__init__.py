"""Problem 1, captions: is an RNN "ideal to understand what is happening in an image, e.g. to caption it"?

Strips of items side by side and their captions (`data`), four ways to caption them (`models`: Show, Attend
and Tell, per-position softmaxes, CTC, CRNN), the experiment that trains them on strips of 1..4 items and tests
them on 1..8 (`experiment`), the run folder that keeps every trained model and captions a user's strips
with the one that reads their length best (`folder`), its settings (`config`, no torch) and
its report section (`section`). The public names below load their module on first use.
"""

from __future__ import annotations

from a3lab.classifiers.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "config": ("MODELS", "PRESETS", "RECURRENT", "SEEN", "UNSEEN", "CaptionConfig", "CaptionModelConfig"),
        "data": ("caption", "caption_metrics", "make_strips", "read_strips", "strip_sets", "word_errors", "words"),
        "models": ("StripEncoder", "beam_search", "build_caption_model", "ctc_greedy_decode", "greedy_search"),
        "experiment": (
            "best_model", "evaluate_captioner", "fit_captioner", "format_table", "plot_examples", "predict_strips",
            "pretrain_encoder", "section_experiment", "run_captions",
        ),
        "folder": (
            "caption_file", "choose_model", "describe_choice", "load_model", "load_run", "predict_captions", "read_run",
            "save_run",
        ),
    },
)  # fmt: skip
