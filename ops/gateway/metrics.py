"""``GET /metrics``: the Prometheus exposition of the gateway's process and the store.

Jobs by state, waits for CAs and certificates' notAfter are read from the store at
scrape time; dead letters from RabbitMQ (when the pipeline runs on it). Stage durations
and ServiceNow calls are observed where they happen: here for a stack whose workers run
in this process, and on ``twoway worker --metrics-port`` for worker processes.
"""

from __future__ import annotations

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops.gateway.auth import require
from ops.gateway.state import state_of
from ops.rabbitmq.broker_metrics import DeadLetterCollector
from ops.rabbitmq.dead_letters import DeadLetters

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    dependencies=[require("read")],
)
def metrics(request: Request) -> Response:
    state = state_of(request)
    app = state.app
    if isinstance(app.broker, RabbitmqBroker) and "dead_letters" not in state.extra:
        dead = DeadLetters(app.settings.broker_url, app.runtime.routes, app.store)
        state.extra["dead_letters"] = DeadLetterCollector(dead)
        app.deps.metrics.watch(state.extra["dead_letters"])
    return Response(generate_latest(app.deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)
