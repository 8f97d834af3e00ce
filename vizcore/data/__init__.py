"""Data: image sets in memory, the embedded shapes renderer, named data sets, image decoding, augmentation
(presets and MixUp/CutMix in augment; the pipeline in pipeline, its operations in ops, kernels, auto_ops, lighting).

May import: vizcore.core."""
