"""Foundations: the data directory, the compute device, atomic file writes, argument checks.

May import: the standard library, numpy and torch; nothing else of vizcore."""
