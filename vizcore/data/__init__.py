"""Data: image sets in memory, the embedded shapes renderer, named data sets, image decoding, augmentation
(presets and MixUp/CutMix in augment; the pipeline in pipeline, its operations in ops, kernels, auto_ops, lighting).

Modules for use from outside (``__all__``):

* ``imageset`` — an in-memory labelled image set, the bounds every data set obeys, batch resizing
* ``shapes`` — the embedded synthetic shapes: ten classes, textures, clutter, object masks, cue conflict
* ``datasets`` — data sets by name: shapes, digits, torchvision's downloadable sets, image folders
* ``images`` — sample photos (offline), safe decoding of uploads, resizing for a model
* ``augment`` — training augmentation: flip + crop, RandAugment, TrivialAugment, MixUp / CutMix
* ``pipeline`` — an augmentation pipeline: ordered operations, each with parameters and a probability
* ``ops`` — the pipeline's operations: parameters, how each draws its randomness, how it is applied
* ``lighting`` — PCA lighting noise ("fancy PCA", Krizhevsky et al., 2012)
* ``unlabelled`` — the unlabelled pool (images, no labels), the label budget that makes one, unlabelled/ folders

Internal: ``kernels`` (batched per-image kernels the operations apply), ``auto_ops`` (RandAugment, TrivialAugment
and AugMix with explicit draws, for ops), ``tv_private`` (the private torchvision functions kernels build on).

The modules are imported on use, never here.

May import: vizcore.core."""

__all__ = ["augment", "datasets", "images", "imageset", "lighting", "ops", "pipeline", "shapes", "unlabelled"]
