"""Data: image sets in memory, the embedded shapes renderer, named data sets, image decoding, augmentation.

May import: vizcore.core."""
