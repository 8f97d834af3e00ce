"""The pages' one image picker (image, digest and mask together) and one model input (pages/_common, pages/_weights)."""
from __future__ import annotations

import hashlib

import numpy as np
import torch
from streamlit.testing.v1 import AppTest


def _picker_page() -> None:
    import streamlit as st

    from pages._common import image_picker

    picked = image_picker("t", shapes_size=48)
    st.session_state["picked"] = picked


def test_the_picker_returns_the_image_its_digest_and_the_shapes_mask() -> None:
    from vizcore.data import shapes

    at = AppTest.from_function(_picker_page, default_timeout=60).run()
    assert not at.exception, [e.message for e in at.exception]
    image, digest, mask = at.session_state["picked"]
    assert image.dtype == np.uint8 and image.ndim == 3 and mask is None  # a sample photo has no mask
    assert digest == hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    at.radio(key="t_source").set_value("Shapes data set").run()
    at.number_input(key="t_shape").set_value(3).run()
    image, digest, mask = at.session_state["picked"]
    truth = shapes.make_shapes(40, size=48, seed=0)
    assert np.array_equal(image, truth.images[3].permute(1, 2, 0).numpy())
    assert mask is not None and mask.shape == (48, 48) and np.array_equal(mask, truth.masks[3].numpy())
    assert 0 < mask.mean() < 1  # an object on a background
    assert digest == hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()
    at.number_input(key="t_shape").set_value(4).run()
    assert at.session_state["picked"].digest != digest  # another image, another cache key


def test_model_input_is_the_models_preprocessing_on_its_device() -> None:
    from pages._weights import batch_input, model_input
    from vizcore.models import preprocess
    from vizcore.models.registry import build_model

    photo = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    x = model_input("small_cnn", photo)
    assert x.shape == (1, 3, 32, 32) and x.dtype == torch.float32  # the model's input size
    assert torch.equal(x, preprocess.for_model("small_cnn").image(photo, 32))
    assert model_input("small_cnn", photo, size=20).shape == (1, 3, 20, 20)
    model = build_model("small_cnn", num_classes=10).to("cuda" if torch.cuda.is_available() else "cpu")
    assert model_input("small_cnn", photo, model).device == next(model.parameters()).device
    grey = model_input("lenet5", photo)
    assert grey.shape[1] == 1  # a grey model gets one channel
    batch = torch.rand(4, 3, 32, 32)
    assert torch.allclose(batch_input("small_cnn", model)(batch).cpu(), preprocess.for_model("small_cnn").batch(batch))
