"""The embedded AWS: moto's server, with the template's buckets, tables and queues created in it."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from immichvr_depth.platform.aws import new_session
from immichvr_local.intrinsics import Resolver
from immichvr_local.s3_post_policy import PostPolicyCheck
from immichvr_local.template import Template

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
STACK_NAME = "immichvr-local"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


# The embedded AWS's one pair of credentials: what the functions sign presigned POSTs with.
ACCESS_KEY_ID = "local"
SECRET_ACCESS_KEY = "local"  # noqa: S105 - moto's, on loopback; no real AWS accepts it


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What every boto3 and pynamodb client in this process needs to talk to the embedded AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


class EmbeddedAws:
    """moto's server app on werkzeug in a thread (as moto.server.ThreadedMotoServer runs it), with S3's
    check of presigned POSTs in front of it: moto stores any posted upload, S3 holds it to its policy."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = PostPolicyCheck(
            DomainDispatcherApplication(create_backend_app), {ACCESS_KEY_ID: SECRET_ACCESS_KEY}
        )
        self._server = make_server(
            self.host, self.port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


# CloudFormation and the S3 API name a few CORS fields differently.
_CORS_FIELD_NAMES = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders", "Id": "ID"}


def _s3_cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    return {_CORS_FIELD_NAMES.get(name, name): value for name, value in rule.items()}


@dataclass
class LocalStack:
    template: Template
    endpoint_url: str
    server: EmbeddedAws | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)
    queue_visibility_timeout_s: int = 10

    @classmethod
    def start(
        cls,
        template: Template,
        *,
        port: int = 0,
        parameters: dict[str, str] | None = None,
        queue_visibility_timeout_s: int = 10,
    ) -> LocalStack:
        port = port or free_port()
        # moto's werkzeug logs every request; the runner's own JSON lines say what matters.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = EmbeddedAws("127.0.0.1", port)
        server.start()
        stack = cls(
            template=template,
            endpoint_url=f"http://127.0.0.1:{port}",
            server=server,
            parameters=parameters or {},
            queue_visibility_timeout_s=queue_visibility_timeout_s,
        )
        os.environ.update(aws_environment(stack.endpoint_url))
        stack.provision()
        return stack

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def client(self, service: str) -> Any:
        # Without an endpoint the clients reach whatever boto3 reaches: moto's in-process mock in tests.
        return new_session().client(  # type: ignore[call-overload]
            service, endpoint_url=self.endpoint_url or None, region_name=REGION
        )

    # -- provisioning -------------------------------------------------------------------------------

    def provision(self) -> None:
        self.refs |= {"AWS::AccountId": ACCOUNT_ID, "AWS::Region": REGION, "AWS::StackName": STACK_NAME}
        self.refs |= {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
        for name, spec in self.template.parameters.items():
            self.refs[name] = self.parameters.get(name, spec.get("Default", ""))
        for name in self.template.of_type("AWS::SSM::Parameter"):
            self.refs[name] = name
        # The API's id, in what names its deployed URL (an origin the bucket admits); locally the
        # gateway serves it on 127.0.0.1 instead, so the name stands for it.
        for name in self.template.of_type("AWS::Serverless::Api"):
            self.refs[name] = self._physical_name(name)
        self._create_queues()
        self._create_tables()
        self._create_buckets()
        self._create_topics()
        self._apply_queue_policies()
        self._create_subscriptions()

    def resolver(self) -> Resolver:
        return Resolver(self.refs, self.attributes, self.template.document.get("Conditions", {}))

    def _physical_name(self, logical_id: str) -> str:
        return f"{STACK_NAME}-{logical_id}".lower()

    def _create_queues(self) -> None:
        sqs = self.client("sqs")
        queues = self.template.of_type("AWS::SQS::Queue")
        for logical_id in queues:
            url = sqs.create_queue(QueueName=self._physical_name(logical_id))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self.refs[logical_id] = url
            self.attributes[(logical_id, "Arn")] = arn
            self.attributes[(logical_id, "QueueName")] = self._physical_name(logical_id)
            self.attributes[(logical_id, "QueueUrl")] = url
        # Redrive policies name other queues, so they are set once every queue exists.
        resolver = self.resolver()
        for logical_id, body in queues.items():
            props = resolver.resolve(body.get("Properties", {}))
            attributes = {"VisibilityTimeout": str(self.queue_visibility_timeout_s)}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            sqs.set_queue_attributes(QueueUrl=self.refs[logical_id], Attributes=attributes)

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        resolver = self.resolver()
        for logical_id, body in self.template.of_type("AWS::DynamoDB::Table").items():
            props = resolver.resolve(body["Properties"])
            name = props.get("TableName") or self._physical_name(logical_id)
            request: dict[str, Any] = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
            }
            if props.get("GlobalSecondaryIndexes"):
                request["GlobalSecondaryIndexes"] = [
                    {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                    for index in props["GlobalSecondaryIndexes"]
                ]
            dynamodb.create_table(**request)
            self.refs[logical_id] = name
            self.attributes[(logical_id, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"

    def _create_buckets(self) -> None:
        s3 = self.client("s3")
        for logical_id, body in self.template.of_type("AWS::S3::Bucket").items():
            props = body.get("Properties", {})
            name = self.resolver().resolve(props["BucketName"]) if "BucketName" in props else None
            name = name or self._physical_name(logical_id)
            s3.create_bucket(Bucket=name)
            if "CorsConfiguration" in props:
                cors = self.resolver().resolve(props["CorsConfiguration"])
                s3.put_bucket_cors(
                    Bucket=name,
                    CORSConfiguration={"CORSRules": [_s3_cors_rule(rule) for rule in cors["CorsRules"]]},
                )
            self.refs[logical_id] = name
            self.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"

    def _wanted(self, body: dict[str, Any]) -> bool:
        """Whether a resource exists with the parameters given: its Condition holds, or it has none."""
        return "Condition" not in body or self.resolver().condition(body["Condition"])

    def _create_topics(self) -> None:
        sns = self.client("sns")
        for logical_id, body in self.template.of_type("AWS::SNS::Topic").items():
            if not self._wanted(body):
                continue
            name = self._physical_name(logical_id)
            arn = sns.create_topic(Name=name)["TopicArn"]
            self.refs[logical_id] = arn  # Ref of a topic is its ARN
            self.attributes[(logical_id, "TopicArn")] = arn
            self.attributes[(logical_id, "TopicName")] = name

    def _apply_queue_policies(self) -> None:
        sqs = self.client("sqs")
        for body in self.template.of_type("AWS::SQS::QueuePolicy").values():
            if not self._wanted(body):
                continue
            props = self.resolver().resolve(body["Properties"])
            for url in props["Queues"]:
                policy = json.dumps(props["PolicyDocument"])
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})

    def _create_subscriptions(self) -> None:
        """SNS to SQS (and other) subscriptions, delivered by the embedded AWS as SNS would."""
        sns = self.client("sns")
        for logical_id, body in self.template.of_type("AWS::SNS::Subscription").items():
            if not self._wanted(body):
                continue
            props = self.resolver().resolve(body["Properties"])
            attributes = {
                name: json.dumps(props[name]) if isinstance(props[name], dict) else str(props[name]).lower()
                for name in ("RawMessageDelivery", "FilterPolicy", "RedrivePolicy")
                if name in props
            }
            arn = sns.subscribe(
                TopicArn=props["TopicArn"],
                Protocol=props["Protocol"],
                Endpoint=props["Endpoint"],
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            self.refs[logical_id] = arn

    def queue_url_for_arn(self, arn: str) -> str:
        for (logical_id, attribute), value in self.attributes.items():
            if attribute == "Arn" and value == arn:
                return str(self.refs[logical_id])
        raise KeyError(f"no queue with ARN {arn} in the local stack")

    def deliver_bucket_events(
        self, bucket: str, events: list[str], key_rules: list[dict[str, str]], name: str
    ) -> tuple[str, str]:
        """What Lambda's S3 trigger does, through a queue: S3 notifies the queue, a worker polls it.
        Returns the queue's URL and ARN."""
        sqs = self.client("sqs")
        url = sqs.create_queue(
            QueueName=self._physical_name(f"{name}-events"),
            Attributes={"VisibilityTimeout": str(self.queue_visibility_timeout_s)},
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("s3").put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": events,
                        "Filter": {
                            "Key": {
                                "FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in key_rules]
                            }
                        },
                    }
                ]
            },
        )
        return url, arn

    def function_environment(self) -> dict[str, str]:
        """Every function's environment variables, resolved; the functions share one process here."""
        resolver = self.resolver()
        environment: dict[str, str] = {}
        for spec in self.template.functions():
            for name, value in spec.environment.items():
                try:
                    resolved = resolver.resolve(value)
                except KeyError:
                    continue  # names a resource that only exists in AWS (the SageMaker endpoint)
                environment[name] = "" if resolved is None else str(resolved)
        return environment
