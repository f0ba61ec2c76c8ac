"""Image handling of the Lambda side: probe uploads, feed the depth endpoint, store its answer.

Everything here runs inside a 2 GB Lambda on untrusted bytes, so each entry point decodes no
more pixels than it needs (JPEG draft mode), never lets a raw Pillow exception escape (each
failure becomes `InvalidImage` with a readable reason) and keeps full-size buffers out of
float64. Pillow, pillow-heif and numpy only: the layer must not import torch.
"""

from __future__ import annotations

from immichvr_depth.imaging._decode import ImageFacts, probe
from immichvr_depth.imaging._depth import DepthPng, fit_depth_png
from immichvr_depth.imaging._photo import ModelInput, Thumbnail, make_thumbnail, prepare_model_input

__all__ = [
    "DepthPng",
    "ImageFacts",
    "ModelInput",
    "Thumbnail",
    "fit_depth_png",
    "make_thumbnail",
    "prepare_model_input",
    "probe",
]
