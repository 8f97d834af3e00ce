"""Models: the registry (the zoo), ConvScope's own small models, weights (random, pretrained, checkpoints) and
one preprocessing path per zoo entry.

Modules for use from outside (``__all__``):

* ``registry`` — the model zoo by lower_snake name: entries, building, classifier replacement
* ``weights`` — random (seeded), pretrained (torchvision) or checkpoint weights; checkpoints and their metadata
* ``own_weights`` — your own weights (safetensors or a weights-only state_dict): read without running code,
  classes and input channels read off the tensors, strict load naming the first misfit
* ``preprocess`` — one preprocessing path per zoo entry: pixels in [0, 1] -> the model's input
* ``small`` — ConvScope's own small models (LeNet-5, AlexNet, small CNN, small SE-ResNet, ...)
* ``resnet_tweaks`` — ResNet-A/B/C/D, the Bag of Tricks model tweaks
* ``efficientnet_small`` — a small EfficientNet for 32x32 images and its compound-scaled family
* ``classic`` — LeNet-5 and AlexNet as their papers drew them (C3 table, RBF output; LRN, two-GPU grouping)
* ``xception`` — Xception (Chollet 2017): entry, middle and exit flows of depthwise-separable convolutions
* ``aux_heads`` — GoogLeNet and Inception-v3 with their auxiliary classifiers shown

Internal: ``init_once`` (builds that draw each tensor's values once: the registry's VGG, and any model about to
receive weights from a file, which draws none).

The modules are imported on use, never here.

May import: vizcore.core (and vizcore.data.images, lazily, to resize photos)."""

__all__ = ["aux_heads", "classic", "efficientnet_small", "own_weights", "preprocess", "registry", "resnet_tweaks", "small",
           "weights", "xception"]
