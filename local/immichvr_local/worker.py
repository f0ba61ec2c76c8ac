"""Lambda's SQS event source mapping, locally: poll the queue, invoke the function with a batch,
delete what succeeded and leave the reported failures for redelivery (and, in time, the DLQ)."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from immichvr_local.functions import FunctionPool
from immichvr_local.logs import logger
from immichvr_local.stack import REGION


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


class QueueWorker(threading.Thread):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        pool: FunctionPool,
        batch_size: int,
        event_builder: Any = sqs_event,
    ) -> None:
        super().__init__(name=f"worker-{pool.spec.logical_id}", daemon=True)
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.pool = pool
        self.batch_size = min(batch_size, 10)
        self.event_builder = event_builder
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.poll_once(wait_s=1)
            except Exception:
                logger.exception("worker poll failed", function=self.pool.spec.logical_id)
                self.stopping.wait(1)

    def poll_once(self, wait_s: int = 0) -> int:
        """Deliver one batch; returns how many messages it held."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        failed: set[str] = {message["MessageId"] for message in messages}
        try:
            response = self.pool.invoke(self.event_builder(messages, self.queue_arn)) or {}
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            # A function without partial batch responses succeeded on all it was given.
        except Exception:
            logger.exception("function failed on the whole batch", function=self.pool.spec.logical_id)
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)
