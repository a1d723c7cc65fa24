"""What exists only for development, demos and tests, apart from what production runs.

- :mod:`.stack`: ``twoway up``, the whole stack on one machine, a started object.
- :mod:`.demo`: ``twoway demo``, one job end to end on that stack.
- :mod:`.sandbox`: the sandbox ServiceNow instance, the one emulation.
- :mod:`.thirdparty`: the third party's mutual-TLS endpoint (real TLS).
"""

__all__: list[str] = []
