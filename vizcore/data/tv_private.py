"""The private torchvision functions the batched kernels build on, in one place.

torchvision's ``transforms.v2.functional`` applies one parameter to a whole batch; :mod:`vizcore.data.kernels`
needs one per image and reuses torchvision's own building blocks to stay equal to it. Those blocks are private
(underscore names, no stability promise), so they are imported here only: an upgrade that moves or renames one
fails at this import with a sentence naming it, and ``tests/vizcore/test_tv_private.py`` checks each one against
torchvision's public functions.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchvision.transforms.v2.functional import _color, _geometry

__all__ = ["NAMES", "apply_grid_transform", "create_identity_grid", "get_inverse_affine_matrix", "hsv_to_rgb",
           "perspective_coefficients", "perspective_grid", "rgb_to_grayscale_image", "rgb_to_hsv"]

# adapter name -> (torchvision module, private name)
NAMES: dict[str, tuple[Any, str]] = {
    "apply_grid_transform": (_geometry, "_apply_grid_transform"),
    "get_inverse_affine_matrix": (_geometry, "_get_inverse_affine_matrix"),
    "perspective_grid": (_geometry, "_perspective_grid"),
    "perspective_coefficients": (_geometry, "_perspective_coefficients"),
    "create_identity_grid": (_geometry, "_create_identity_grid"),
    "rgb_to_grayscale_image": (_color, "_rgb_to_grayscale_image"),
    "rgb_to_hsv": (_color, "_rgb_to_hsv"),
    "hsv_to_rgb": (_color, "_hsv_to_rgb"),
}


def _get(name: str) -> Callable[..., Any]:
    module, private = NAMES[name]
    fn = getattr(module, private, None)
    if not callable(fn):
        import torchvision

        raise ImportError(f"expected torchvision's private {module.__name__}.{private} (ConvScope's batched "
                          f"augmentation kernels build on it), got none in torchvision {torchvision.__version__}; "
                          "install the torchvision version requirements.txt pins")
    return fn


apply_grid_transform = _get("apply_grid_transform")
get_inverse_affine_matrix = _get("get_inverse_affine_matrix")
perspective_grid = _get("perspective_grid")
perspective_coefficients = _get("perspective_coefficients")
create_identity_grid = _get("create_identity_grid")
rgb_to_grayscale_image = _get("rgb_to_grayscale_image")
rgb_to_hsv = _get("rgb_to_hsv")
hsv_to_rgb = _get("hsv_to_rgb")
