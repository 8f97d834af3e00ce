"""The app's pages (one list: app.py's navigation and Home's directory are both built from it), and a link to
another page that also works when a page script runs on its own (tests, bare runs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from streamlit.errors import StreamlitAPIException


@dataclass(frozen=True)
class PageInfo:
    path: str  # the page file, relative to the app's folder
    title: str  # its name in the navigation
    icon: str  # a Material icon
    blurb: str  # what the page is for, one or two sentences (Home's directory)
    default: bool = False  # the page "/" opens


SECTIONS: dict[str, list[PageInfo]] = {
    "Overview": [
        PageInfo("pages/home.py", "Home", ":material/home:", "What ConvScope is, a Start here path of lessons through the pages, and what each page is for.", True),
    ],
    "First steps": [
        PageInfo("pages/first_classifiers.py", "First classifiers", ":material/school:",
                 "Before convolutions: a linear classifier trained live on digits or shapes, its weights shown as "
                 "one template per class, and k-nearest neighbours in pixel space against a trained CNN's feature "
                 "space, with accuracy against k."),
    ],
    "Building blocks": [
        PageInfo("pages/conv_arithmetic.py", "Conv Arithmetic", ":material/grid_on:",
                 "How kernel, stride, padding and dilation set a layer's output size — the formula filled in with "
                 "your numbers, parameters, multiply-adds, warnings when pixels are dropped, and the kernel sliding "
                 "over the input."),
        PageInfo("pages/architectures.py", "Architectures", ":material/account_tree:",
                 "LeNet-5, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, MobileNet, EfficientNet, RegNet and SE blocks "
                 "layer by layer: shapes, parameters and multiply-adds, checked against torchvision's published "
                 "totals; compare up to four models, or type your own stack."),
        PageInfo("pages/model_scaling.py", "Model tweaks & scaling", ":material/open_in_full:",
                 "ResNet-50 forms A–D (Bag of Tricks §4) and EfficientNet's compound scaling: what each tweak and "
                 "each step of φ costs, and a small EfficientNet family trained here to see what the cost buys."),
    ],
    "Seeing inside": [
        PageInfo("pages/network_overview.py", "Network overview", ":material/view_week:",
                 "One image through every layer of any model, left to right, ending in the class probabilities (small "
                 "models layer by layer, big ones by stage); a unit's receptive field and the units it reads; and one "
                 "unit's convolution worked out on the network's own numbers: patch, kernel, products, sum, bias, "
                 "activation, pooling."),
        PageInfo("pages/receptive_field.py", "Receptive Field", ":material/center_focus_strong:",
                 "Which input pixels a unit sees: exact receptive fields, effective stride and padding for branching "
                 "networks, the box a chosen unit sees on an image, and the effective receptive field of trained "
                 "weights."),
        PageInfo("pages/gradcam.py", "Grad-CAM & attributions", ":material/local_fire_department:",
                 "Where a model looks: Grad-CAM, Grad-CAM++, Layer-CAM, guided Grad-CAM, saliency, integrated "
                 "gradients and occlusion on your image, scored against the object's mask, the sanity check with "
                 "randomised weights, and the map over training."),
        PageInfo("pages/features.py", "Features", ":material/filter:",
                 "What the channels see: filters, activation maps for your image, the image patches that excite a "
                 "channel most over a data set, and an input optimised to excite it."),
        PageInfo("pages/se_attention.py", "SE Attention", ":material/tune:",
                 "Squeeze-and-excitation gates for your image and per class (the SENet paper's analysis on your "
                 "data), and what switching them off costs."),
        PageInfo("pages/adversarial.py", "Adversarial examples", ":material/gpp_maybe:",
                 "Perturbations too small to see that flip a model's answer: FGSM, PGD and same-size noise on your "
                 "image, how the explanation moves, accuracy against ε, the smallest ε that flips each image, and "
                 "what adversarial training costs and buys."),
    ],
    "Training": [
        PageInfo("pages/playground.py", "Training playground", ":material/play_circle:",
                 "Press play, pause, step or reset and watch a small CNN learn the shapes one mini-batch at a time: "
                 "its first-layer filters, one layer's activations for an image, the confusion matrix and the loss "
                 "change as it trains."),
        PageInfo("pages/training_lab.py", "Training Lab", ":material/model_training:",
                 "Train small models live and compare the Bag of Tricks — warmup, cosine schedules, label smoothing, "
                 "mixup, cutmix, zero-gamma, distillation, transfer learning, augmentation — over several seeds, with "
                 "honest statistics."),
        PageInfo("pages/augmentation_lab.py", "Augmentation Lab", ":material/auto_fix_high:",
                 "Build an augmentation pipeline step by step, see what each copy drew on your image, measure what it "
                 "does to a trained model, and send it to the Training Lab."),
        PageInfo("pages/few_labels.py", "Few labels", ":material/label_off:",
                 "K labels per class and an unlabelled pool: supervised, augmentation, transfer, distillation, "
                 "pseudo-labels, Noisy Student and FixMatch on one label-efficiency curve, and the pseudo-labels "
                 "themselves — pass rate, accuracy, confusion matrix, confident mistakes."),
    ],
}


def all_pages() -> list[PageInfo]:
    """Every page, in navigation order."""
    return [p for section in SECTIONS.values() for p in section]


def page_link(container, page: str, label: str, icon: str | None = None,
              query_params: dict[str, str | list[str]] | None = None) -> None:
    """``container.page_link(page, ...)`` in the app (app.py registers every page with ``st.navigation``); a plain
    link to the page's URL when the script runs without that navigation and Streamlit cannot resolve it.
    ``query_params`` set the page's widgets (:mod:`pages._url_state`)."""
    try:
        container.page_link(page, label=label, icon=icon, query_params=query_params or None)
    except StreamlitAPIException:  # StreamlitPageNotFoundError: no st.navigation in this run
        query = f"?{urlencode(query_params, doseq=True)}" if query_params else ""
        container.markdown(f"[{label}](/{Path(page).stem}{query})")
