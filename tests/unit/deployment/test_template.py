"""template.yaml as a specification: what the deployed stack provides, and what it must not allow.

The checks read the template as written (with a CloudFormation-aware YAML loader), cross-check it
against the shared layer's own constants (key prefixes, table models), and, where the SAM CLI is
installed, against the CloudFormation that SAM expands it into, since SAM policy templates and
generated roles only show their real IAM statements after the transform.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.decode import decode_str

from immichvr_depth.depth.backends import LAMBDA_ANSWERS_PREFIX, LAMBDA_READ_TIMEOUT_S
from immichvr_depth.intake.upload_ingest import ABANDONED_CLAIM_AGE
from immichvr_depth.store import keys
from immichvr_depth.store.processing_queue import MAX_RECEIVES
from immichvr_depth.store.tables import DepthMapRecord, ImmichSyncState, MediaItem

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
SAM_CLI = Path(os.environ.get("SAM_CLI", ROOT / ".tools" / "sam" / "bin" / "sam"))

FUNCTIONS = (
    "MediaApiFunction",
    "MediaFilesFunction",
    "ImmichImportFunction",
    "DepthProcessorFunction",
    "UploadIngestFunction",
    "DepthEvictionFunction",
    "ImmichWebhookFunction",
    "ImmichImportWorkerFunction",
    "ImmichSyncFunction",
    "InferenceCompletionFunction",
    "ViewerFunction",
)

# Every route the product promises, and the function that answers it.
PROMISED_ROUTES = {
    ("GET", "/api/media"): "MediaApiFunction",
    ("GET", "/api/media/{id}"): "MediaApiFunction",
    ("GET", "/api/media/{id}/depth"): "MediaFilesFunction",
    ("GET", "/api/media/{id}/photo"): "MediaFilesFunction",
    ("GET", "/api/media/{id}/stereo"): "MediaFilesFunction",
    ("GET", "/api/media/{id}/urls"): "MediaFilesFunction",
    ("GET", "/api/health"): "MediaApiFunction",
    ("GET", "/api/media/{id}/depth/info"): "MediaApiFunction",
    ("POST", "/api/media/{id}/depth/regenerate"): "MediaApiFunction",
    ("DELETE", "/api/media/{id}"): "MediaApiFunction",
    ("POST", "/api/media/uploads"): "MediaApiFunction",
    ("GET", "/api/openapi.json"): "MediaApiFunction",
    ("GET", "/api/docs"): "MediaApiFunction",
    ("POST", "/api/immich/import/{assetId}"): "ImmichImportFunction",
    ("POST", "/api/immich/import/album/{albumId}"): "ImmichImportFunction",
    ("GET", "/api/immich/assets"): "ImmichImportFunction",
    ("POST", "/api/immich/webhook"): "ImmichWebhookFunction",
    ("GET", "/viewer"): "ViewerFunction",
    ("GET", "/viewer/{proxy+}"): "ViewerFunction",
}
# The only routes callable without an API key: the API's own documentation, the viewer's page and
# assets (they hold no data; the page asks for the key), and Immich's webhook, which can send one
# custom header only (the shared secret its function checks).
PUBLIC_ROUTES = {
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/viewer"),
    ("GET", "/viewer/{proxy+}"),
    ("POST", "/api/immich/webhook"),
}

# Least privilege on the media bucket: which function may do what, under which key prefix.
EXPECTED_S3_ACCESS = {
    "MediaApiFunction": {
        "s3:PutObject": {"uploads/"},  # presigned uploads are signed with this role
        # DELETE /api/media/{id} removes every file under the item's id in each prefix.
        "s3:DeleteObject": {"uploads/", "originals/", "thumbnails/", "depth-maps/", "derivatives/"},
    },
    # Serves maps, photos and derivatives inline or presigned, making derivatives (and the lease of
    # whoever makes one) on first request.
    "MediaFilesFunction": {
        "s3:GetObject": {"originals/", "thumbnails/", "depth-maps/", "derivatives/"},
        "s3:PutObject": {"derivatives/"},
        "s3:DeleteObject": {"derivatives/"},
    },
    "ImmichImportFunction": {
        "s3:PutObject": {"originals/", "thumbnails/"},
        "s3:DeleteObject": {"originals/", "thumbnails/"},  # roll back a failed import
        "s3:AbortMultipartUpload": {"originals/", "thumbnails/"},
    },
    "DepthProcessorFunction": {
        # Lambda backend only: an answer too large for Lambda's 6 MB is read from S3, then removed
        "s3:GetObject": {
            "originals/",
            "thumbnails/",
            "uploads/",
            "depth-maps/",
            "derivatives/",
            LAMBDA_ANSWERS_PREFIX,
        },
        # async mode only: the model input waits there for the endpoint; premade and queued derivatives
        "s3:PutObject": {"depth-maps/", "async-inference/input/", "derivatives/"},
        # the generation a regeneration replaced and its derivatives; an answer taken from S3
        "s3:DeleteObject": {"depth-maps/", "derivatives/", LAMBDA_ANSWERS_PREFIX},
    },
    # Reads what the endpoint answered (and the context in its input), stores the map, then removes
    # the request's objects.
    "InferenceCompletionFunction": {
        "s3:GetObject": {
            "async-inference/input/",
            "async-inference/output/",
            "async-inference/failures/",
            "depth-maps/",
            "derivatives/",
            "originals/",  # premade photos and stereo pairs are made from the stored photo
            "thumbnails/",
        },
        "s3:PutObject": {"depth-maps/", "derivatives/"},
        "s3:DeleteObject": {
            "async-inference/input/",
            "async-inference/output/",
            "async-inference/failures/",
            "depth-maps/",
            "derivatives/",
        },
    },
    # The upload is copied out as the item's original and then removed, so nothing posted later
    # under its key can change the item; a failed ingest rolls its original and thumbnail back.
    "UploadIngestFunction": {
        "s3:GetObject": {"uploads/"},
        "s3:PutObject": {"originals/", "thumbnails/"},
        "s3:DeleteObject": {"uploads/", "originals/", "thumbnails/"},
    },
    "DepthEvictionFunction": {"s3:DeleteObject": {"depth-maps/", "derivatives/"}},
    # The queued import is the same import: the same files, the same rollback.
    "ImmichImportWorkerFunction": {
        "s3:PutObject": {"originals/", "thumbnails/"},
        "s3:DeleteObject": {"originals/", "thumbnails/"},
        "s3:AbortMultipartUpload": {"originals/", "thumbnails/"},
    },
    "ImmichWebhookFunction": {},
    "ImmichSyncFunction": {},
    "ViewerFunction": {},
}
# Listing is granted on the bucket itself, narrowed to these key prefixes by an s3:prefix condition.
EXPECTED_S3_LISTING = {
    "MediaApiFunction": {"uploads/*", "originals/*", "thumbnails/*", "depth-maps/*", "derivatives/*"},
    "MediaFilesFunction": {"derivatives/*"},
    "DepthProcessorFunction": {"derivatives/*"},
    "InferenceCompletionFunction": {"derivatives/*"},
    "DepthEvictionFunction": {"derivatives/*"},
    "UploadIngestFunction": {"uploads/*"},
}

# Environment each function must see (names the handlers and the local runner rely on).
COMMON_ENV = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "MEDIA_BUCKET",
    "MEDIA_TABLE",
    "DEPTH_MAPS_TABLE",
    "PROCESSING_QUEUE_URL",
    "CORS_ALLOW_ORIGIN",
    "PREMADE_DERIVATIVES",
    "DERIVATIVE_INLINE_MAX_MEGAPIXELS",
    "DEPTH_TIERS",
    "PREVIEW_LONG_SIDE",
}
FUNCTION_ENV = {
    "MediaApiFunction": {"PRESIGNED_URL_TTL_S", "MAX_UPLOAD_BYTES"},
    "MediaFilesFunction": {"PRESIGNED_URL_TTL_S"},
    "ImmichImportFunction": {
        "IMMICH_URL",
        "IMMICH_API_KEY_PARAMETER",
        "MAX_DOWNLOAD_BYTES",
        "IMPORT_QUEUE_URL",
    },
    "ImmichWebhookFunction": {"IMMICH_WEBHOOK_SECRET_PARAMETER", "IMPORT_QUEUE_URL"},
    "ImmichImportWorkerFunction": {
        "IMMICH_URL",
        "IMMICH_API_KEY_PARAMETER",
        "MAX_DOWNLOAD_BYTES",
        "IMPORT_QUEUE_URL",
    },
    "ImmichSyncFunction": {
        "IMMICH_URL",
        "IMMICH_API_KEY_PARAMETER",
        "IMPORT_QUEUE_URL",
        "IMMICH_SYNC_STATE_TABLE",
        "IMMICH_SYNC_ALBUM_IDS",
        "IMMICH_SYNC_INTERVAL_MINUTES",
    },
    "DepthProcessorFunction": {
        "DEPTH_BACKEND",
        "DEPTH_INFERENCE_FUNCTION_NAME",
        "SAGEMAKER_ENDPOINT_NAME",
        "THUMBNAIL_INPUT_SIZE",
        "PREVIEW_INPUT_SIZE",
        "FULL_RESOLUTION_INPUT_SIZE",
        "INFERENCE_MODE",
    },
    "InferenceCompletionFunction": set(),
    "UploadIngestFunction": {"THUMBNAIL_LONG_SIDE"},
    "DepthEvictionFunction": {"EVICT_AFTER_DAYS", "EVICTABLE_TIERS"},
}

# Actions that AWS only authorises on Resource "*".
STAR_RESOURCE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
}
# Functions fed by an SQS event source, and the one queue each may poll.
SQS_SOURCES = {
    "DepthProcessorFunction": "ProcessingQueue",
    "ImmichImportWorkerFunction": "ImportQueue",
    "InferenceCompletionFunction": "InferenceCompletionQueue",
}
# SAM policy templates whose statements are scoped to the one table they name.
SCOPED_POLICY_TEMPLATES = {"DynamoDBCrudPolicy", "DynamoDBReadPolicy"}


# ---------------------------------------------------------------- helpers


def load_template() -> dict[str, Any]:
    template, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    assert isinstance(template, dict)
    return template


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The text of a string or a !Sub, for checks on ARN shapes."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return json.dumps(value) if isinstance(value, dict) else str(value)


def statements_of(policies: list[Any]) -> Iterator[dict[str, Any]]:
    """Every inline statement; one that exists only under a condition (!If [C, statement, NoValue])
    is checked as written."""
    for policy in policies:
        if isinstance(policy, dict) and "Statement" in policy:
            for statement in policy["Statement"]:
                yield statement["Fn::If"][1] if "Fn::If" in statement else statement


def sam_cli_env() -> dict[str, str]:
    """The SAM CLI run as on a laptop with no AWS account configured."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AWS_") or key in {"AWS_CA_BUNDLE"}
    }
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
    )
    return env


