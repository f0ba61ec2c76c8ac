"""Sample photos for the demo, made on the fly: no binary files in the repository.

Each is a small outdoor scene (sky, sun, hills, a ground plane with objects that grow towards the
bottom, film grain), so a depth model has near and far things to tell apart and a person can see at a
glance whether it came out upright. The rotated samples are stored turned and tagged with the EXIF
orientation that turns them back, as a phone camera stores them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

EXIF_ORIENTATION = 0x0112

# How to store an upright picture so that applying the EXIF orientation shows it upright again.
_STORED_TURN = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # 6 says "turn 90 degrees clockwise to show", so store it anticlockwise
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class Sample:
    filename: str
    content_type: str
    data: bytes
    upright_size: tuple[int, int]  # width x height as displayed (after the EXIF orientation)
    orientation: int


@dataclass(frozen=True)
class SampleSpec:
    filename: str
    upright_size: tuple[int, int]
    orientation: int = 1
    image_format: str = "JPEG"
    seed: int = 0


SAMPLES = (
    SampleSpec("landscape.jpg", (1600, 1200), seed=1),
    SampleSpec("portrait-exif6.jpg", (1200, 1600), orientation=6, seed=2),
    SampleSpec("upside-down-exif3.jpg", (1600, 1200), orientation=3, seed=3),
    SampleSpec("drawing.png", (1200, 900), image_format="PNG", seed=4),
)


def scene(width: int, height: int, *, seed: int = 0) -> Image.Image:
    """An upright, photo-like RGB scene of width x height."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    horizon = int(height * rng.uniform(0.42, 0.55))

    # Sky: deep blue at the top to a pale haze at the horizon. Ground: lighter and hazier far away.
    sky = np.array([40, 90, 170], np.float32) + (rows / max(horizon / height, 1e-3)).clip(0, 1)[..., None] * (
        np.array([185, 200, 215], np.float32) - np.array([40, 90, 170], np.float32)
    )
    ground_t = ((rows - horizon / height) / (1 - horizon / height)).clip(0, 1)[..., None]
    ground = (
        np.array([150, 165, 120], np.float32) * (1 - ground_t) + np.array([70, 95, 40], np.float32) * ground_t
    )
    pixels = np.where(np.arange(height)[:, None, None] < horizon, sky, ground)
    pixels = np.broadcast_to(pixels, (height, width, 3)).copy()
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)

    # The sun, then two ranges of hills (the far one paler), drawn back to front.
    sun_x, sun_r = rng.uniform(0.15, 0.85) * width, 0.06 * min(width, height)
    sun_y = horizon * rng.uniform(0.25, 0.5)
    draw.ellipse((sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), fill=(255, 236, 170))
    for shade, amplitude in (((120, 140, 160), 0.16), ((85, 110, 80), 0.09)):
        xs = np.linspace(0, width, 64)
        phase = rng.uniform(0, 2 * np.pi, 3)
        ridge = horizon - amplitude * height * (
            0.6 + 0.25 * np.sin(xs / width * 5 + phase[0]) + 0.15 * np.sin(xs / width * 13 + phase[1])
        )
        draw.polygon(
            [(0, horizon), *zip(xs.tolist(), ridge.tolist(), strict=True), (width, horizon)], fill=shade
        )

    # Objects on the ground: boxes and trees, larger and lower as they come nearer.
    for depth in sorted(rng.uniform(0.05, 1.0, 9)):
        base_y = horizon + depth * (height - horizon) * 0.95
        size = (0.03 + 0.22 * depth) * min(width, height)
        x = rng.uniform(0.05, 0.95) * width
        if rng.random() < 0.5:
            tone = rng.integers(90, 200, 3)
            draw.rectangle(
                (x - size / 2, base_y - size, x + size / 2, base_y), fill=tuple(int(v) for v in tone)
            )
            shadow = tuple(int(v * 0.6) for v in tone)
            draw.polygon(
                [
                    (x + size / 2, base_y - size),
                    (x + size * 0.8, base_y - size * 1.2),
                    (x + size * 0.8, base_y - size * 0.2),
                    (x + size / 2, base_y),
                ],
                fill=shadow,
            )
        else:
            trunk = size * 0.12
            draw.rectangle((x - trunk, base_y - size * 0.5, x + trunk, base_y), fill=(90, 60, 35))
            draw.ellipse(
                (x - size * 0.4, base_y - size * 1.3, x + size * 0.4, base_y - size * 0.35),
                fill=(40, 110, 50),
            )

    # Soften the drawn edges a little, then film grain.
    softened = np.asarray(image.filter(ImageFilter.GaussianBlur(1.2)), dtype=np.float32)
    grain = rng.normal(0.0, 5.0, (height, width, 1)).astype(np.float32)
    return Image.fromarray((softened + grain).clip(0, 255).astype(np.uint8), "RGB")


def make_sample(spec: SampleSpec) -> Sample:
    upright = scene(*spec.upright_size, seed=spec.seed)
    turn = _STORED_TURN[spec.orientation]
    stored = upright.transpose(turn) if turn is not None else upright
    buffer = io.BytesIO()
    if spec.image_format == "PNG":
        stored.save(buffer, "PNG", compress_level=6)
        content_type = "image/png"
    else:
        exif = Image.Exif()
        if spec.orientation != 1:
            exif[EXIF_ORIENTATION] = spec.orientation
        stored.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
        content_type = "image/jpeg"
    return Sample(spec.filename, content_type, buffer.getvalue(), spec.upright_size, spec.orientation)


def demo_samples() -> list[Sample]:
    return [make_sample(spec) for spec in SAMPLES]
