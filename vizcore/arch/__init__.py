"""Architecture analysis: layer arithmetic, per-layer summaries, custom stacks (specs), torch.fx graphs and
receptive fields (analytic in receptive_field, measured by gradients in rf_measured).

May import: vizcore.core, vizcore.models."""