def require_sam_cli() -> None:
    if not SAM_CLI.exists():
        pytest.skip(f"SAM CLI not found at {SAM_CLI} (set SAM_CLI, or run `make test`, which installs it)")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    resources: dict[str, Any] = template["Resources"]
    return resources


@pytest.fixture(scope="module")
def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in resources.items() if res["Type"] == "AWS::Serverless::Function"}


@pytest.fixture(scope="module")
def api(resources: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resources["DepthApi"]["Properties"]
    return properties


def api_routes(functions: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    routes = {}
    for name, function in functions.items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                routes[(props["Method"].upper(), props["Path"])] = (name, props)
    return routes


# ---------------------------------------------------------------- the template is valid


def test_cfn_lint_passes() -> None:
    problems = lint_file(TEMPLATE)
    assert not problems, "\n".join(str(problem) for problem in problems)


def test_sam_validate_lint_passes_without_credentials() -> None:
    require_sam_cli()
    result = subprocess.run(
        [str(SAM_CLI), "validate", "--lint", "--template-file", str(TEMPLATE)],
        cwd=ROOT,
        env=sam_cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_sam_build_makes_a_python312_layer_and_the_functions(tmp_path: Path) -> None:
    require_sam_cli()
    missing = [f"{d}/app.py" for d in _code_dirs() if not (ROOT / d / "app.py").exists()]
    if missing:
        pytest.skip(f"handlers not written yet: {', '.join(missing)}")
    build_dir = tmp_path / "build"
    env = sam_cli_env()
    # The layer Makefile's pip: the project's interpreter when there is one.
    venv_python = ROOT / ".venv" / "bin" / "python"
    env["PYTHON"] = str(venv_python if venv_python.exists() else shutil.which("python3"))
    result = subprocess.run(
        [
            str(SAM_CLI),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]

    layer = build_dir / "SharedLayer" / "python"
    assert (layer / "immichvr_depth" / "__init__.py").exists()
    assert not list(layer.glob("immichvr_depth/**/__pycache__"))
    # Pillow as Lambda's python3.12 on x86_64 needs it, not as this machine would.
    assert list((layer / "PIL").glob("_imaging.cpython-312-x86_64-linux-gnu.so"))
    assert list(layer.glob("pillow_heif*/**/*.so")) or list(layer.glob("_pillow_heif.cpython-312-*.so"))
    for name, code_dir in zip(FUNCTIONS, _code_dirs(), strict=True):
        built = build_dir / name
        assert (built / "app.py").exists(), f"{name} was built without its handler"
        assert not list(built.rglob("__pycache__")), f"{name} carries __pycache__"
        assert not (built / "immichvr_depth").exists(), f"{name} should get immichvr_depth from the layer"
        assert {p.name for p in (ROOT / code_dir).glob("*.py")} <= {p.name for p in built.glob("*.py")}
    # The viewer's page and bundle are built from viewer/ and packaged beside its handler.
    viewer = build_dir / "ViewerFunction" / "static"
    assert (viewer / "index.html").exists()
    assert list(viewer.glob("viewer-*.js"))


def _code_dirs() -> list[str]:
    functions = load_template()["Resources"]
    return [functions[name]["Properties"]["CodeUri"].rstrip("/") for name in FUNCTIONS]


# ---------------------------------------------------------------- functions and build glue


def test_functions_are_the_four_of_the_design(functions: dict[str, Any]) -> None:
    assert set(functions) == set(FUNCTIONS)


def test_functions_run_python312_on_x86_with_tracing_and_the_shared_layer(template: dict[str, Any]) -> None:
    defaults = template["Globals"]["Function"]
    assert defaults["Runtime"] == "python3.12"
    assert defaults["Architectures"] == ["x86_64"]
    assert defaults["Tracing"] == "Active"
    assert defaults["Layers"] == [{"Ref": "SharedLayer"}]


def test_every_function_has_a_handler_folder_built_by_the_shared_makefile(
    functions: dict[str, Any],
) -> None:
    makefile = (ROOT / "functions" / "Makefile").read_text()
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Handler"] == "app.lambda_handler"
        assert (ROOT / props["CodeUri"]).is_dir(), f"{name}: {props['CodeUri']} is missing"
        assert function["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "functions"}
        assert name in makefile, f"functions/Makefile has no build-{name} target"


def test_shared_layer_is_built_by_its_makefile_for_python312(resources: dict[str, Any]) -> None:
    layer = resources["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/shared"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Properties"]["RetentionPolicy"] == "Delete"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    makefile = (ROOT / "layers" / "shared" / "Makefile").read_text()
    assert "build-SharedLayer:" in makefile
    assert "--python-version $(LAMBDA_PYTHON_VERSION)" in makefile
    assert "LAMBDA_PYTHON_VERSION := 3.12" in makefile
    assert "--only-binary=:all:" in makefile


@pytest.mark.parametrize(
    ("makefile", "target"),
    [("layers/shared/Makefile", "build-SharedLayer")]
    + [("functions/Makefile", f"build-{f}") for f in FUNCTIONS],
)
def test_makefile_targets_exist(makefile: str, target: str, tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "--dry-run", "--makefile", str(ROOT / makefile), target, f"ARTIFACTS_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_function_sizing(functions: dict[str, Any]) -> None:
    def sizing(name: str) -> tuple[int, int, int | None]:
        props = functions[name]["Properties"]
        return props["Timeout"], props["MemorySize"], props.get("EphemeralStorage", {}).get("Size")

    # API Gateway gives up after 29 s, so the API functions should not outlive it.
    assert sizing("MediaApiFunction")[0] <= 29
    # Sized for a 48 MP full side-by-side pair made on first request (bench/derivatives.py).
    assert sizing("MediaFilesFunction")[0] <= 29
    assert functions["MediaFilesFunction"]["Properties"]["MemorySize"] == {"Ref": "MediaFilesMemorySize"}
    # Immich downloads spool to /tmp (200 MB cap); 48 MP originals need memory to decode.
    assert sizing("ImmichImportFunction") == (120, 1024, 2048)
    assert sizing("DepthProcessorFunction") == (120, 2048, 2048)
    assert sizing("UploadIngestFunction")[:2] == (60, 1536)


def test_each_function_sees_the_environment_it_needs(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    common = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(common) == COMMON_ENV
    assert common["POWERTOOLS_SERVICE_NAME"] == "immichvr-depth"
    assert common["POWERTOOLS_METRICS_NAMESPACE"] == "ImmichVRDepth"
    assert common["MEDIA_TABLE"] == {"Ref": "MediaTable"}
    assert common["DEPTH_MAPS_TABLE"] == {"Ref": "DepthMapsTable"}
    assert common["PROCESSING_QUEUE_URL"] == {"Ref": "ProcessingQueue"}
    for name, expected in FUNCTION_ENV.items():
        own = functions[name]["Properties"].get("Environment", {}).get("Variables", {})
        assert set(own) == expected, name
    assert functions["DepthProcessorFunction"]["Properties"]["Environment"]["Variables"]["DEPTH_BACKEND"] == {
        "Ref": "DepthBackend"
    }


# ---------------------------------------------------------------- the API


def test_api_is_a_rest_api_with_stage_v1(api: dict[str, Any], resources: dict[str, Any]) -> None:
    # REST, not HTTP API: only REST APIs have API keys and usage plans.
    assert resources["DepthApi"]["Type"] == "AWS::Serverless::Api"
    assert api["StageName"] == "v1"


def test_api_keys_are_required_with_a_usage_plan_but_not_for_preflight(api: dict[str, Any]) -> None:
    auth = api["Auth"]
    assert auth["ApiKeyRequired"] is True
    assert auth["AddApiKeyRequiredToCorsPreflight"] is False
    plan = auth["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert plan["Throttle"]["RateLimit"] > 0
    assert plan["Throttle"]["BurstLimit"] >= plan["Throttle"]["RateLimit"]
    assert plan["Quota"]["Limit"] > 0


def test_cors_allows_the_headers_clients_send(api: dict[str, Any], template: dict[str, Any]) -> None:
    cors = api["Cors"]
    assert cors["AllowOrigin"] == {"Ref": "CorsAllowOrigin"}
    assert template["Parameters"]["CorsAllowOrigin"]["Default"] == "'*'"
    allowed = {h.strip().lower() for h in cors["AllowHeaders"].strip("'").split(",")}
    assert {"content-type", "x-api-key", "if-none-match", "authorization"} <= allowed
    # Rejections made by API Gateway itself (no key, throttled) carry CORS headers too.
    for response in ("DEFAULT_4XX", "DEFAULT_5XX"):
        headers = api["GatewayResponses"][response]["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == {"Ref": "CorsAllowOrigin"}


def test_api_has_metrics_and_access_logging(api: dict[str, Any], resources: dict[str, Any]) -> None:
    assert api["TracingEnabled"] is True
    assert any(setting.get("MetricsEnabled") for setting in api["MethodSettings"])
    condition, enabled, _disabled = api["AccessLogSetting"]["Fn::If"]
    assert condition == "AccessLogsEnabled"
    assert enabled["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "RetentionInDays" in resources["ApiAccessLogGroup"]["Properties"]


def test_every_promised_route_exists_on_the_right_function(functions: dict[str, Any]) -> None:
    routes = api_routes(functions)
    assert {route: name for route, (name, _) in routes.items()} == PROMISED_ROUTES
    for _, props in routes.values():
        assert props["RestApiId"] == {"Ref": "DepthApi"}


def test_keys_are_required_everywhere_except_the_documentation(functions: dict[str, Any]) -> None:
    for route, (_, props) in api_routes(functions).items():
        key_required = props.get("Auth", {}).get("ApiKeyRequired", True)  # the API's default
        assert key_required is (route not in PUBLIC_ROUTES), route


# ---------------------------------------------------------------- queues and processing


def test_processor_reads_the_queue_in_small_batches_and_reports_item_failures(
    functions: dict[str, Any],
) -> None:
    events = functions["DepthProcessorFunction"]["Properties"]["Events"]
    (sqs,) = (event["Properties"] for event in events.values() if event["Type"] == "SQS")
    assert sqs["Queue"] == {"Fn::GetAtt": ["ProcessingQueue", "Arn"]}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["BatchSize"] == 5
    assert sqs["MaximumBatchingWindowInSeconds"] == 2


def test_failed_messages_go_to_a_dead_letter_queue_after_a_few_tries(resources: dict[str, Any]) -> None:
    redrive = resources["ProcessingQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ProcessingDeadLetterQueue", "Arn"]}
    assert 3 <= redrive["maxReceiveCount"] <= 5
    assert resources["ProcessingDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_a_retried_upload_event_takes_over_the_claim_of_an_ingest_that_timed_out(
    functions: dict[str, Any],
) -> None:
    """A claim outlives its writer only past the function's timeout, and Lambda's first retry of a
    failed S3 event comes a minute after the failure: the retry finds the claim abandoned."""
    ingest = functions["UploadIngestFunction"]["Properties"]
    timeout = timedelta(seconds=ingest["Timeout"])
    assert ingest["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    assert timeout < ABANDONED_CLAIM_AGE < timeout + timedelta(minutes=1)


def test_the_processing_attempts_counted_in_code_are_the_queues_receives(resources: dict[str, Any]) -> None:
    """The completion requeues a failed item while its attempts are under the queue's receive count."""
    assert resources["ProcessingQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVES


def test_visibility_timeout_is_at_least_six_times_the_processor_timeout(
    resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    timeout = functions["DepthProcessorFunction"]["Properties"]["Timeout"]
    assert resources["ProcessingQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_queues_are_encrypted(resources: dict[str, Any]) -> None:
    for name, res in resources.items():
        if res["Type"] == "AWS::SQS::Queue":
            assert res["Properties"]["SqsManagedSseEnabled"] is True, name


def test_an_alarm_watches_the_dead_letter_queue(resources: dict[str, Any]) -> None:
    alarms = [res["Properties"] for res in resources.values() if res["Type"] == "AWS::CloudWatch::Alarm"]
    watching = [
        alarm
        for alarm in alarms
        if {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ProcessingDeadLetterQueue", "QueueName"]}}
        in alarm["Dimensions"]
    ]
    assert len(watching) == 1
    (alarm,) = watching
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0


# ---------------------------------------------------------------- storage


def test_tables_match_the_pynamodb_models(resources: dict[str, Any]) -> None:
    for logical_id, model in (
        ("MediaTable", MediaItem),
        ("DepthMapsTable", DepthMapRecord),
        ("ImmichSyncStateTable", ImmichSyncState),
    ):
        props = resources[logical_id]["Properties"]
        schema = model._get_schema()
        assert _keys(props["KeySchema"]) == _keys(schema["key_schema"]), logical_id
        assert _attributes(props["AttributeDefinitions"]) == _attributes(schema["attribute_definitions"])
        declared = {
            index["IndexName"]: (_keys(index["KeySchema"]), index["Projection"]["ProjectionType"])
            for index in props.get("GlobalSecondaryIndexes", [])
        }
        modelled = {
            index["index_name"]: (_keys(index["key_schema"]), index["projection"]["ProjectionType"])
            for index in schema["global_secondary_indexes"]
        }
        assert declared == modelled, logical_id


def _keys(key_schema: list[Any]) -> set[tuple[str, str]]:
    return {(key["AttributeName"], key["KeyType"]) for key in key_schema}


def _attributes(definitions: list[Any]) -> set[tuple[str, str]]:
    return {(attr["AttributeName"], attr["AttributeType"]) for attr in definitions}


def test_tables_are_on_demand_with_point_in_time_recovery_and_encryption(resources: dict[str, Any]) -> None:
    for name in ("MediaTable", "DepthMapsTable", "ImmichSyncStateTable"):
        props = resources[name]["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True


def test_bucket_is_private_encrypted_and_owner_enforced(resources: dict[str, Any]) -> None:
    props = resources["MediaBucket"]["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = props["LifecycleConfiguration"]["Rules"]
    assert any("AbortIncompleteMultipartUpload" in rule for rule in lifecycle)


def test_bucket_policy_denies_requests_without_tls(resources: dict[str, Any]) -> None:
    policy = resources["MediaBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "MediaBucket"}
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Principal"] == "*"
    assert deny["Action"] == "s3:*"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {sub_text(r) for r in deny["Resource"]} == {
        '{"Fn::GetAtt": ["MediaBucket", "Arn"]}',
        "${MediaBucket.Arn}/*",
    }


def test_bucket_cors_lets_browsers_upload_and_fetch_depth_maps(resources: dict[str, Any]) -> None:
    (rule,) = resources["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert {"GET", "POST"} <= set(rule["AllowedMethods"])  # presigned POST uploads, presigned GETs
    allowed, api = rule["AllowedOrigins"]
    assert "CorsAllowOrigin" in json.dumps(allowed)
    # The viewer's origin, the API's own: it follows redirects to large files here.
    assert sub_text(api) == "https://${DepthApi}.execute-api.${AWS::Region}.amazonaws.com"


def test_uploads_trigger_ingest_only_under_the_upload_prefix(functions: dict[str, Any]) -> None:
    events = functions["UploadIngestFunction"]["Properties"]["Events"]
    (s3,) = (event["Properties"] for event in events.values() if event["Type"] == "S3")
    assert s3["Bucket"] == {"Ref": "MediaBucket"}
    assert s3["Events"] == "s3:ObjectCreated:*"
    assert s3["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": keys.UPLOADS_PREFIX}]


def test_functions_name_the_bucket_instead_of_referencing_it(
    template: dict[str, Any], resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    # A Ref/GetAtt to the bucket from a function's policy or environment closes the loop
    # bucket notification -> function -> role -> bucket, and CloudFormation refuses the stack.
    name = "${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"
    assert resources["MediaBucket"]["Properties"]["BucketName"] == {"Fn::Sub": name}
    assert template["Globals"]["Function"]["Environment"]["Variables"]["MEDIA_BUCKET"] == {"Fn::Sub": name}
    for function_name, function in functions.items():
        props = {k: v for k, v in function["Properties"].items() if k != "Events"}
        text = json.dumps(props) + json.dumps(template["Globals"])
        assert '"MediaBucket"' not in text, function_name
        assert "MediaBucket." not in text, function_name


# ---------------------------------------------------------------- least privilege


def test_function_policies_are_scoped_templates_or_inline_statements(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        for policy in function["Properties"]["Policies"]:
            assert isinstance(policy, dict), f"{name}: managed policy {policy!r}"
            (kind,) = policy
            assert kind == "Statement" or kind in SCOPED_POLICY_TEMPLATES, f"{name}: {kind}"
            if kind in SCOPED_POLICY_TEMPLATES:
                assert policy[kind]["TableName"] in ({"Ref": "MediaTable"}, {"Ref": "DepthMapsTable"})


def test_inline_statements_use_no_wildcard_action_or_resource(functions: dict[str, Any]) -> None:
    for name, function in functions.items():
        for statement in statements_of(function["Properties"]["Policies"]):
            if statement["Effect"] == "Deny":
                continue  # a deny only narrows
            for action in as_list(statement["Action"]):
                assert "*" not in action, f"{name}: {action}"
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{name}: {statement.get('Sid')}"


def test_s3_access_is_scoped_to_key_prefixes(functions: dict[str, Any]) -> None:
    bucket_arn = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}/"
    for name, function in functions.items():
        granted: dict[str, set[str]] = {}
        for statement in statements_of(function["Properties"]["Policies"]):
            if statement["Effect"] != "Allow":
                continue
            for action in as_list(statement["Action"]):
                if not action.startswith("s3:") or action == "s3:ListBucket":
                    continue
                for resource in as_list(statement["Resource"]):
                    arn = sub_text(resource)
                    assert arn.startswith(bucket_arn), f"{name}: {arn}"
                    assert arn.endswith("/*"), f"{name}: {arn}"
                    granted.setdefault(action, set()).add(arn.removeprefix(bucket_arn).removesuffix("*"))
        assert granted == EXPECTED_S3_ACCESS[name], name


def test_key_prefixes_in_policies_are_the_layers_key_scheme() -> None:
    scheme = {
        keys.UPLOADS_PREFIX,
        keys.ORIGINALS_PREFIX,
        keys.THUMBNAILS_PREFIX,
        keys.DEPTH_MAPS_PREFIX,
        keys.DERIVATIVES_PREFIX,
        keys.ASYNC_INPUT_PREFIX,
        keys.ASYNC_OUTPUT_PREFIX,
        keys.ASYNC_FAILURES_PREFIX,
        LAMBDA_ANSWERS_PREFIX,  # the depth inference function's answers too large to return inline
    }
    assert LAMBDA_ANSWERS_PREFIX.startswith(keys.ASYNC_OUTPUT_PREFIX)
    used = {
        prefix
        for access in EXPECTED_S3_ACCESS.values()
        for prefixes in access.values()
        for prefix in prefixes
    }
    assert used == scheme


def test_listing_the_bucket_is_narrowed_to_the_item_prefixes(functions: dict[str, Any]) -> None:
    bucket_arn = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"
    listed: dict[str, set[str]] = {}
    for name, function in functions.items():
        for statement in statements_of(function["Properties"]["Policies"]):
            if statement["Effect"] != "Allow" or "s3:ListBucket" not in as_list(statement["Action"]):
                continue
            assert as_list(statement["Action"]) == ["s3:ListBucket"], name
            assert [sub_text(r) for r in as_list(statement["Resource"])] == [bucket_arn], name
            listed[name] = set(statement["Condition"]["StringLike"]["s3:prefix"])
    assert listed == EXPECTED_S3_LISTING
    # The delete lists every prefix an item's files may be under.
    scheme = {prefix.split("/")[0] + "/" for prefix in keys.item_prefixes("any-item")}
    assert {prefix.removesuffix("*") for prefix in EXPECTED_S3_LISTING["MediaApiFunction"]} == scheme


def test_media_api_may_queue_regenerations_and_delete_records(functions: dict[str, Any]) -> None:
    statements = list(statements_of(functions["MediaApiFunction"]["Properties"]["Policies"]))
    (send,) = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert as_list(send["Action"]) == ["sqs:SendMessage"]
    assert send["Resource"] == {"Fn::GetAtt": ["ProcessingQueue", "Arn"]}
    deletes = [s for s in statements if "dynamodb:DeleteItem" in as_list(s["Action"])]
    assert [as_list(s["Action"]) for s in deletes] == [["dynamodb:DeleteItem"]]
    assert as_list(deletes[0]["Resource"]) == [
        {"Fn::GetAtt": ["MediaTable", "Arn"]},
        {"Fn::GetAtt": ["DepthMapsTable", "Arn"]},
    ]


def test_eviction_runs_on_a_schedule_that_zero_days_turns_off(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    props = functions["DepthEvictionFunction"]["Properties"]
    (schedule,) = (event["Properties"] for event in props["Events"].values() if event["Type"] == "Schedule")
    assert schedule["Schedule"] == {"Fn::Sub": "rate(${EvictionIntervalHours} hours)"}
    assert schedule["State"] == {"Fn::If": ["EvictionEnabled", "ENABLED", "DISABLED"]}
    assert template["Conditions"]["EvictionEnabled"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "EvictAfterDays"}, 0]}]
    }
    parameters = template["Parameters"]
    assert parameters["EvictAfterDays"]["MinValue"] == 0
    assert parameters["EvictionIntervalHours"]["MinValue"] >= 2  # "rate(1 hours)" is not a rate
    assert props["Environment"]["Variables"] == {
        "EVICT_AFTER_DAYS": {"Ref": "EvictAfterDays"},
        "EVICTABLE_TIERS": {"Ref": "EvictableTiers"},
    }
    # Only what eviction does: find and mark idle records, delete their files.
    statements = list(statements_of(props["Policies"]))
    dynamodb = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert [set(as_list(s["Action"])) for s in dynamodb] == [{"dynamodb:Scan", "dynamodb:UpdateItem"}]
    assert dynamodb[0]["Resource"] == {"Fn::GetAtt": ["DepthMapsTable", "Arn"]}


def test_processor_may_invoke_only_the_depth_endpoint(functions: dict[str, Any]) -> None:
    statements = list(statements_of(functions["DepthProcessorFunction"]["Properties"]["Policies"]))
    (invoke,) = [s for s in statements if "sagemaker:InvokeEndpoint" in as_list(s["Action"])]
    assert invoke["Sid"] in conditional_statements(functions["DepthProcessorFunction"])["SageMakerBackend"]
    assert as_list(invoke["Action"]) == ["sagemaker:InvokeEndpoint"]
    condition, created, existing = invoke["Resource"]["Fn::If"]
    assert condition == "CreateEndpoint"
    assert created == {"Ref": "DepthEndpoint"}  # Ref of an endpoint is its ARN
    assert sub_text(existing).endswith(":endpoint/${ExistingEndpointName}")
    env = functions["DepthProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["SAGEMAKER_ENDPOINT_NAME"] == {
        "Fn::If": [
            "CreateEndpoint",
            {"Fn::GetAtt": ["DepthEndpoint", "EndpointName"]},
            {"Ref": "ExistingEndpointName"},
        ]
    }


@pytest.mark.parametrize(
    ("function", "parameter"),
    [
        ("ImmichImportFunction", "ImmichApiKeyParameterName"),
        ("ImmichImportWorkerFunction", "ImmichApiKeyParameterName"),
        ("ImmichSyncFunction", "ImmichApiKeyParameterName"),
        ("ImmichWebhookFunction", "ImmichWebhookSecretParameterName"),
    ],
)
def test_immich_functions_read_only_their_one_secret_parameter(
    functions: dict[str, Any], function: str, parameter: str
) -> None:
    statements = list(statements_of(functions[function]["Properties"]["Policies"]))
    ssm = [s for s in statements if any(a.startswith("ssm:") for a in as_list(s["Action"]))]
    assert [as_list(s["Action"]) for s in ssm] == [["ssm:GetParameter"]]
    assert sub_text(ssm[0]["Resource"]).endswith(f":parameter${{{parameter}}}")


# ---------------------------------------------------------------- Immich automation


def test_import_worker_reads_the_import_queue_and_reports_item_failures(functions: dict[str, Any]) -> None:
    events = functions["ImmichImportWorkerFunction"]["Properties"]["Events"]
    (sqs,) = (event["Properties"] for event in events.values() if event["Type"] == "SQS")
    assert sqs["Queue"] == {"Fn::GetAtt": ["ImportQueue", "Arn"]}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    # Retries are postponed by changing the visibility of the message, on this queue only.
    statements = statements_of(functions["ImmichImportWorkerFunction"]["Properties"]["Policies"])
    (postpone,) = [
        s for s in statements if s["Effect"] == "Allow" and "sqs:ChangeMessageVisibility" in s["Action"]
    ]
    assert postpone["Resource"] == {"Fn::GetAtt": ["ImportQueue", "Arn"]}


def test_imports_that_keep_failing_go_to_a_watched_dead_letter_queue(
    resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    queue = resources["ImportQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ImportDeadLetterQueue", "Arn"]}
    # Enough receives for the growing retry delays to outwait a slow preview.
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 8
    assert queue["VisibilityTimeout"] >= 6 * functions["ImmichImportWorkerFunction"]["Properties"]["Timeout"]
    alarm = resources["ImportDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ImportDeadLetterQueue", "QueueName"]}}
    ]
    assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)


def test_only_the_three_queueing_functions_may_send_imports(functions: dict[str, Any]) -> None:
    senders = {
        name
        for name, function in functions.items()
        for statement in statements_of(function["Properties"]["Policies"])
        if statement.get("Effect") == "Allow"
        and "sqs:SendMessage" in as_list(statement.get("Action"))
        and statement.get("Resource") == {"Fn::GetAtt": ["ImportQueue", "Arn"]}
    }
    assert senders == {"ImmichWebhookFunction", "ImmichSyncFunction", "ImmichImportFunction"}


def test_the_sync_runs_on_the_interval_parameter_and_only_when_enabled(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    (schedule,) = functions["ImmichSyncFunction"]["Properties"]["Events"].values()
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Fn::Sub": "rate(${SyncIntervalMinutes} minutes)"}
    assert schedule["Properties"]["State"] == {"Fn::If": ["ImmichSyncEnabled", "ENABLED", "DISABLED"]}
    assert template["Conditions"]["ImmichSyncEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableImmichSync"}, "true"]
    }
    parameters = template["Parameters"]
    assert parameters["EnableImmichSync"]["Default"] == "false"
    # "rate(1 minutes)" is refused by EventBridge: the interval never comes down to 1.
    assert parameters["SyncIntervalMinutes"]["MinValue"] >= 2
    statements = list(statements_of(functions["ImmichSyncFunction"]["Properties"]["Policies"]))
    (cursor,) = [s for s in statements if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))]
    assert set(cursor["Action"]) == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert cursor["Resource"] == {"Fn::GetAtt": ["ImmichSyncStateTable", "Arn"]}


def test_endpoint_resources_exist_only_when_an_image_is_given(resources: dict[str, Any]) -> None:
    for name in ("DepthModel", "DepthEndpointConfig", "DepthEndpoint", "SageMakerExecutionRole"):
        assert resources[name]["Condition"] == "CreateEndpoint", name
    (variant,) = resources["DepthEndpointConfig"]["Properties"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 1
    assert variant["InstanceType"] == {"Ref": "InferenceInstanceType"}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "ApiUrl",
        "ApiKeyId",
        "MediaBucketName",
        "ProcessingQueueUrl",
        "DeadLetterQueueUrl",
        "DepthEndpointName",
    } <= set(outputs)
    assert outputs["ApiUrl"]["Value"] == {
        "Fn::Sub": "https://${DepthApi}.execute-api.${AWS::Region}.amazonaws.com/v1"
    }
    # SAM names the key it generates for a PER_API usage plan <ApiLogicalId>ApiKey.
    assert outputs["ApiKeyId"]["Value"] == {"Ref": "DepthApiApiKey"}


# ---------------------------------------------------------------- after the SAM transform

# Runs in the SAM CLI's own environment, which has samtranslator; prints the CloudFormation.
_TRANSLATE = """
import json, sys
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

class NoManagedPolicies:
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for resource in template["Resources"].values():
    # Local code paths become S3 locations at package time; the translator wants those.
    if resource["Type"] == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    if resource["Type"] == "AWS::Serverless::LayerVersion":
        resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


@pytest.fixture(scope="module")
def expanded() -> dict[str, Any]:
    require_sam_cli()
    sam_python = SAM_CLI.parent / "python"
    if not sam_python.exists():
        pytest.skip(f"no Python next to {SAM_CLI} to run the SAM translator with")
    result = subprocess.run(
        [str(sam_python), "-c", _TRANSLATE, str(TEMPLATE)],
        env=sam_cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    translated: dict[str, Any] = json.loads(result.stdout)
    return translated


def test_sam_generates_the_api_key_usage_plan_and_stage(expanded: dict[str, Any]) -> None:
    types = {name: res["Type"] for name, res in expanded["Resources"].items()}
    assert types["DepthApiApiKey"] == "AWS::ApiGateway::ApiKey"
    assert types["DepthApiUsagePlan"] == "AWS::ApiGateway::UsagePlan"
    assert types["DepthApiUsagePlanKey"] == "AWS::ApiGateway::UsagePlanKey"
    stages = [res for res in expanded["Resources"].values() if res["Type"] == "AWS::ApiGateway::Stage"]
    assert [stage["Properties"]["StageName"] for stage in stages] == ["v1"]


def test_expanded_openapi_requires_keys_except_documentation_and_preflight(expanded: dict[str, Any]) -> None:
    paths = expanded["Resources"]["DepthApi"]["Properties"]["Body"]["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            secured = bool(operation.get("security"))
            public = method == "options" or (method.upper(), path) in PUBLIC_ROUTES
            assert secured is not public, (method, path)


def test_expanded_roles_grant_no_wildcards(expanded: dict[str, Any]) -> None:
    roles = {name: res for name, res in expanded["Resources"].items() if res["Type"] == "AWS::IAM::Role"}
    assert {f"{f}Role" for f in FUNCTIONS} <= set(roles)
    for role_name, role in roles.items():
        for statement in _role_statements(role):
            if statement["Effect"] == "Deny":
                continue
            actions = as_list(statement["Action"])
            for action in actions:
                assert "*" not in action, f"{role_name}: {action}"
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= STAR_RESOURCE_ACTIONS, f"{role_name}: {actions} on *"


def test_expanded_roles_attach_only_the_managed_policies_sam_must(expanded: dict[str, Any]) -> None:
    # SAM attaches these itself: logs for every function, X-Ray for Tracing: Active, and for an
    # SQS event AWSLambdaSQSQueueExecutionRole, which allows every queue: a deny narrows it.
    for function in FUNCTIONS:
        role = expanded["Resources"][f"{function}Role"]
        managed = {arn.rsplit("/", 1)[-1] for arn in role["Properties"].get("ManagedPolicyArns", [])}
        expected = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
        if function in SQS_SOURCES:
            expected.add("AWSLambdaSQSQueueExecutionRole")
            denies = [s for s in _role_statements(role) if s["Effect"] == "Deny"]
            assert any(
                {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(as_list(deny["Action"]))
                and deny["NotResource"] == {"Fn::GetAtt": [SQS_SOURCES[function], "Arn"]}
                for deny in denies
            )
        assert managed == expected, function


def _role_statements(role: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in role["Properties"].get("Policies", []):
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            if "Fn::If" in statement:  # a statement that only exists under a condition
                yield statement["Fn::If"][1]
            else:
                yield statement


# ---------------------------------------------------------------- asynchronous inference (scale to zero)

ASYNC_ONLY = (
    "DepthEndpointScalableTarget",
    "DepthEndpointBacklogScalingPolicy",
    "DepthEndpointWakeFromZeroPolicy",
    "DepthEndpointBacklogWithoutCapacityAlarm",
)


def _if(value: Any, condition: str) -> Any:
    """The value an !If gives when `condition` holds; asserts the !If tests that condition and gives
    nothing otherwise."""
    name, when_true, when_false = value["Fn::If"]
    assert name == condition
    assert when_false == {"Ref": "AWS::NoValue"}
    return when_true


def test_inference_mode_defaults_to_realtime_and_conditions_the_async_resources(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    mode = template["Parameters"]["InferenceMode"]
    assert (mode["Default"], mode["AllowedValues"]) == ("realtime", ["realtime", "async"])
    assert template["Conditions"]["AsyncInference"] == {"Fn::Equals": [{"Ref": "InferenceMode"}, "async"]}
    assert template["Conditions"]["CreateAsyncEndpoint"] == {
        "Fn::And": [{"Condition": "CreateEndpoint"}, {"Condition": "AsyncInference"}]
    }
    for name in ASYNC_ONLY:
        assert resources[name]["Condition"] == "CreateAsyncEndpoint", name
    # Realtime stays as it was: one instance from the start, no async configuration.
    config = resources["DepthEndpointConfig"]["Properties"]
    (variant,) = config["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 1
    _if(config["AsyncInferenceConfig"], "AsyncInference")


def test_async_endpoint_writes_under_the_async_prefixes_and_notifies_both_topics(
    resources: dict[str, Any],
) -> None:
    config = _if(resources["DepthEndpointConfig"]["Properties"]["AsyncInferenceConfig"], "AsyncInference")
    output = config["OutputConfig"]
    bucket = "s3://${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}/"
    assert sub_text(output["S3OutputPath"]) == bucket + keys.ASYNC_OUTPUT_PREFIX
    assert sub_text(output["S3FailurePath"]) == bucket + keys.ASYNC_FAILURES_PREFIX
    assert output["NotificationConfig"] == {
        "SuccessTopic": {"Ref": "AsyncInferenceSuccessTopic"},
        "ErrorTopic": {"Ref": "AsyncInferenceErrorTopic"},
    }
    assert config["ClientConfig"]["MaxConcurrentInvocationsPerInstance"] == {
        "Ref": "AsyncMaxConcurrentInvocationsPerInstance"
    }


def test_async_endpoint_scales_between_zero_and_the_maximum(resources: dict[str, Any]) -> None:
    target = resources["DepthEndpointScalableTarget"]["Properties"]
    assert target["MinCapacity"] == 0
    assert target["MaxCapacity"] == {"Ref": "AsyncMaxInstanceCount"}
    assert target["ServiceNamespace"] == "sagemaker"
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert sub_text(target["ResourceId"]) == "endpoint/${DepthEndpoint.EndpointName}/variant/AllTraffic"

    tracking = resources["DepthEndpointBacklogScalingPolicy"]["Properties"]
    assert tracking["PolicyType"] == "TargetTrackingScaling"
    assert tracking["ScalingTargetId"] == {"Ref": "DepthEndpointScalableTarget"}
    metric = tracking["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]
    assert (metric["Namespace"], metric["MetricName"]) == (
        "AWS/SageMaker",
        "ApproximateBacklogSizePerInstance",
    )
    assert metric["Dimensions"] == [
        {"Name": "EndpointName", "Value": {"Fn::GetAtt": ["DepthEndpoint", "EndpointName"]}}
    ]


def test_a_backlog_without_capacity_wakes_the_endpoint_from_zero(resources: dict[str, Any]) -> None:
    alarm = resources["DepthEndpointBacklogWithoutCapacityAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SageMaker", "HasBacklogWithoutCapacity")
    assert alarm["Dimensions"] == [
        {"Name": "EndpointName", "Value": {"Fn::GetAtt": ["DepthEndpoint", "EndpointName"]}}
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert alarm["AlarmActions"] == [{"Ref": "DepthEndpointWakeFromZeroPolicy"}]
    step = resources["DepthEndpointWakeFromZeroPolicy"]["Properties"]
    assert step["PolicyType"] == "StepScaling"
    assert step["ScalingTargetId"] == {"Ref": "DepthEndpointScalableTarget"}
    config = step["StepScalingPolicyConfiguration"]
    assert config["AdjustmentType"] == "ChangeInCapacity"
    assert config["StepAdjustments"] == [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]


def test_notifications_reach_the_completion_queue_raw_and_only_from_the_two_topics(
    resources: dict[str, Any],
) -> None:
    topics = [{"Ref": "AsyncInferenceSuccessTopic"}, {"Ref": "AsyncInferenceErrorTopic"}]
    subscriptions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert sorted(json.dumps(s["TopicArn"]) for s in subscriptions) == sorted(json.dumps(t) for t in topics)
    for subscription in subscriptions:
        assert subscription["Protocol"] == "sqs"
        assert subscription["Endpoint"] == {"Fn::GetAtt": ["InferenceCompletionQueue", "Arn"]}
        assert subscription["RawMessageDelivery"] is True
    policy = resources["InferenceCompletionQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "InferenceCompletionQueue"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topics}}
    queue = resources["InferenceCompletionQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["InferenceCompletionDeadLetterQueue", "Arn"]
    }
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert any(
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["InferenceCompletionDeadLetterQueue", "QueueName"]}}
        in alarm["Dimensions"]
        for alarm in alarms
    )


def test_completion_function_reads_the_completion_queue_reporting_item_failures(
    functions: dict[str, Any],
) -> None:
    events = functions["InferenceCompletionFunction"]["Properties"]["Events"]
    (sqs,) = (event["Properties"] for event in events.values() if event["Type"] == "SQS")
    assert sqs["Queue"] == {"Fn::GetAtt": ["InferenceCompletionQueue", "Arn"]}
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    statements = list(statements_of(functions["InferenceCompletionFunction"]["Properties"]["Policies"]))
    (send,) = [s for s in statements if "sqs:SendMessage" in as_list(s["Action"])]
    assert send["Resource"] == {"Fn::GetAtt": ["ProcessingQueue", "Arn"]}  # requeues a transient failure


def conditional_statements(function: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """A function's statements that exist only under a condition: by condition, by Sid."""
    raw = function["Properties"]["Policies"]
    by_condition: dict[str, dict[str, dict[str, Any]]] = {}
    for statement in (s for p in raw if "Statement" in p for s in p["Statement"] if "Fn::If" in s):
        condition = statement["Fn::If"][0]
        granted = _if(statement, condition)
        by_condition.setdefault(condition, {})[granted["Sid"]] = granted
    return by_condition


def test_processor_may_submit_asynchronously_only_in_async_mode(
    template: dict[str, Any], functions: dict[str, Any]
) -> None:
    by_condition = conditional_statements(functions["DepthProcessorFunction"])
    # Each grant exists only for the backend and mode that use it.
    assert {condition: set(granted) for condition, granted in by_condition.items()} == {
        "SageMakerBackend": {"InvokeDepthEndpoint"},
        "LambdaBackend": {"InvokeDepthFunction", "TakeLargeDepthFunctionAnswers"},
        "SageMakerAsyncInference": {"SubmitToAsyncEndpoint", "StageAsyncInputs"},
    }
    # Async mode applies to the SageMaker backend only: the Lambda backend is invoked synchronously.
    assert template["Conditions"]["SageMakerAsyncInference"] == {
        "Fn::And": [{"Condition": "SageMakerBackend"}, {"Condition": "AsyncInference"}]
    }
    granted = by_condition["SageMakerAsyncInference"]
    submit = granted["SubmitToAsyncEndpoint"]
    assert submit["Action"] == ["sagemaker:InvokeEndpointAsync"]
    condition, created, existing = submit["Resource"]["Fn::If"]
    assert (condition, created) == ("CreateEndpoint", {"Ref": "DepthEndpoint"})
    assert sub_text(existing).endswith(":endpoint/${ExistingEndpointName}")
    assert sub_text(granted["StageAsyncInputs"]["Resource"]).endswith("/" + keys.ASYNC_INPUT_PREFIX + "*")


def test_sagemaker_may_read_inputs_write_results_and_notify_only_in_async_mode(
    resources: dict[str, Any],
) -> None:
    (policy,) = resources["SageMakerExecutionRole"]["Properties"]["Policies"]
    conditional = [s for s in policy["PolicyDocument"]["Statement"] if "Fn::If" in s]
    granted = {
        statement["Sid"]: statement
        for statement in (s["Fn::If"][1] for s in conditional if s["Fn::If"][0] == "AsyncInference")
    }
    assert {sid: as_list(s["Action"]) for sid, s in granted.items()} == {
        "ReadAsyncInputs": ["s3:GetObject"],
        "WriteAsyncResults": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "PublishAsyncNotifications": ["sns:Publish"],
    }
    assert sub_text(granted["ReadAsyncInputs"]["Resource"]).endswith("/" + keys.ASYNC_INPUT_PREFIX + "*")
    assert {sub_text(r).rsplit("/", 2)[-2] + "/" for r in granted["WriteAsyncResults"]["Resource"]} == {
        "output/",
        "failures/",
    }
    assert granted["PublishAsyncNotifications"]["Resource"] == [
        {"Ref": "AsyncInferenceSuccessTopic"},
        {"Ref": "AsyncInferenceErrorTopic"},
    ]


def test_no_async_key_can_trigger_the_upload_ingest() -> None:
    for prefix in (keys.ASYNC_INPUT_PREFIX, keys.ASYNC_OUTPUT_PREFIX, keys.ASYNC_FAILURES_PREFIX):
        assert not prefix.startswith(keys.UPLOADS_PREFIX), prefix
    assert not keys.async_input_key("x", keys.VersionType.THUMBNAIL, "t").startswith(keys.UPLOADS_PREFIX)


def test_leftover_async_objects_expire(resources: dict[str, Any]) -> None:
    rules = resources["MediaBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Prefix") == keys.ASYNC_INFERENCE_PREFIX]
    assert rule["Status"] == "Enabled"
    assert 1 <= rule["ExpirationInDays"] <= 30


# ---------------------------------------------------------------- the depth backend (Lambda or SageMaker)

# Every resource that runs SageMaker inference; none may exist with DepthBackend=lambda.
SAGEMAKER_RESOURCES = (
    "DepthModel",
    "DepthEndpointConfig",
    "DepthEndpoint",
    "SageMakerExecutionRole",
    *ASYNC_ONLY,
)
LAMBDA_RESOURCES = ("DepthInferenceFunction", "DepthInferenceFunctionRole", "DepthInferenceFunctionLogGroup")
ECR_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/immichvr-depth-inference:abc"


def evaluate(template: dict[str, Any], expression: Any, parameters: dict[str, Any]) -> Any:
    """A condition's value (Fn::Equals/Not/And/Or, Condition, Ref of a parameter) for `parameters`
    (the template's defaults where not given)."""
    if isinstance(expression, dict) and len(expression) == 1:
        ((name, argument),) = expression.items()
        if name == "Ref":
            return parameters.get(argument, template["Parameters"][argument].get("Default", ""))
        if name == "Condition":
            return evaluate(template, template["Conditions"][argument], parameters)
        values = [evaluate(template, item, parameters) for item in as_list(argument)]
        if name == "Fn::Equals":
            return str(values[0]) == str(values[1])
        if name == "Fn::Not":
            return not values[0]
        if name == "Fn::And":
            return all(values)
        if name == "Fn::Or":
            return any(values)
        raise AssertionError(f"no evaluation for {name}")
    return expression


def deployed(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The resources a stack with `parameters` has: those without a condition or whose condition holds."""
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or evaluate(template, {"Condition": resource["Condition"]}, parameters)
    }


def test_the_depth_backend_is_lambda_by_default_or_sagemaker(template: dict[str, Any]) -> None:
    backend = template["Parameters"]["DepthBackend"]
    assert (backend["Default"], sorted(backend["AllowedValues"])) == ("lambda", ["lambda", "sagemaker"])
    conditions = template["Conditions"]
    assert conditions["LambdaBackend"] == {"Fn::Equals": [{"Ref": "DepthBackend"}, "lambda"]}
    assert conditions["SageMakerBackend"] == {"Fn::Equals": [{"Ref": "DepthBackend"}, "sagemaker"]}
    # The stack makes an endpoint only for the SageMaker backend, even when an image is named.
    assert conditions["CreateEndpoint"] == {
        "Fn::And": [
            {"Condition": "SageMakerBackend"},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "InferenceImageUri"}, ""]}]},
        ]
    }


def test_each_backend_requires_its_own_image_or_endpoint(template: dict[str, Any]) -> None:
    rules = template["Rules"]
    endpoint = rules["DepthEndpointConfigured"]
    assert endpoint["RuleCondition"] == {"Fn::Equals": [{"Ref": "DepthBackend"}, "sagemaker"]}
    assert "InferenceImageUri" in json.dumps(endpoint["Assertions"])
    assert "ExistingEndpointName" in json.dumps(endpoint["Assertions"])
    function = rules["DepthFunctionConfigured"]
    assert function["RuleCondition"] == {"Fn::Equals": [{"Ref": "DepthBackend"}, "lambda"]}
    (assertion,) = function["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "DepthFunctionImageUri"}, ""]}]}
    image = template["Parameters"]["DepthFunctionImageUri"]
    assert image["AllowedPattern"] == template["Parameters"]["InferenceImageUri"]["AllowedPattern"]


@pytest.mark.parametrize(
    ("parameters", "sagemaker", "lambda_"),
    [
        ({"DepthFunctionImageUri": ECR_IMAGE, "InferenceImageUri": ECR_IMAGE}, False, True),
        ({"DepthBackend": "lambda", "InferenceMode": "async", "InferenceImageUri": ECR_IMAGE}, False, True),
        ({"DepthBackend": "sagemaker", "InferenceImageUri": ECR_IMAGE}, True, False),
        ({"DepthBackend": "sagemaker", "ExistingEndpointName": "mine"}, False, False),
    ],
)
def test_only_the_chosen_backends_resources_exist(
    template: dict[str, Any], parameters: dict[str, Any], sagemaker: bool, lambda_: bool
) -> None:
    resources = deployed(template, parameters)
    for name in ("DepthModel", "DepthEndpointConfig", "DepthEndpoint", "SageMakerExecutionRole"):
        assert (name in resources) is sagemaker, name
    for name in LAMBDA_RESOURCES:
        assert (name in resources) is lambda_, name
    assert {name for name in SAGEMAKER_RESOURCES if name in resources} <= (
        set(SAGEMAKER_RESOURCES) if sagemaker else set()
    )


def test_the_default_deployment_costs_nothing_for_inference_while_idle(template: dict[str, Any]) -> None:
    """Under the defaults (with the images named, as the rules ask), nothing bills by the hour: no
    endpoint (whose instances bill while running), and a Lambda function without provisioned
    concurrency (billed per invocation). Real-time stays one parameter away, and is the idle bill."""
    defaults = deployed(template, {"DepthFunctionImageUri": ECR_IMAGE, "InferenceImageUri": ECR_IMAGE})
    hourly = {"AWS::SageMaker::Endpoint", "AWS::SageMaker::EndpointConfig", "AWS::Lambda::Version"}
    assert not [name for name, resource in defaults.items() if resource["Type"] in hourly]
    assert not [
        name for name, resource in defaults.items() if "ProvisionedConcurrency" in json.dumps(resource)
    ]
    function = defaults["DepthInferenceFunction"]["Properties"]
    assert "ProvisionedConcurrencyConfig" not in function

    realtime = deployed(template, {"DepthBackend": "sagemaker", "InferenceImageUri": ECR_IMAGE})
    (variant,) = realtime["DepthEndpointConfig"]["Properties"]["ProductionVariants"]
    assert variant["InitialInstanceCount"] == 1
    assert not set(ASYNC_ONLY) & set(realtime)  # nothing scales it to zero: one instance, always

    asynchronous = deployed(
        template, {"DepthBackend": "sagemaker", "InferenceMode": "async", "InferenceImageUri": ECR_IMAGE}
    )
    assert asynchronous["DepthEndpointScalableTarget"]["Properties"]["MinCapacity"] == 0


def test_samconfig_deploys_the_zero_idle_default() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config["default"]["deploy"]["parameters"].get("parameter_overrides", "")
    assert 'DepthBackend="sagemaker"' not in overrides or 'InferenceMode="async"' in overrides
    text = (ROOT / "samconfig.toml").read_text()
    assert "DepthFunctionImageUri" in text  # the example names the image the default needs


def test_the_depth_inference_function_is_an_x86_image_capped_by_its_parameters(
    template: dict[str, Any], resources: dict[str, Any], functions: dict[str, Any]
) -> None:
    function = resources["DepthInferenceFunction"]
    assert (function["Type"], function["Condition"]) == ("AWS::Lambda::Function", "LambdaBackend")
    props = function["Properties"]
    assert props["PackageType"] == "Image"
    assert props["Code"] == {"ImageUri": {"Ref": "DepthFunctionImageUri"}}
    assert "Handler" not in props
    assert "Runtime" not in props
    assert props["Architectures"] == ["x86_64"]
    assert props["MemorySize"] == {"Ref": "DepthFunctionMemorySize"}
    memory = template["Parameters"]["DepthFunctionMemorySize"]
    assert memory["MaxValue"] == memory["Default"] == 10240  # Lambda's most: 6 vCPUs
    assert memory["MinValue"] >= 2048
    # The processor's client waits past the function's timeout, and the processor past both.
    assert (
        props["Timeout"]
        < LAMBDA_READ_TIMEOUT_S
        < functions["DepthProcessorFunction"]["Properties"]["Timeout"]
    )
    assert props["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReserveDepthFunctionConcurrency",
            {"Ref": "DepthFunctionMaxConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert template["Conditions"]["ReserveDepthFunctionConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DepthFunctionMaxConcurrency"}, 0]}]
    }
    assert props["Role"] == {"Fn::GetAtt": ["DepthInferenceFunctionRole", "Arn"]}
    assert props["TracingConfig"] == {"Mode": "Active"}
    log_group = resources["DepthInferenceFunctionLogGroup"]
    assert log_group["Condition"] == "LambdaBackend"
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${DepthInferenceFunction}"}
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_depth_inference_function_may_only_log_trace_and_write_its_large_answers(
    resources: dict[str, Any],
) -> None:
    role = resources["DepthInferenceFunctionRole"]
    assert role["Condition"] == "LambdaBackend"
    props = role["Properties"]
    (trust,) = props["AssumeRolePolicyDocument"]["Statement"]
    assert (trust["Principal"], trust["Action"]) == ({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")
    managed = {sub_text(arn).rsplit("/", 1)[-1] for arn in props["ManagedPolicyArns"]}
    assert managed == {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}
    (policy,) = props["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], as_list(statement["Action"])) == ("Allow", ["s3:PutObject"])
    bucket_arn = "arn:${AWS::Partition}:s3:::${BucketNamePrefix}-${AWS::AccountId}-${AWS::Region}/"
    assert sub_text(statement["Resource"]) == bucket_arn + LAMBDA_ANSWERS_PREFIX + "*"


def test_only_the_processor_may_invoke_the_depth_inference_function(
    functions: dict[str, Any], template: dict[str, Any]
) -> None:
    granted = conditional_statements(functions["DepthProcessorFunction"])["LambdaBackend"]
    invoke = granted["InvokeDepthFunction"]
    assert (invoke["Effect"], as_list(invoke["Action"])) == ("Allow", ["lambda:InvokeFunction"])
    assert invoke["Resource"] == {"Fn::GetAtt": ["DepthInferenceFunction", "Arn"]}
    take = granted["TakeLargeDepthFunctionAnswers"]
    assert as_list(take["Action"]) == ["s3:GetObject", "s3:DeleteObject"]
    assert sub_text(take["Resource"]).endswith("/" + LAMBDA_ANSWERS_PREFIX + "*")
    invokers = {
        name
        for name, function in functions.items()
        for statement in statements_of(function["Properties"]["Policies"])
        if any(action.startswith("lambda:") for action in as_list(statement.get("Action")))
    }
    assert invokers == {"DepthProcessorFunction"}
    env = functions["DepthProcessorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["DEPTH_INFERENCE_FUNCTION_NAME"] == {
        "Fn::If": ["LambdaBackend", {"Ref": "DepthInferenceFunction"}, ""]
    }
    outputs = template["Outputs"]
    assert outputs["DepthInferenceFunctionName"]["Condition"] == "LambdaBackend"
    assert outputs["DepthEndpointName"]["Condition"] == "SageMakerBackend"
