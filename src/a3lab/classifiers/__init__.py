"""Problem 1, images: a CNN, row-by-row GRU and LSTM, and an MLP on MNIST and Fashion-MNIST.

Legend: B batch, C channels, H = W = 28 pixels, T = 28 time steps (one image row each), F features of the
penultimate layer, K = 10 classes.

The write-up claims that a CNN identifies images better than a recurrent network, and that by reducing the
data's dimensions it needs fewer computations and less time. This package measures both: test accuracy,
parameters, forward FLOPs per image (counted by `torch.utils.flop_counter.FlopCounterMode`), training seconds
per epoch and inference images per second, for

- a LeNet-style CNN (LeCun et al., 1998, "Gradient-based learning applied to document recognition") with batch
  normalisation (Ioffe & Szegedy, 2015): conv-BN-ReLU-maxpool blocks, then a linear head;
- a GRU (Cho et al., 2014) and an LSTM (Hochreiter & Schmidhuber, 1997) reading the image row by row,
  28 steps of 28 pixels, classifying from the last hidden state;
- an MLP on the 784 flattened pixels.

Input contract, the same for every model: float images `[B, 1, 28, 28]` in [0, 1] (ImageBatches' "unit"
scale). Each model standardises them itself with the data set's pixel mean and std, held as buffers and saved
with the weights, so no caller can feed the wrong scale. Each has `forward(x) -> logits [B, K]`,
`features(x) -> [B, F]` (the penultimate activations) and `num_features = F`.

Domain feature extractor (for the GAN metrics, FID/KID): `domain_cnn(dataset)` returns the trained CNN in eval
mode. Its weights live at `<cache_dir>/<dataset>-cnn.safetensors`, its config and results at
`<cache_dir>/<dataset>-cnn.json`, where `cache_dir` is `$A3LAB_HOME/classifiers` when A3LAB_HOME is set,
else `~/.cache/a3lab/classifiers`. When the file is missing it trains the CNN (3 epochs on the full training
split) and saves it atomically first.

Modules: `config` (the training settings, no torch), `models` (the four networks' configs, `build_model`),
`training` (counting, `evaluate`, `train_classifier`, saving and loading, the domain CNN), `compare` (the
comparison table, its plot and the report's experiment), `section` (the report's sections, no torch). The
public names below load their module on first use, so the CLI reads the configs without loading torch.

Part B of Problem 1 lives beside them: `sequences` (variable-length sequences), the packages `video` (clips of
items, four ways to combine frames over time) and `captions` (strips of items and four ways to caption them),
with the training loop they share (`fit`).
"""

from __future__ import annotations

from a3lab.classifiers.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(
    __name__,
    {
        "config": ("DEFAULT_BATCH_SIZE", "DEFAULT_LR", "MODEL_KINDS", "ModelKind", "TrainConfig"),
        "compare": (
            "PRESETS", "REPORT_KEYS", "accuracy_targets", "format_table", "plot_comparison", "section_experiment",
            "run_comparison", "summarise", "target_lines",
        ),
        "models": (
            "CNN", "IMAGE_SIZE", "MLP", "NUM_CLASSES", "Classifier", "CNNConfig", "MLPConfig", "RowRNN",
            "RowRNNConfig", "Standardise", "build_model", "make_config",
        ),
        "training": (
            "checkpoint_dataset", "classifier_cache_dir", "count_flops", "count_parameters", "domain_cnn",
            "domain_cnn_path", "evaluate",
            "load_classifier", "save_classifier", "save_run", "test_checkpoint", "train_classifier",
        ),
    },
)  # fmt: skip
