"""Your own weights in a real browser: a 3-class small_cnn saved as safetensors, uploaded on the Grad-CAM page,
checked in the server's child process, then offered on another inspection page of the same browser session.

A tab of its own, opened at a link to the Grad-CAM page: a browser session of its own, whose model lists then
start with these weights (the shared tab's tests pick models from those lists). A custom stack's weights going
through every inspection page, refusals, and the session's folder going with it are checked with AppTest
(tests/pages/test_own_weights_pages.py)."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import app, assert_clean, go_to, wait_until_idle

pytestmark = pytest.mark.e2e

ADDED = "Added: My weights: mine.safetensors"


def test_upload_my_weights_and_find_them_on_another_page(context, server, tmp_path) -> None:
    import torch
    from safetensors.torch import save_file

    from vizcore.models import weights as mweights

    torch.manual_seed(0)
    path = tmp_path / "mine.safetensors"
    save_file(mweights.get_model("small_cnn", num_classes=3).state_dict(), path)
    with app(context, server, path="gradcam") as (page, problems):
        page.locator(".st-key-cam_weights").get_by_text("my weights", exact=True).click()
        wait_until_idle(page)
        page.locator(".st-key-cam_weights_own_file input[type=file]").set_input_files(str(path))
        wait_until_idle(page)
        page.locator(".st-key-cam_weights_own_add button").click()
        # the check runs in a child process (seconds); then the page says what was added, or why not
        said = page.locator('[data-testid="stAlertContentSuccess"], [data-testid="stAlertContentError"]',
                            has_text="mine.safetensors").first
        said.wait_for(timeout=180_000)
        assert said.inner_text().startswith(ADDED), said.inner_text()
        wait_until_idle(page)
        assert "Weights: your weights from mine.safetensors" in page.inner_text("body")
        assert_clean(page, problems)
        go_to(page, "Features")
        page.locator(".st-key-ft_model").click()  # the model list opens: this session's weights come first
        first = page.locator('[role="option"]').first
        first.wait_for(timeout=30_000)
        assert first.inner_text().startswith("My weights: mine.safetensors (Small CNN (32x32), 3 classes")
        first.click()
        wait_until_idle(page)
        assert "Your weights: mine.safetensors" in page.inner_text("body")
        assert_clean(page, problems)
