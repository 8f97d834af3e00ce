"""Models: the registry (the zoo), ConvScope's own small models, weights (random, pretrained, checkpoints) and
one preprocessing path per zoo entry.

May import: vizcore.core (and vizcore.data.images, lazily, to resize photos)."""
