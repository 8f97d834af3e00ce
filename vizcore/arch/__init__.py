"""Architecture analysis: layer arithmetic, per-layer summaries, custom stacks (specs), torch.fx graphs and
receptive fields (analytic in receptive_field, measured by gradients in rf_measured).

Modules for use from outside (``__all__``):

* ``geometry`` — convolution arithmetic: output sizes, parameter and multiply-add counts, what can go wrong
* ``fixes`` — when a layer's settings are impossible: the reason in words and settings near them that work
* ``summary`` — per-layer summary of any ``nn.Module``: shapes, parameters, multiply-adds, output bytes, settings
* ``classic_tables`` — LeNet-5's and AlexNet's layer tables as their papers give them, from summaries
* ``memory`` — what a training batch needs: activations kept for backward, parameters, gradients, optimizer state
* ``spec`` — custom layer stacks from a small text spec, built into a real ``nn.Sequential``
* ``own_model`` — a zoo architecture or a custom spec with your weights, checked in a child process, registered
* ``graph`` — torch.fx graphs of models: tracing, per-node output shapes, truncation at a node
* ``receptive_field`` — the analytic receptive field of every node of a model (Araujo et al., Distill 2019)
* ``rf_measured`` — receptive fields measured by gradients: the theoretical field checked, the effective field
* ``kernel_stack`` — stacked small kernels versus one big kernel with the same receptive field
* ``scaling`` — compound model scaling (Tan & Le, EfficientNet, ICML 2019)

Internal: ``rf_rules`` (the geometry of a graph node and the rule of each layer kind, which receptive_field
applies).

The modules are imported on use, never here (``import vizcore.arch`` loads no torch).

May import: vizcore.core, vizcore.models."""

__all__ = ["classic_tables", "fixes", "geometry", "graph", "kernel_stack", "memory", "own_model", "receptive_field", "rf_measured", "scaling",
           "spec", "summary"]
