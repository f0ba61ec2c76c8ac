"""Where the model comes from and what it reports about itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import huggingface_hub.constants
import pytest
from transformers import DPTConfig, DPTForDepthEstimation

from depth_inference.engine import DepthEngine
from depth_inference.errors import ModelLoadError
from depth_inference.loading import ModelMetadata, describe, load_pretrained
from depth_inference.model_source import DEFAULT_MODEL, resolve_model_source
from tests.inference.helpers import tiny_config
from tests.support.images import jpeg_bytes


def test_explicit_source_wins(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    environ = {"SM_MODEL_DIR": str(tmp_path), "DEPTH_MODEL": "org/other"}

    assert resolve_model_source("org/explicit", environ) == "org/explicit"


def test_a_model_unpacked_by_sagemaker_comes_next(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")

    assert resolve_model_source(None, {"SM_MODEL_DIR": str(tmp_path), "DEPTH_MODEL": "org/other"}) == str(
        tmp_path
    )


def test_depth_model_is_used_when_sagemaker_unpacked_nothing(tmp_path: Path) -> None:
    environ = {"SM_MODEL_DIR": str(tmp_path), "DEPTH_MODEL": "org/other"}

    assert resolve_model_source(None, environ) == "org/other"


def test_the_default_is_depth_anything_v2_small(tmp_path: Path) -> None:
    assert resolve_model_source(None, {"SM_MODEL_DIR": str(tmp_path)}) == DEFAULT_MODEL
    assert DEFAULT_MODEL == "depth-anything/Depth-Anything-V2-Small-hf"


def test_the_sagemaker_path_defaults_to_opt_ml_model(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def is_file(path: Path) -> bool:
        seen.append(str(path))
        return False

    monkeypatch.setattr(Path, "is_file", is_file)

    resolve_model_source(None, {})

    assert seen == ["/opt/ml/model/config.json"]


@pytest.mark.parametrize(
    ("hidden_size", "layers", "out_indices", "expected"),
    [
        (384, 12, (3, 6, 9, 12), ModelMetadata("depth-anything-v2", "small")),
        (768, 12, (3, 6, 9, 12), ModelMetadata("depth-anything-v2", "base")),
        (1024, 24, (5, 12, 18, 24), ModelMetadata("depth-anything-v2", "large")),
        (384, 12, (9, 10, 11, 12), ModelMetadata("depth-anything", "small")),
        (1024, 24, (21, 22, 23, 24), ModelMetadata("depth-anything", "large")),
        (32, 8, (2, 4, 6, 8), ModelMetadata("depth-anything-v2", "custom-32")),
    ],
)
def test_name_and_version_come_from_the_config(
    hidden_size: int, layers: int, out_indices: tuple[int, ...], expected: ModelMetadata
) -> None:
    config = tiny_config(hidden_size=hidden_size, num_hidden_layers=layers, out_indices=out_indices)

    assert describe(config) == expected


def test_metric_models_say_so() -> None:
    config = tiny_config(
        hidden_size=1024, num_hidden_layers=24, out_indices=(5, 12, 18, 24), depth_estimation_type="metric"
    )

    assert describe(config) == ModelMetadata("depth-anything-v2-metric", "large")


def test_a_model_in_sm_model_dir_loads_and_answers_like_the_same_model_from_depth_model(
    engine: DepthEngine, tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "opt-ml-model"
    shutil.copytree(tiny_model_dir, model_dir)
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("DEPTH_MODEL", "org/not-reachable")

    from_sagemaker = DepthEngine.load(device="cpu", warm_up=False)

    assert (from_sagemaker.model_name, from_sagemaker.model_version) == ("depth-anything-v2", "custom-32")
    image = jpeg_bytes(200, 150)
    assert from_sagemaker.predict(image, input_size=70) == engine.predict(image, input_size=70)


def test_an_unreachable_hub_says_which_model_and_how_to_load_one_locally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline mode fails the way an unreachable hub does, without waiting for network retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("DEPTH_MODEL", "depth-anything/Depth-Anything-V2-Small-hf")

    with pytest.raises(ModelLoadError) as raised:
        DepthEngine.load()

    message = str(raised.value)
    assert "depth-anything/Depth-Anything-V2-Small-hf" in message
    assert "DEPTH_MODEL" in message
    assert "save_pretrained" in message


def test_a_missing_local_directory_is_a_clear_error() -> None:
    with pytest.raises(ModelLoadError, match="/no/such/model"):
        load_pretrained("/no/such/model")


def test_other_depth_models_are_refused(tmp_path: Path) -> None:
    config = DPTConfig(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=16,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 8, 8, 8],
        fusion_hidden_size=8,
    )
    DPTForDepthEstimation(config).save_pretrained(tmp_path)

    with pytest.raises(ModelLoadError, match="'dpt'"):
        load_pretrained(str(tmp_path))
