"""Loading the model a source names (see model_source.py) and reading its metadata from its config."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transformers import AutoModelForDepthEstimation, PretrainedConfig, PreTrainedModel

from depth_inference.errors import ModelLoadError
from depth_inference.model_source import SAGEMAKER_MODEL_DIR

logger = logging.getLogger(__name__)


# Backbone width of each published Depth-Anything size (DINOv2 ViT-S/B/L/G).
_VERSION_BY_HIDDEN_SIZE = {384: "small", 768: "base", 1024: "large", 1536: "giant"}


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    version: str


def load_pretrained(source: str) -> PreTrainedModel:
    """The depth model at ``source``, or ModelLoadError naming it and the way out."""
    try:
        model: PreTrainedModel = AutoModelForDepthEstimation.from_pretrained(source)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load the depth model {source!r}: {exc}\n"
            "If the Hugging Face Hub is unreachable from here, set DEPTH_MODEL to a local directory made "
            "with save_pretrained (inference_container/scripts/package_model.py writes one) or mount one "
            f"at {SAGEMAKER_MODEL_DIR}."
        ) from exc
    if model.config.model_type != "depth_anything":
        raise ModelLoadError(
            f"{source!r} is a {model.config.model_type!r} model; this container serves Depth-Anything "
            "(its preprocessing and output conventions are built in)"
        )
    logger.info("loaded depth model %s", source)
    return model


def describe(config: PretrainedConfig) -> ModelMetadata:
    """Name and size of a Depth-Anything model, read from its config rather than from where it came from,
    so a model unpacked into /opt/ml/model reports the same as the hub id it was packaged from."""
    backbone = config.backbone_config
    hidden_size = int(backbone.hidden_size)
    name = config.model_type.replace("_", "-")
    # V1 taps the last four backbone blocks; V2 taps blocks spread over the depth (3, 6, 9, 12 for ViT-S).
    last_four = list(range(backbone.num_hidden_layers - 3, backbone.num_hidden_layers + 1))
    if list(backbone.out_indices) != last_four:
        name += "-v2"
    if config.depth_estimation_type == "metric":
        name += "-metric"
    return ModelMetadata(name=name, version=_VERSION_BY_HIDDEN_SIZE.get(hidden_size, f"custom-{hidden_size}"))
