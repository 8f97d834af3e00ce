"""Looking inside trained models: activation capture (hooks and truncated fx graphs), per-channel activation maps
(``activations``), filters (``filters``), top-activating patches (``top_patches``), activation maximisation
(``maximize``), squeeze-and-excitation gates and their ablation (``se``), shape bias, and attribution.

Modules for use from outside (``__all__``):

* ``capture`` — what a layer outputs for an input, by forward hooks or by a truncated fx graph
* ``activations`` — activations of a traced model at one node
* ``filters`` — convolution filters as pictures (Zeiler & Fergus, 2014)
* ``top_patches`` — the top-activating units over a data set, each as the input patch under its field
* ``maximize`` — what input a channel wants: activation maximisation by gradient ascent
* ``se`` — squeeze-and-excitation gates of every SE block, their class dependence and ablation
* ``shape_bias`` — does a classifier decide by outline or by texture (Geirhos et al., 2019)
* ``attribution`` — attribution maps: Grad-CAM and relatives (captum)
* ``cam_metrics`` — is an attribution map right: ground truth, faithfulness, a sanity check
* ``cam_epochs`` — how a class activation map forms across the epochs of one training run
* ``augment_effect`` — what an augmentation does to the data and to a trained model
* ``first_classifiers`` — a linear classifier's class templates, and k-NN in pixel against feature space
* ``conv_trace`` — one unit's convolution on the network's real numbers: patch, kernel, products, sum, bias, what
  follows (normalisation, activation, pooling)
* ``overview`` — one image through every layer (or stage) of a network, ending in the class probabilities
* ``deformable`` — deformable convolution: where a trained offset field makes a 3×3 kernel sample
* ``pseudo_labels`` — a model's pseudo-labels on a pool: τ's quantity/quality trade-off, errors, confirmation bias

The modules are imported on use, never here.

May import: vizcore.core, vizcore.models, vizcore.data, vizcore.arch."""

__all__ = ["activations", "attribution", "augment_effect", "cam_epochs", "cam_metrics", "capture", "conv_trace",
           "deformable", "filters", "first_classifiers", "maximize", "overview", "pseudo_labels", "se", "shape_bias",
           "top_patches"]
