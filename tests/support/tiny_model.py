"""A tiny, randomly initialised Depth-Anything-V2 built from the real transformers classes and saved
with save_pretrained, so every suite loads it through the production code path."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import DepthAnythingForDepthEstimation

from tests.inference.helpers import dpt_processor, tiny_config


def save_tiny_model(directory: Path) -> Path:
    torch.manual_seed(0)
    model = DepthAnythingForDepthEstimation(tiny_config())
    with torch.no_grad():
        # transformers' initialisation (std 0.02) leaves a model this small with an almost flat output;
        # He-initialised convolutions give depth maps with real structure to compare.
        for module in [*model.neck.modules(), *model.head.modules()]:
            if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        output_bias = model.head.conv3.bias
        assert output_bias is not None
        output_bias.fill_(1.0)  # depth starts positive, clear of the final ReLU
        # Random 14x14 patch filters make an untrained model chaotic: a one-level difference in a pixel
        # moves the output by percents. Trained filters are smooth; filters flat over the patch are too,
        # so the model reacts to image content as a trained one does, not to rounding noise.
        projection = model.backbone.embeddings.patch_embeddings.projection
        out_channels, in_channels, height, width = projection.weight.shape
        mixing = torch.randn(out_channels, in_channels, 1, 1) / (height * width)
        projection.weight.copy_(mixing.expand_as(projection.weight))
    model.save_pretrained(directory)
    dpt_processor().save_pretrained(directory)
    return directory
