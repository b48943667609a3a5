"""Safe still-image loading (reference images): PNG/JPEG/WebP only, size checked from the header before decoding."""

from __future__ import annotations

import os
from pathlib import Path

from talkgen.errors import MediaError

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_IMAGE_PIXELS = 40_000_000


def load_image(
    path: str | os.PathLike,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    label: str | None = None,
    fix: str = "use a PNG, JPEG or WebP image",
    shrink: str = "resize it",
):
    """Open an untrusted image: format sniffed (PNG/JPEG/WebP only), pixel count checked from the header, the
    file verified, then decoded, turned upright (EXIF) and converted to RGB.

    Args:
        path: the file. max_pixels: the largest width x height accepted. label: how errors name the file
            (default: its name). fix: the advice after a refusal. shrink: the advice for an oversized image.

    Returns:
        a loaded RGB ``PIL.Image.Image``.

    Raises:
        MediaError: missing, unreadable, unsupported or oversized file (names the file and the fix).
    """
    from PIL import Image, ImageOps

    check_image(path, max_pixels=max_pixels, label=label, fix=fix, shrink=shrink)
    label = label or Path(path).name
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            im.load()
            return ImageOps.exif_transpose(im).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{label}: the image cannot be decoded ({exc}); {fix}") from None


def check_image(
    path: str | os.PathLike,
    *,
    max_pixels: int = MAX_IMAGE_PIXELS,
    label: str | None = None,
    fix: str = "use a PNG, JPEG or WebP image",
    shrink: str = "resize it",
) -> tuple[int, int]:
    """Check an untrusted image without decoding its pixels: a regular file, PNG/JPEG/WebP, at most ``max_pixels``
    by its header, structurally valid (``verify``). Returns (width, height); MediaError as :func:`load_image`."""
    from PIL import Image, UnidentifiedImageError

    label = label or Path(path).name
    if not Path(path).is_file():
        raise MediaError(f"{label}: file not found (or not a regular file); {fix}")
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            width, height = im.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise MediaError(
                    f"{label}: {width}x{height} pixels is more than the limit of {max_pixels / 1e6:g} megapixels;"
                    f" {shrink}"
                )
            im.verify()
    except UnidentifiedImageError:
        raise MediaError(f"{label}: not a readable PNG, JPEG or WebP image; {fix}") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise MediaError(f"{label}: the image cannot be decoded ({exc}); {fix}") from None
    return width, height


def save_png(path: str | os.PathLike[str], image) -> Path:
    """Write a uint8 (H, W, 3) array as a PNG, atomically (parent folders are created).

    Raises:
        ConfigError: ``path`` does not end in ``.png``.
    """
    import numpy as np
    from PIL import Image

    from talkgen.errors import ConfigError
    from talkgen.fs import atomic_path

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"output {path} must end in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(tmp, format="PNG")
    return path
