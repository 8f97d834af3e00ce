"""Home: what ConvScope is and what each page is for."""
from __future__ import annotations

import pages._startup  # noqa: F401  first import of every page: imports all modules once, in one thread

import streamlit as st

st.title("ConvScope")
st.markdown(
    "See how convolutional networks for image classification **work** and **train** — with real PyTorch "
    "models, real numbers and nothing to download: the defaults use synthetic shapes, sample photos shipped "
    "with scikit-image and models ConvScope trains itself.")

PAGES = [
    ("pages/conv_arithmetic.py", "Conv Arithmetic",
     "How kernel, stride, padding and dilation set a layer's output size — the formula filled in with your "
     "numbers, parameters, multiply-adds, warnings when pixels are dropped, and the kernel sliding over the input."),
    ("pages/architectures.py", "Architectures",
     "LeNet-5, AlexNet, VGG, GoogLeNet, ResNet, DenseNet, MobileNet, EfficientNet, RegNet and SE blocks layer by "
     "layer: shapes, parameters and multiply-adds, checked against torchvision's published totals; compare up to "
     "four models, or type your own stack."),
    ("pages/receptive_field.py", "Receptive Field",
     "Which input pixels a unit sees: exact receptive fields, effective stride and padding for branching "
     "networks, the box a chosen unit sees on an image, and the effective receptive field of trained weights."),
    ("pages/features.py", "Features",
     "What the channels see: filters, activation maps for your image, the image patches that excite a channel "
     "most over a data set, and an input optimised to excite it."),
    ("pages/se_attention.py", "SE Attention",
     "Squeeze-and-excitation gates for your image and per class (the SENet paper's analysis on your data), and "
     "what switching them off costs."),
    ("pages/training_lab.py", "Training Lab",
     "Train small models live and compare the Bag of Tricks — warmup, cosine schedules, label smoothing, mixup, "
     "cutmix, zero-gamma, distillation, transfer learning, augmentation — over several seeds, with honest "
     "statistics."),
]

for path, title, text in PAGES:
    with st.container(border=True):
        st.page_link(path, label=f"**{title}**")
        st.write(text)

st.caption("Everything here is also scriptable: `python -m vizcore --help` lists the commands (JSON out).")
