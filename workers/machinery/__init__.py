"""The stage machinery: how a message becomes one run of one stage core, exactly once.

Routing (``pipeline``), the broker, what a core is and answers (``core``), the actor
runtime and a run's outcome (``runtime``, ``stage_run``), what a core sees (``context``,
``memory``, ``deps``), leases, call slots, and chaos for drills (plugged in by the
assembly, :mod:`workers.app`, never imported by the rest).
"""

__all__: list[str] = []
