"""Routing, in one place: which stage consumes which message, and what follows it.

pipeline.toml names, for each stage, the message type it consumes and the one it
produces; this module turns those names into types and checks that they form one chain
from ``JobAccepted`` through the nine stages to ``JobVerified``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import messages
from messages import Stage, StageMessage
from workers.config import PipelineConfig, StageSettings
from workers.errors import ConfigError

__all__ = ["FIRST_MESSAGE", "LAST_MESSAGE", "Route", "Routes", "build_routes"]

FIRST_MESSAGE = messages.JobAccepted
LAST_MESSAGE = messages.JobVerified


@dataclass(frozen=True)
class Route:
    stage: Stage
    queue: str
    consumes: type[StageMessage]
    produces: type[StageMessage]
    settings: StageSettings
    next_stage: Stage | None


class Routes:
    """The stages in pipeline order, with their queues and message types."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = {route.stage: route for route in routes}
        self.order = [route.stage for route in routes]

    def __getitem__(self, stage: Stage) -> Route:
        return self._routes[stage]

    def __iter__(self) -> Iterator[Route]:
        return (self._routes[stage] for stage in self.order)

    def index(self, stage: Stage) -> int:
        return self.order.index(stage)

    def before(self, stage: Stage) -> list[Stage]:
        return self.order[: self.index(stage)]

    def from_(self, stage: Stage) -> list[Stage]:
        return self.order[self.index(stage) :]

    @property
    def first(self) -> Route:
        return self._routes[self.order[0]]


def _message_type(name: str, where: str) -> type[StageMessage]:
    found = getattr(messages, name, None)
    if not (isinstance(found, type) and issubclass(found, StageMessage)):
        raise ConfigError(f"{where}: {name!r} is not a stage message in messages/")
    return found


def build_routes(config: PipelineConfig) -> Routes:
    """Check the chain and resolve every name; raise ConfigError naming what is wrong."""
    consumers: dict[type[StageMessage], list[StageSettings]] = {}
    for stage in config.stages:
        consumed = _message_type(stage.consumes, f"stage {stage.name}.consumes")
        consumers.setdefault(consumed, []).append(stage)
    chain: list[StageSettings] = []
    current: type[StageMessage] = FIRST_MESSAGE
    while current is not LAST_MESSAGE:
        found = consumers.get(current, [])
        if len(found) != 1:
            raise ConfigError(
                f"{current.__name__} must have exactly one consuming stage;"
                f" pipeline.toml has {[s.name.value for s in found]}"
            )
        stage = found[0]
        if stage in chain:
            raise ConfigError(f"pipeline.toml routes in a loop at stage {stage.name}")
        chain.append(stage)
        current = _message_type(stage.produces, f"stage {stage.name}.produces")
    if len(chain) != len(config.stages):
        unreached = [s.name.value for s in config.stages if s not in chain]
        raise ConfigError(f"stages not reached from JobAccepted: {unreached}")
    prefix = config.broker.queue_prefix
    routes = []
    for index, stage in enumerate(chain):
        following = chain[index + 1].name if index + 1 < len(chain) else None
        routes.append(
            Route(
                stage=stage.name,
                queue=f"{prefix}.{stage.name.value}",
                consumes=_message_type(stage.consumes, ""),
                produces=_message_type(stage.produces, ""),
                settings=stage,
                next_stage=following,
            )
        )
    return Routes(routes)
