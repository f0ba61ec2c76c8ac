"""The API's OpenAPI document, generated from the routes the functions declare (Powertools does the
work per function; this joins the functions' documents into the one the API serves).

`python -m immichvr_local.openapi` rewrites the committed document; a test fails when it is stale."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

from immichvr_depth.intake.webhook import SECRET_HEADER
from immichvr_local.template import REPO_ROOT

DOCUMENT_PATH = REPO_ROOT / "functions" / "media_api" / "openapi.json"
TITLE = "immichvr-depth"
VERSION = "1.0.0"
DESCRIPTION = (
    "Depth maps for the photos of an Immich library, for ImmichVR. Every route needs the `x-api-key` "
    "header, except Immich's workflow webhook, which carries a shared secret instead. Send "
    "`Accept: image/png` (or `image/jpeg`) to have an image inline; other requests for images are "
    "redirected to S3, which sends the bytes as they are."
)


def _resolvers() -> list[APIGatewayRestResolver]:
    from functions.immich_import.app import app as import_app
    from functions.immich_webhook.app import app as webhook_app
    from functions.media_api.app import app as media_app
    from functions.media_files.app import app as files_app

    return [import_app, webhook_app, media_app, files_app]


def build_document() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for resolver in _resolvers():
        part = json.loads(
            resolver.get_openapi_json_schema(
                title=TITLE,
                version=VERSION,
                description=DESCRIPTION,
                security_schemes={
                    "apiKey": APIKey.model_validate({"name": "x-api-key", "in": APIKeyIn.header}),
                    "webhookSecret": APIKey.model_validate({"name": SECRET_HEADER, "in": APIKeyIn.header}),
                },
                security=[{"apiKey": []}],
            )
        )
        if not document:
            document = part
            continue
        document["paths"] |= part["paths"]
        for section, entries in part.get("components", {}).items():
            document.setdefault("components", {}).setdefault(section, {}).update(entries)
    document["paths"] = dict(sorted(document["paths"].items()))
    _drop_empty_content(document)
    _drop_default_validation_answers(document)
    return document


def _drop_empty_content(document: dict[str, Any]) -> None:
    """An answer without a body (204, 304, 307) declares an empty content map, as Powertools would
    otherwise give it the handler's return type as JSON; an empty map says nothing, so it goes, and
    the answer declares no body at all."""
    for operations in document["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                if response.get("content") == {}:
                    del response["content"]


def _drop_default_validation_answers(document: dict[str, Any]) -> None:
    """Powertools documents a 422 on every operation for a failed validation; this API answers those
    with its 400 (see immichvr_depth.api), so the 422 it never sends goes, and so do the schemas
    nothing refers to any more."""
    for operations in document["paths"].values():
        for operation in operations.values():
            if "HTTPValidationError" in json.dumps(operation["responses"].get("422", {})):
                del operation["responses"]["422"]
    schemas = document.get("components", {}).get("schemas", {})
    while unused := [
        name
        for name in schemas
        if f'"#/components/schemas/{name}"' not in json.dumps([document["paths"], schemas])
    ]:
        for name in unused:
            del schemas[name]


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed document is stale")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.check:
        raise SystemExit(0 if DOCUMENT_PATH.read_text() == text else 1)
    DOCUMENT_PATH.write_text(text)
    print(f"wrote {DOCUMENT_PATH.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
