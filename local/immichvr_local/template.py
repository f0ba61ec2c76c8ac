"""Reading template.yaml, the one source of truth for resources, routes and function settings."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (`!Ref X` reads as `{"Ref": "X"}`)."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@lru_cache(maxsize=4)
def _parse(text: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain data. Parsed once per content (every test's AWS is made from it, and the
    parse was most of that); each caller gets its own copy to change."""
    return copy.deepcopy(_parse(path.read_text()))


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # API Gateway's resource path, e.g. /api/media/{id}/depth
    function: str
    api_key_required: bool
    pattern: re.Pattern[str] = field(compare=False)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method.upper() != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def _route_pattern(resource: str) -> re.Pattern[str]:
    """A resource path as API Gateway's REST API matches it: `{name}` is one segment, a greedy
    `{name+}` (last, by API Gateway's rule) the rest of the path, slashes included, and a trailing
    slash reaches the resource without it (/viewer/ is /viewer's)."""
    parts = re.split(r"(\{[^}]+\})", resource)
    regex = "".join(_part_pattern(part) for part in parts)
    return re.compile(regex + "/?")


def _part_pattern(part: str) -> str:
    if not part.startswith("{"):
        return re.escape(part)
    name = part[1:-1]
    return f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, Any]
    events: dict[str, dict[str, Any]]
    # How Lambda treats its asynchronous invocations (S3's): retries, event age, destinations.
    event_invoke_config: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The handler's module as imported from the repository root (functions/x/ -> functions.x.app)."""
        package = self.code_uri.strip("/").replace("/", ".")
        return f"{package}.{self.handler.rsplit('.', 1)[0]}"

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


class Template:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.parameters: dict[str, dict[str, Any]] = document.get("Parameters", {})

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH) -> Template:
        return cls(load_template(path))

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: body for name, body in self.resources.items() if body.get("Type") == resource_type}

    def functions(self) -> list[FunctionSpec]:
        function_globals = self.document.get("Globals", {}).get("Function", {})
        globals_env = function_globals.get("Environment", {})
        specs = []
        for name, body in self.of_type("AWS::Serverless::Function").items():
            props = body.get("Properties", {})
            env = dict(globals_env.get("Variables", {})) | props.get("Environment", {}).get("Variables", {})
            specs.append(
                FunctionSpec(
                    logical_id=name,
                    code_uri=props["CodeUri"],
                    handler=props.get("Handler", "app.lambda_handler"),
                    environment=env,
                    events=props.get("Events", {}),
                    event_invoke_config=function_globals.get("EventInvokeConfig", {})
                    | props.get("EventInvokeConfig", {}),
                )
            )
        return specs

    def function(self, logical_id: str) -> FunctionSpec:
        return next(spec for spec in self.functions() if spec.logical_id == logical_id)

    def routes(self) -> list[Route]:
        api_default_key = True
        for api in self.of_type("AWS::Serverless::Api").values():
            api_default_key = bool(api.get("Properties", {}).get("Auth", {}).get("ApiKeyRequired", False))
        routes = []
        for spec in self.functions():
            for event in spec.events.values():
                if event.get("Type") != "Api":
                    continue
                props = event["Properties"]
                key_required = props.get("Auth", {}).get("ApiKeyRequired", api_default_key)
                routes.append(
                    Route(
                        method=props["Method"].upper(),
                        resource=props["Path"],
                        function=spec.logical_id,
                        api_key_required=bool(key_required),
                        pattern=_route_pattern(props["Path"]),
                    )
                )
        # Literal routes win over parameterised ones, and those over greedy ones, as in API Gateway.
        return sorted(routes, key=lambda route: (route.resource.count("+}"), route.resource.count("{")))

    def binary_media_types(self) -> tuple[str, ...]:
        """The API's BinaryMediaTypes as API Gateway gets them: SAM has each `/` written `~1` and
        turns it back (samtranslator's swagger.add_binary_media_types replaces `~1` only)."""
        listed: list[str] = []
        for api in self.of_type("AWS::Serverless::Api").values():
            listed += [
                str(media_type) for media_type in api.get("Properties", {}).get("BinaryMediaTypes", [])
            ]
        return tuple(media_type.replace("~1", "/") for media_type in listed)

    def event_sources(self, event_type: str) -> list[tuple[FunctionSpec, dict[str, Any]]]:
        return [
            (spec, event["Properties"])
            for spec in self.functions()
            for event in spec.events.values()
            if event.get("Type") == event_type
        ]

    def parameter_default(self, name: str) -> Any:
        return self.parameters.get(name, {}).get("Default")
