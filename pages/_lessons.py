"""The "Start here" path on Home: lessons in the order of the course notes — output size, receptive field,
architectures and their tweaks, features and SE, Grad-CAM, training (the playground, then the tricks),
augmentation, adversarial examples, few labels.

Each lesson is data: the page it opens, what to look at there, one question, and the query parameters of its link
(``params``: the page's URL parameters, :mod:`pages._url_state`), which set the page's widgets when it opens — the
same link a teacher can copy from the page. Values equal to a widget's default are left out. A lesson whose page
is not in the app's navigation yet (``pages/_nav.py``) is listed as coming, without a link: adding the page makes
it a link, with nothing to change here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Lesson:
    title: str  # a few words
    page: str  # the page file it opens, relative to the app's folder
    look: str  # what to look at there, one or two sentences
    question: str  # one question to answer from what the page shows
    params: dict[str, Any] = field(default_factory=dict)  # URL parameter -> its value (a list: the parameter repeated)


LESSONS: tuple[Lesson, ...] = (
    Lesson("One image through the network", "pages/network_overview.py",
           "Every layer's maps for one image, left to right, down to the class probabilities.",
           "Where does the map size halve, and where does the number of channels grow?"),
    Lesson("Output size", "pages/conv_arithmetic.py",
           "The formula O = ⌊(I + 2P − D·(K − 1) − 1) / S⌋ + 1 filled in for a 5×5 kernel with stride 2 on a "
           "32×32 input, and the kernel sliding over it.",
           "Before you look: how big is the output? Which stride would leave input pixels unread?",
           {"ca_h": 32, "ca_w": 32, "ca_k": 5, "ca_s": 2, "ca_p": 1}),
    Lesson("Receptive field", "pages/receptive_field.py",
           "The small CNN's field layer by layer, and the box one unit of a deep layer sees on the image.",
           "How many pixels does each 3×3 convolution add to the field, before and after a 2×2 pooling?",
           {"rf_model": "small_cnn"}),
    Lesson("Architectures", "pages/architectures.py",
           "VGG-16 and ResNet-18 side by side: parameters and multiply-adds per stage.",
           "Where do VGG-16's parameters sit, and how does ResNet-18 go deeper with under a tenth of them?",
           {"arch_view": "compare_models", "arch_compare": ["vgg16", "resnet18"]}),
    Lesson("Tweaks and scaling", "pages/model_scaling.py",
           "ResNet-50's forms A–D (Bag of Tricks §4) and EfficientNet's compound scaling at φ = 2.",
           "What does form D cost over form B in multiply-adds, and what does it buy in accuracy?",
           {"sc_phi": 2.0}),
    Lesson("Features", "pages/features.py",
           "The trained small CNN's activation maps for one image, channel by channel.",
           "Which channels answer to the object's outline, and which to its colour or texture?"),
    Lesson("Squeeze-and-excitation", "pages/se_attention.py",
           "The SE gates of the small SE-ResNet for one image and per class.",
           "Which blocks' gates change from class to class, and which stay alike for every class?"),
    Lesson("Grad-CAM", "pages/gradcam.py",
           "Grad-CAM, Grad-CAM++ and the plain gradient side by side on a shape, scored against its mask.",
           "Does the map cover the object — and does it survive the sanity check with random weights?",
           {"cam_methods": ["gradcam", "gradcam_pp", "saliency"]}),
    Lesson("Watch a network train", "pages/playground.py",
           "Press play: the loss, the first-layer filters and the confusion matrix change with every batch.",
           "Which classes does the confusion matrix separate first? Set the step size to 1.0: what happens?"),
    Lesson("Training tricks", "pages/training_lab.py",
           "An A/B comparison of label smoothing over several seeds, with its confidence interval.",
           "Is label smoothing's gain larger than the spread between seeds?",
           {"lab_cmp_trick": "label_smoothing"}),
    Lesson("Augmentation", "pages/augmentation_lab.py",
           "RandAugment's preset: load it, see what each copy drew, and what it does to a trained model.",
           "Which operations change the model's answer most, and would you train with them?",
           {"aug_preset": "randaugment"}),
    Lesson("Adversarial examples", "pages/adversarial.py",
           "One FGSM step of ε = 8/255 on a shape the model gets right, and the change it made, amplified.",
           "Can you see the change? How small an ε already flips the answer?",
           {"adv_method": "fgsm"}),
    Lesson("Few labels", "pages/few_labels.py",
           "Training with a few labelled images and many unlabelled ones.",
           "How far do a few labels get on their own, and what do the unlabelled images add?"),
)


def registered(lesson: Lesson, pages: set[str]) -> bool:
    """Whether the lesson's page is in the app's navigation (``pages``: the page paths of ``_nav.all_pages()``)."""
    return lesson.page in pages
