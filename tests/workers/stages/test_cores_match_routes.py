"""Every core's signature says what its route carries: the message it consumes is the one
its queue delivers (pipeline.toml, ``consumes``), and what it returns is what the next
stage consumes (``produces``), or a pause. A core wired to the wrong message fails here,
not on the first job."""

from __future__ import annotations

import types
import typing

import pytest

from messages import Stage
from workers.config import load_config
from workers.machinery.core import Paused
from workers.machinery.pipeline import build_routes
from workers.stages import CORES

ROUTES = build_routes(load_config())


def _returned(hint: object) -> set[object]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return set(typing.get_args(hint))
    return {hint}


def test_there_is_one_core_for_each_route() -> None:
    assert set(CORES) == {route.stage for route in ROUTES} == set(Stage)


@pytest.mark.parametrize("stage", list(Stage), ids=lambda s: s.value)
def test_a_cores_input_and_output_are_its_routes(stage: Stage) -> None:
    route = ROUTES[stage]
    hints = typing.get_type_hints(CORES[stage])
    consumed = next(iter(v for k, v in hints.items() if k != "return"))
    assert consumed is route.consumes, f"{stage.value} reads {consumed}, gets {route.consumes}"
    returned = _returned(hints["return"])
    assert route.produces in returned, f"{stage.value} returns {returned}, not {route.produces}"
    assert returned <= {route.produces, Paused}, f"{stage.value} may return {returned}"
    if route.next_stage is not None:
        assert ROUTES[route.next_stage].consumes is route.produces
