"""The container's build contract and the scripts that package models and push images."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from moto import mock_aws

from depth_inference.__main__ import parse_args
from depth_inference.engine import DepthEngine
from depth_inference.model_source import DEFAULT_MODEL
from tests.support.images import jpeg_bytes

CONTAINER = Path(__file__).resolve().parents[2] / "inference_container"
SCRIPTS = CONTAINER / "scripts"


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (CONTAINER / "Dockerfile").read_text()
    logical = re.sub(r"\\\n", " ", text)
    return [
        (parts[0].upper(), parts[1].strip() if len(parts) > 1 else "")
        for line in logical.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
        for parts in [line.strip().split(None, 1)]
    ]


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Each build stage's instructions by its name (`AS name`); an unnamed stage by its position."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for op, value in dockerfile_instructions():
        if op == "FROM":
            parts = value.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(stages))
            current = stages.setdefault(name, [])
        if current is not None:
            current.append((op, value))
    return stages


def default_stage() -> list[tuple[str, str]]:
    """What a plain `docker build` (no --target) builds: the last stage, the SageMaker image."""
    return list(dockerfile_stages().values())[-1]


def test_dockerfile_builds_on_a_cuda_pytorch_runtime() -> None:
    instructions = dockerfile_instructions()
    base_args = [value for op, value in instructions if op == "ARG" and value.startswith("BASE_IMAGE=")]
    assert base_args, "the base image is a build argument"
    assert re.fullmatch(r"BASE_IMAGE=pytorch/pytorch:[\d.]+-cuda[\d.]+-cudnn\d+-runtime", base_args[0])
    assert ("FROM", "${BASE_IMAGE}") in instructions


def test_entrypoint_is_exec_form_so_serve_is_appended_and_sigterm_reaches_python() -> None:
    stage = default_stage()
    assert stage[0] == ("FROM", "${BASE_IMAGE}")  # the CUDA image is what a plain build makes
    entrypoints = [value for op, value in stage if op == "ENTRYPOINT"]
    assert len(entrypoints) == 1
    command = json.loads(entrypoints[0])
    assert command == ["python", "-m", "depth_inference"]
    cmds = [json.loads(value) for op, value in stage if op == "CMD"]
    assert cmds == [["serve"]]


def test_the_server_listens_on_8080_on_every_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ("EXPOSE", "8080") in default_stage()
    monkeypatch.delenv("SAGEMAKER_BIND_TO_PORT", raising=False)

    args = parse_args(["serve"])

    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8080)


def test_multi_container_endpoints_choose_the_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGEMAKER_BIND_TO_PORT", "9090")

    assert parse_args(["serve"]).port == 9090


def test_the_model_directory_is_sagemakers() -> None:
    for stage in dockerfile_stages().values():
        env = " ".join(value for op, value in stage if op == "ENV")
        assert "SM_MODEL_DIR=/opt/ml/model" in env
        assert f"DEPTH_MODEL={DEFAULT_MODEL}" in env


# ---------------------------------------------------------------- the Lambda target (CPU)


def lambda_stage() -> list[tuple[str, str]]:
    stages = dockerfile_stages()
    assert "lambda" in stages, "the Dockerfile has a stage named lambda (docker build --target lambda)"
    return stages["lambda"]


def test_the_lambda_target_is_a_second_stage_that_a_plain_build_skips() -> None:
    stages = list(dockerfile_stages())
    assert stages.index("lambda") < len(stages) - 1
    (base,) = [value for op, value in dockerfile_instructions() if value.startswith("LAMBDA_BASE_IMAGE=")]
    assert re.fullmatch(r"LAMBDA_BASE_IMAGE=python:3\.12[\w.-]*", base)
    assert lambda_stage()[0] == ("FROM", "${LAMBDA_BASE_IMAGE} AS lambda")


def test_the_lambda_target_installs_cpu_torch_the_same_requirements_and_the_runtime_client() -> None:
    runs = [value for op, value in lambda_stage() if op == "RUN"]
    (torch_install,) = [run for run in runs if '"torch==' in run]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_install
    (requirements,) = [run for run in runs if "-r requirements.txt" in run]
    assert "awslambdaric" in requirements
    assert "boto3" in requirements  # an answer too large for Lambda's 6 MB is written to S3
    assert ("COPY", "requirements.txt .") in lambda_stage()
    assert ("COPY", "depth_inference ./depth_inference") in lambda_stage()


def test_the_lambda_target_bakes_the_weights_where_the_engine_looks_first() -> None:
    stage = lambda_stage()
    (bake,) = [value for op, value in stage if op == "RUN" and "save_model" in value]
    assert "SM_MODEL_DIR" in bake
    assert 'test -f "${SM_MODEL_DIR}/config.json"' in bake
    assert f"MODEL_SOURCE={DEFAULT_MODEL}" in [value for op, value in stage if op == "ARG"]
    assert callable(load_package_model().save_model)
    # Nothing reaches the hub at run time, and caches go to the only writable place.
    env = " ".join(value for op, value in stage if op == "ENV")
    assert "HF_HUB_OFFLINE=1" in env
    assert "DEPTH_DTYPE=float32" in env  # the same numerics on every Lambda host, bf16 units or not
    assert "HF_HOME=/tmp/" in env
    (offline,) = [i for i, (op, value) in enumerate(stage) if op == "ENV" and "HF_HUB_OFFLINE=1" in value]
    assert stage.index(("RUN", bake)) < offline  # offline only once the weights are in


def test_the_lambda_target_runs_the_handler_through_the_runtime_interface_client() -> None:
    stage = lambda_stage()
    (entrypoint,) = [json.loads(value) for op, value in stage if op == "ENTRYPOINT"]
    assert entrypoint == ["python", "-m", "awslambdaric"]
    (cmd,) = [json.loads(value) for op, value in stage if op == "CMD"]
    (handler_path,) = cmd
    module_name, attribute = handler_path.rsplit(".", 1)
    import importlib

    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert ("ENV", "PYTHONPATH=/opt/program") in stage


def test_everything_copied_exists_in_the_build_context() -> None:
    for op, value in dockerfile_instructions():
        if op == "COPY":
            source = value.split()[0]
            assert (CONTAINER / source).exists(), source


def test_requirements_leave_torch_to_the_base_image() -> None:
    lines = [
        line.strip()
        for line in (CONTAINER / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0].lower() for line in lines}
    assert {"transformers", "pillow", "pillow-heif", "starlette", "uvicorn", "numpy"} <= names
    assert "torch" not in names


def test_build_and_push_is_valid_bash_and_prints_the_image_uri() -> None:
    script = SCRIPTS / "build_and_push.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "docker build" in text
    assert "docker push" in text
    assert "ecr get-login-password" in text
    assert text.rstrip().endswith('echo "$image"')


def load_package_model() -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("package_model", SCRIPTS / "package_model.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_package_model_writes_an_archive_sagemaker_can_unpack_into_opt_ml_model(
    tiny_model_dir: Path, engine: DepthEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "model.tar.gz"

    assert load_package_model().main([str(tiny_model_dir), "--output", str(archive)]) == 0

    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= names
        assert all("/" not in name for name in names)
        unpacked = tmp_path / "opt-ml-model"
        tar.extractall(unpacked, filter="data")
    monkeypatch.setenv("SM_MODEL_DIR", str(unpacked))
    served = DepthEngine.load(device="cpu", warm_up=False)
    image = jpeg_bytes(200, 150)
    assert served.predict(image, input_size=70) == engine.predict(image, input_size=70)


def test_package_model_uploads_to_s3_and_prints_the_model_data_url(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "model.tar.gz"
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")

        load_package_model().main(
            [str(tiny_model_dir), "--output", str(archive), "--s3-uri", "s3://models/depth/"]
        )

        assert capsys.readouterr().out.strip() == "s3://models/depth/model.tar.gz"
        stored = s3.get_object(Bucket="models", Key="depth/model.tar.gz")["Body"].read()
    assert stored == archive.read_bytes()


@pytest.mark.parametrize("stage", ["lambda", "default"])
def test_both_targets_carry_what_torch_compile_needs_at_run_time(stage: str) -> None:
    """inductor builds its kernels with a C++ compiler (and Python.h) when a working size compiles, and
    writes its cache where it may: in Lambda only /tmp is writable."""
    instructions = lambda_stage() if stage == "lambda" else default_stage()
    runs = [value for op, value in instructions if op == "RUN"]
    (install,) = [run for run in runs if "apt-get install" in run]
    assert "g++" in install.split()
    assert any("g++ --version" in run and "Python.h" in run for run in runs)
    env = " ".join(value for op, value in instructions if op == "ENV")
    assert "TORCHINDUCTOR_CACHE_DIR=/tmp/" in env
