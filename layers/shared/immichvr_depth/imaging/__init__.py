"""Image handling of the Lambda side: probe uploads, feed the depth endpoint, store its answer, and
make what viewers load beside it (browser photos, 8-bit maps, stereo pairs).

Everything here runs inside a 2 GB Lambda on untrusted bytes, so each entry point decodes no
more pixels than it needs (JPEG draft mode), never lets a raw Pillow exception escape (each
failure becomes `InvalidImage` with a readable reason) and keeps full-size buffers out of
float64. Pillow, pillow-heif and numpy only: the layer must not import torch. Imports only
`platform` of the package.

The names below load their module on first use: the import function only probes originals and
should not pay numpy's import at every cold start for the depth and model-input code it never runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from immichvr_depth.imaging._decode import ImageFacts, probe
    from immichvr_depth.imaging._depth import DepthPng, fit_depth_png
    from immichvr_depth.imaging._photo import ModelInput, Thumbnail, make_thumbnail, prepare_model_input
    from immichvr_depth.imaging._renditions import BrowserPhoto, browser_photo, depth_png8
    from immichvr_depth.imaging._stereo import (
        CONVERGENCE_RANGE,
        DEFAULT_CONVERGENCE,
        DEFAULT_DIVERGENCE,
        DIVERGENCE_RANGE,
        StereoLayout,
        StereoParams,
        render_stereo,
        stereo_filename,
    )

_MODULE_OF = {
    "ImageFacts": "_decode",
    "probe": "_decode",
    "DepthPng": "_depth",
    "fit_depth_png": "_depth",
    "ModelInput": "_photo",
    "Thumbnail": "_photo",
    "make_thumbnail": "_photo",
    "prepare_model_input": "_photo",
    "BrowserPhoto": "_renditions",
    "browser_photo": "_renditions",
    "depth_png8": "_renditions",
    "CONVERGENCE_RANGE": "_stereo",
    "DEFAULT_CONVERGENCE": "_stereo",
    "DEFAULT_DIVERGENCE": "_stereo",
    "DIVERGENCE_RANGE": "_stereo",
    "StereoLayout": "_stereo",
    "StereoParams": "_stereo",
    "render_stereo": "_stereo",
    "stereo_filename": "_stereo",
}

__all__ = [
    "CONVERGENCE_RANGE",
    "DEFAULT_CONVERGENCE",
    "DEFAULT_DIVERGENCE",
    "DIVERGENCE_RANGE",
    "BrowserPhoto",
    "DepthPng",
    "ImageFacts",
    "ModelInput",
    "StereoLayout",
    "StereoParams",
    "Thumbnail",
    "browser_photo",
    "depth_png8",
    "fit_depth_png",
    "make_thumbnail",
    "prepare_model_input",
    "probe",
    "render_stereo",
    "stereo_filename",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
