"""API Gateway's rule for binary payloads, as platform.http states it once for the functions and the
runner: the cases are those observed against AWS (the sources are in platform/http.py), and what the
image routes conclude from them: inline bytes only for an Accept API Gateway passes them to, a
redirect to S3 for everything else."""

from __future__ import annotations

import pytest

from immichvr_depth.platform.http import (
    BINARY_MEDIA_TYPES,
    binary_accepted,
    binary_body_delivered,
    is_binary_media_type,
)

# The list of the AWS experiment the cases come from.
OBSERVED_LIST = ("image/png", "image/jpg", "application/*")


@pytest.mark.parametrize(
    ("accept", "binary"),
    [
        ("image/png", True),
        ("image/jpg", True),
        ("application/whatever", True),  # a listed wildcard covers the subtype
        ("application/*", True),  # and the same wildcard sent
        ("image/*", False),  # a wildcard sent matches no exact entry
        ("*/*", False),
        ("image/gif", False),
        ("image/png,image/*,*/*;q=0.8", True),  # only the first type counts
        ("image/webp,image/png,*/*;q=0.8", False),
        ("application", False),  # no media type
        ("", False),
        (None, False),  # no Accept
    ],
)
def test_only_the_first_accept_type_counts_against_the_list(accept: str | None, binary: bool) -> None:
    assert binary_accepted(accept, OBSERVED_LIST) is binary


def test_a_wildcard_on_the_left_covers_nothing_and_star_slash_star_everything() -> None:
    assert not is_binary_media_type("random/test", ["*/test"])
    assert not is_binary_media_type("*/test", ["*/test"])
    assert is_binary_media_type("application/json", ["*/*"])
    assert is_binary_media_type("*/*", ["*/*"])


def test_parameters_are_not_part_of_the_match() -> None:
    # A request's Content-Type carries them (multipart/form-data; boundary=...).
    assert is_binary_media_type("multipart/form-data; boundary=x", ["multipart/form-data"])
    assert binary_accepted(" image/png ; q=0.9, */*", ["image/png"])


@pytest.mark.parametrize(
    ("accept", "inline"),
    [
        pytest.param(None, False, id="a client sending no Accept"),
        pytest.param("*/*", False, id="fetch()"),
        pytest.param("application/json", False, id="a JSON client"),
        pytest.param("image/avif,image/webp,*/*", True, id="an <img>"),
        pytest.param("image/png", True, id="image/png"),
        pytest.param("image/jpeg", True, id="image/jpeg"),
    ],
)
@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg"])
def test_an_image_route_answers_inline_only_what_api_gateway_passes_as_bytes(
    accept: str | None, inline: bool, content_type: str
) -> None:
    assert binary_body_delivered(accept, content_type) is inline


def test_a_type_the_api_does_not_list_is_never_answered_inline() -> None:
    assert not binary_body_delivered("image/png", "model/gltf-binary")


def test_the_api_lists_every_image_type_and_never_everything() -> None:
    assert {"image/png", "image/jpeg"} <= set(BINARY_MEDIA_TYPES)
    assert "*/*" not in BINARY_MEDIA_TYPES
    assert not is_binary_media_type("application/json", BINARY_MEDIA_TYPES)
