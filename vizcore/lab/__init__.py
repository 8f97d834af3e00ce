"""The Training Lab: the run store, the queue, the default model, experiments and their statistics, the Bag of
Tricks reference, and the live monitor.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch, vizcore.inspect, vizcore.train."""
