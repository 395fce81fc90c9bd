"""Degradations of a clean page image, like a phone photo or an office scan: rotation,
perspective, blur, uneven light (a shadow), sensor noise, low resolution and JPEG artefacts.
All draws come from the given ``random.Random``, so a seed reproduces the image."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps


def _shadow(img: Image.Image, rng: random.Random, record: dict) -> Image.Image:
    """Darken one side of the page with a soft gradient (a hand or phone over the page)."""
    w, h = img.size
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    x = int(w * rng.uniform(0.5, 0.9))
    bottom = int(x * rng.uniform(0.7, 1.0))
    record["shadow"] = int(rng.uniform(50, 110))  # darkness 0-255 of the shaded side
    draw.polygon([(x, 0), (w, 0), (w, h), (bottom, h)], fill=record["shadow"])
    mask = mask.filter(ImageFilter.GaussianBlur(w / 25))
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    return Image.composite(dark, img, mask)


def _noise(img: Image.Image, rng: random.Random, amount: float) -> Image.Image:
    """Gaussian sensor noise of standard deviation ``amount`` (0-255 scale)."""
    pixels = np.asarray(img, dtype=np.int16)
    noise = np.random.default_rng(rng.randrange(2**32)).normal(0, amount, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def phone_photo(img: Image.Image, rng: random.Random, record: dict | None = None) -> Image.Image:
    """A hand-held photo: tilted, slightly keystoned, on a darker background, shadowed,
    noisy, a little out of focus, JPEG-compressed. ``record``, when given, receives the
    parameters drawn (rotation in degrees, shadow, blur radius in pixels, noise, JPEG
    quality), for breaking evaluation misses down by degradation; the draws are the same
    either way."""
    record = {} if record is None else record
    record["degradation"] = "photo"
    w, h = img.size
    pad = int(0.06 * w)
    img = ImageOps.expand(img, border=pad, fill=tuple(rng.randrange(60, 140) for _ in range(3)))
    record["rotation"] = rng.uniform(-4, 4)
    img = img.rotate(
        record["rotation"], resample=Image.BICUBIC, expand=False, fillcolor=(90, 90, 90)
    )
    W, H = img.size
    d = lambda: rng.uniform(0, 0.03)  # noqa: E731 - a tiny sampler
    quad = (d() * W, d() * H, d() * W, H - d() * H, W - d() * W, H - d() * H, W - d() * W, d() * H)
    img = img.transform((W, H), Image.QUAD, quad, resample=Image.BICUBIC)
    img = _shadow(img, rng, record)
    record["blur"] = rng.uniform(0.3, 1.2)
    img = img.filter(ImageFilter.GaussianBlur(record["blur"]))
    record["noise"] = rng.uniform(8, 20)
    img = _noise(img, rng, record["noise"])
    record["jpeg"] = rng.randrange(45, 80)
    return _jpeg(img, record["jpeg"])


def office_scan(img: Image.Image, rng: random.Random, record: dict | None = None) -> Image.Image:
    """A flatbed or sheet-fed scan: small skew, low resolution (downsampled and back),
    greyscale, speckles, JPEG-compressed. ``record`` as for :func:`phone_photo` (``scale``:
    the resolution kept, 0.45-0.75 of the render's)."""
    record = {} if record is None else record
    record["degradation"] = "scan"
    w, h = img.size
    record["rotation"] = rng.uniform(-1.5, 1.5)
    img = img.rotate(record["rotation"], resample=Image.BICUBIC, fillcolor=(255, 255, 255))
    record["scale"] = factor = rng.uniform(0.45, 0.75)  # ~100-150 dpi from a 200 dpi render
    img = img.resize((int(w * factor), int(h * factor)), Image.BILINEAR)
    img = img.resize((w, h), Image.BILINEAR)
    img = ImageOps.grayscale(img).convert("RGB")
    record["noise"] = rng.uniform(4, 12)
    img = _noise(img, rng, record["noise"])
    record["jpeg"] = rng.randrange(50, 85)
    return _jpeg(img, record["jpeg"])
