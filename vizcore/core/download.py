"""Downloads with a per-request timeout (never the process-wide socket default), checked and written atomically.

Used for torchvision's pretrained weights and data set archives when the user's machine is online; an offline
machine fails within ``timeout_s`` with an ``OSError`` that callers turn into one sentence.
"""
from __future__ import annotations

import hashlib
import re
import urllib.request
from pathlib import Path

from vizcore.core import io

MAX_DOWNLOAD_BYTES = 2 << 30  # 2 GiB: larger than any weights or data set archive ConvScope asks for
_CHUNK = 1 << 20


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix torchvision puts in weight file names (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    m = re.search(r"-([a-f0-9]{8,})\.", filename)
    return m.group(1) if m else None


def fetch(url: str, target: str | Path, *, timeout_s: float = 10.0, sha256_prefix: str | None = None,
          md5: str | None = None, max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Download ``url`` to ``target`` (atomically); ``timeout_s`` bounds connecting and every read.

    ``sha256_prefix`` / ``md5``: the file is kept only when its digest matches (ValueError otherwise).
    Only http(s) URLs from ConvScope's own code reach here; users never pass one.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"expected an http(s) URL, got {url!r}")
    sha, md = hashlib.sha256(), hashlib.md5()  # noqa: S324 - md5 only to match published checksums

    def write(tmp: Path) -> None:
        size = 0
        with urllib.request.urlopen(url, timeout=timeout_s) as resp, tmp.open("wb") as out:  # noqa: S310
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ValueError(f"expected a download of at most {max_bytes >> 20} MiB from {url}, got more")
                sha.update(chunk)
                md.update(chunk)
                out.write(chunk)
        if sha256_prefix and not sha.hexdigest().startswith(sha256_prefix):
            raise ValueError(f"expected {Path(target).name} with sha256 {sha256_prefix}..., "
                             f"got {sha.hexdigest()[:12]}...")
        if md5 and md.hexdigest() != md5:
            raise ValueError(f"expected {Path(target).name} with md5 {md5}, got {md.hexdigest()}")

    return io.write_with(target, write)
