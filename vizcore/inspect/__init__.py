"""Looking inside trained models: activation capture (hooks and truncated fx graphs), per-channel activation maps
(``activations``), filters (``filters``), top-activating patches (``top_patches``), activation maximisation
(``maximize``), squeeze-and-excitation gates and their ablation (``se``), shape bias (and, later, attribution).

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch."""
