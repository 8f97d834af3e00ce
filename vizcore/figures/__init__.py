"""Plotly figure builders, one module per topic, one palette: plain data in, ``go.Figure`` out; no Streamlit.

Modules for use from outside (``__all__``):

* ``geometry`` — one layer's arithmetic: the sliding window animation
* ``arch`` — architectures: per-layer metrics, per-stage and total comparisons
* ``receptive_field`` — the field on the image, the feature-map grid, growth with depth, stacked kernels
* ``features`` — what channels do: filters, activation maps, statistics, top patches, maximisation
* ``se`` — squeeze-and-excitation gates: per image, per class, per block
* ``attribution`` — attribution maps: overlays, top-k predictions, localisation against chance
* ``images`` — the image grid every page draws images with
* ``augment`` — the Augmentation Lab: mixed labels, pixel statistics, what a pipeline does to a model
* ``training`` — LR schedules, live curves, bands over seeds, comparisons, paper vs measured, shape bias
* ``scaling`` — model tweaks and model scaling: cost and accuracy
* ``robust`` — adversarial examples: the attack on one image, accuracy against ε, flipping radii, drift
* ``first_classifiers`` — a linear classifier's templates and training curve, k-NN accuracy against k
* ``overview`` — one image through the network: activation maps per layer, the class probabilities
* ``conv_trace`` — one unit's convolution on real numbers: patch, kernel, products, per-channel sums, pooling
* ``playground`` — the training playground: loss while it trains, the confusion matrix on held-out images
* ``deformable`` — deformable convolution: where the trained 3×3 kernel samples, the training error
* ``few_labels`` — label efficiency, the pseudo-label log, τ's trade-off, confusion, confident errors, rounds
* ``export`` — any figure's numbers as one CSV table (long format), a file name from its title

Internal: ``palette`` (the one colour palette and its helpers, which every figure module uses), ``grid`` (subplot
grids laid out once per shape).

The modules are imported on use, never here.

Every figure has a title, axis labels and units. May import: plotly, numpy and (for typing) any vizcore module."""

__all__ = ["arch", "attribution", "augment", "conv_trace", "deformable", "export", "features", "few_labels",
           "first_classifiers", "geometry", "images", "overview", "playground", "receptive_field", "robust", "scaling",
           "se", "training"]
