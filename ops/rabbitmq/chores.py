"""Small RabbitMQ chores for operators and tests: queue depths, deleting a prefix's queues."""

from __future__ import annotations

from collections.abc import Iterable

import pika
import pika.exceptions

from ops.rabbitmq.connection import open_connection

__all__ = ["delete_queues", "queue_depths", "stage_queue_names"]


def stage_queue_names(queues: Iterable[str]) -> list[str]:
    """Each stage queue with dramatiq's delay (.DQ) and dead-letter (.XQ) companions."""
    return [name for queue in queues for name in (queue, f"{queue}.DQ", f"{queue}.XQ")]


def queue_depths(url: str, queues: Iterable[str]) -> dict[str, int]:
    """Ready messages per queue (passive declare; a missing queue counts as 0)."""
    depths: dict[str, int] = {}
    connection = open_connection(url)
    try:
        for name in queues:
            channel = connection.channel()
            try:
                result = channel.queue_declare(queue=name, passive=True)
                depths[name] = int(result.method.message_count)
                channel.close()
            except pika.exceptions.ChannelClosedByBroker:
                depths[name] = 0
    finally:
        connection.close()
    return depths


def delete_queues(url: str, queues: Iterable[str]) -> None:
    connection = open_connection(url)
    try:
        channel = connection.channel()
        for name in queues:
            channel.queue_delete(queue=name)
    finally:
        connection.close()
