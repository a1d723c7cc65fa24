"""The stage machinery: how a message becomes one run of one stage core, exactly once.

Routing (``pipeline``), the broker, the actor runtime and a run's outcome (``runtime``,
``stage_run``), what a core sees (``context``, ``memory``, ``deps``), leases, chaos for
drills, and the assembly of all of it in one process (``app``).
"""
