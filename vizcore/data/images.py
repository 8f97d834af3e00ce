"""Photos and uploads: scikit-image's sample photos (offline), safe decoding of image files, resizing for a model.
"""
from __future__ import annotations

import io
import warnings
from functools import lru_cache

import numpy as np
import torch

from vizcore.core.budget import check_memory
from vizcore.data.imageset import MIN_SIZE, resize_images

MAX_ASPECT = 50  # longest side / shortest side accepted: wider panoramas fit, 1x30,000 strips do not

# ------------------------------------------------------------------------------------------- photos & uploads

PHOTO_NAMES: tuple[str, ...] = (
    "chelsea", "astronaut", "coffee", "rocket", "camera", "coins", "hubble_deep_field", "immunohistochemistry",
    "retina", "colorwheel",
)


@lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
    import skimage.data

    out: dict[str, np.ndarray] = {}
    for name in PHOTO_NAMES:
        img = np.asarray(getattr(skimage.data, name)())
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img[:, :, :3]).astype(np.uint8, copy=False)
        img.setflags(write=False)  # shared between callers: read-only so nobody edits the cache
        out[name] = img
    return out


def sample_photos() -> dict[str, np.ndarray]:
    """Sample photos that ship with scikit-image (offline): name -> (H, W, 3) uint8, read-only arrays."""
    return dict(_photos())


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        # Scale by the finite values only: one Inf pixel would otherwise make every other pixel 0 (all black).
        finite = np.isfinite(arr)
        if not finite.any():
            raise ValueError("expected an image with finite pixel values, got one that is all NaN or infinite")
        lo, hi = float(arr[finite].min()), float(arr[finite].max())
        clipped = np.clip(np.where(finite, arr, np.where(arr > 0, hi, lo)), lo, hi).astype(np.float64)
        scaled = (clipped - lo) / (hi - lo) if hi > lo else np.zeros_like(clipped)
        return (scaled * 255.0).round().astype(np.uint8)
    # Integer modes wider than 8 bits (16-bit PNG/TIFF): keep the top 8 bits of the 16-bit range.
    return (np.clip(arr.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)


MAX_FILE_BYTES = 20_000_000  # an image file larger than this is refused before it is read


def decode_image(data: bytes, max_bytes: int = MAX_FILE_BYTES, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode image file bytes (PNG, JPEG, GIF, WebP, BMP, TIFF, ...) to an (H, W, 3) uint8 RGB array.

    EXIF orientation is applied; grey, 16-bit, palette and CMYK images are converted; transparency is
    composited over white; animated images give their first frame. ValueError, in words, for empty or
    oversized input, bytes that are not an image, truncated files and images of more than ``max_pixels``
    pixels or a side ratio above ``MAX_ASPECT`` (checked from the header before decoding, so decompression
    bombs and 1x30,000 strips are never expanded), and decodes above the memory budget.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected image file bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ValueError("expected image file bytes, got an empty file")
    if len(data) > max_bytes:
        raise ValueError(f"expected an image file of at most {max_bytes / 1e6:.0f} MB, got {len(data) / 1e6:.1f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"expected an image of at most {max_pixels:,} pixels, got a larger one "
                         "(a possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise ValueError("expected an image file (PNG, JPEG, GIF, WebP, BMP, TIFF), got bytes that are not an image") from None
    except Exception as exc:  # other parser errors on malformed headers
        raise ValueError(f"expected a readable image file, got one that cannot be opened ({exc})") from None
    _check_header_size(*im.size, max_pixels)
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animated GIF/WebP/APNG: the first frame
        im.load()
        im = ImageOps.exif_transpose(im) or im  # type: ignore[assignment]  # an Image either way
    except Exception as exc:  # truncated files raise OSError on load
        raise ValueError(f"expected a complete image file, got a truncated or corrupt one ({exc})") from None
    mode = im.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode in ("RGB",):
        return np.asarray(im, dtype=np.uint8).copy()
    if mode in ("L", "P", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    # 16/32-bit integer and float modes ("I;16", "I", "F"): scale to 8 bits ourselves (Pillow would clip).
    arr = _to_uint8(np.asarray(im))
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def _check_header_size(w: int, h: int, max_pixels: int) -> None:
    """Refuse sizes from the header, before any pixel is decoded."""
    if w < 1 or h < 1:
        raise ValueError(f"expected an image with pixels, got size {w}x{h}")
    if w * h > max_pixels:
        raise ValueError(f"expected an image of at most {max_pixels:,} pixels, got {w}x{h} = {w * h:,} "
                         "(too large, or a decompression bomb)")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ValueError(f"expected an image at most {MAX_ASPECT} times as long as it is wide, got {w}x{h}")
    check_memory(f"decoding a {w}x{h} image", w * h * 4 * 3)  # RGBA decode, conversion, copy


def fit_image(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """What the model sees, as uint8: (H, W, 3) -> (size, size, 3) by shorter side + centre crop (int size), or
    (h, w, 3) by a plain resize (tuple size). Antialiased bilinear. Pages overlay maps on this image.

    The centre square is cut before resizing, so memory is bounded by the output and the input, whatever the
    aspect ratio (resizing a 1x30,000 strip's short side to 224 first would ask for 5 GB).
    """
    t = _hwc_to_tensor(image)
    if isinstance(size, (tuple, list)):
        from torchvision.transforms.v2 import functional as TF

        hw = (int(size[0]), int(size[1])) if len(size) == 2 else tuple(size)
        _check_hw(hw)
        out = TF.resize(t, list(size), antialias=True)
    else:
        _check_hw((size, size))
        h, w = t.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        out = resize_images(t[..., top:top + side, left:left + side], int(size))
    return out[0].permute(1, 2, 0).contiguous().numpy()


def _check_hw(hw: tuple[int, int]) -> None:
    if len(hw) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not MIN_SIZE <= v <= 1024
                           for v in hw):
        raise ValueError(f"expected an input size between {MIN_SIZE} and 1024 pixels, got {hw!r}")


def _hwc_to_tensor(image: np.ndarray) -> torch.Tensor:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4) or arr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got shape {arr.shape} {arr.dtype}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    arr = np.array(arr, copy=True) if not arr.flags.writeable else np.ascontiguousarray(arr)  # torch needs writable
    return torch.from_numpy(arr).permute(2, 0, 1)[None]
