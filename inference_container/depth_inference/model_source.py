"""Which model to load, decided without importing torch or transformers, so the local runner can say
which model it will load before it loads it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DEFAULT_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
SAGEMAKER_MODEL_DIR = "/opt/ml/model"


def resolve_model_source(explicit: str | None = None, environ: Mapping[str, str] = os.environ) -> str:
    """The model to load: ``explicit``, else the directory SageMaker unpacked ``model.tar.gz`` into,
    else ``DEPTH_MODEL`` (a Hugging Face id or a local directory), else Depth-Anything-V2-Small."""
    if explicit:
        return explicit
    model_dir = Path(environ.get("SM_MODEL_DIR") or SAGEMAKER_MODEL_DIR)
    if (model_dir / "config.json").is_file():
        return str(model_dir)
    return environ.get("DEPTH_MODEL") or DEFAULT_MODEL
