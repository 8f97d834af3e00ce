"""Looking inside trained models: activations, shape bias (and, later, SE attention and attribution).

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch."""
