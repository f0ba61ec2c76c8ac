"""template.yaml's settings that decide what a client finally reads from an image route: the API's
binary media types are platform.http's, so the functions know when API Gateway passes their bytes
and redirect to S3 when it would not; and the bucket's CORS lets a browser that followed such a
redirect read the depth map's facts, which S3 answers as x-amz-meta-* headers."""

from __future__ import annotations

from typing import Any

import pytest

from immichvr_depth.platform.http import BINARY_MEDIA_TYPES, EXPOSED_HEADERS, is_binary_media_type
from immichvr_depth.store.depth_maps import FACT_METADATA, metadata_header
from immichvr_local.intrinsics import Resolver
from immichvr_local.template import Template

# What every image route answers with: PNG depth maps (16- and 8-bit), JPEG photos and stereo pairs.
IMAGE_TYPES = ("image/png", "image/jpeg")


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load()


@pytest.fixture(scope="module")
def bucket_cors_rule(template: Template) -> dict[str, Any]:
    (rule,) = template.resources["MediaBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    return dict(rule)


def deployed_value(template: Template, value: Any) -> Any:
    """A template value with the parameters at their defaults, as a stack deployed without any has it."""
    defaults = {name: spec.get("Default") for name, spec in template.parameters.items()}
    return Resolver(defaults, {}, {}).resolve(value)


# ---------------------------------------------------------------- binary media types


def test_the_api_lists_exactly_the_binary_media_types_the_functions_reckon_with(template: Template) -> None:
    (api,) = template.of_type("AWS::Serverless::Api").values()
    # SAM wants each / written ~1.
    assert api["Properties"]["BinaryMediaTypes"] == [t.replace("/", "~1") for t in BINARY_MEDIA_TYPES]
    # And the runner reads them back as API Gateway gets them.
    assert template.binary_media_types() == BINARY_MEDIA_TYPES


def test_every_image_type_is_binary_and_nothing_else_is() -> None:
    assert all(is_binary_media_type(image, BINARY_MEDIA_TYPES) for image in IMAGE_TYPES)
    # */* would make API Gateway treat CORS preflights and JSON as binary.
    assert "*/*" not in BINARY_MEDIA_TYPES
    for text in ("application/json", "text/html", "*/*"):
        assert not is_binary_media_type(text, BINARY_MEDIA_TYPES)


# ---------------------------------------------------------------- the facts, wherever the body comes from


def test_the_api_s_cors_exposes_every_fact_header() -> None:
    assert set(FACT_METADATA) <= set(EXPOSED_HEADERS)


def test_the_bucket_s_cors_exposes_every_fact_as_s3_answers_it(bucket_cors_rule: dict[str, Any]) -> None:
    exposed = set(bucket_cors_rule["ExposedHeaders"])
    # S3 takes exact names here, no wildcard: each fact's x-amz-meta-* header by name.
    assert {metadata_header(header) for header in FACT_METADATA} <= exposed
    # The caching and framing headers a client uses, and the download name stereo pairs carry.
    assert {"ETag", "Content-Length", "Content-Disposition"} <= exposed


def test_the_fact_metadata_keys_are_as_s3_answers_them() -> None:
    # S3 lowercases metadata keys; the header is x-amz-meta-<key>.
    for header, key in FACT_METADATA.items():
        assert key == key.lower()
        assert metadata_header(header) == f"x-amz-meta-{key}"
    assert set(FACT_METADATA) == {"X-Depth-Map-Version", "X-Model-Name", "X-Model-Version", "X-Generated-At"}


def test_a_browser_that_followed_a_redirect_may_read_the_file(
    template: Template, bucket_cors_rule: dict[str, Any]
) -> None:
    # After a cross-origin redirect a browser sends `Origin: null` (the Fetch standard's tainted
    # origin): only a bucket allowing every origin answers it, which the default does.
    assert template.parameters["CorsAllowOrigin"]["Default"] == "'*'"
    assert deployed_value(template, bucket_cors_rule["AllowedOrigins"][0]) == "*"
    assert {"GET", "HEAD"} <= set(bucket_cors_rule["AllowedMethods"])
    # The redirected request keeps the API's headers (x-api-key): S3's preflight must allow them.
    assert bucket_cors_rule["AllowedHeaders"] == ["*"]
