"""twoway's processes and the people's side of it, over ``workers`` (the pipeline).

What production runs:

- :mod:`ops.cli`: the ``twoway`` command and its client side (the gateway client, output,
  progress lines, job views); ``cli/commands/`` holds one module per command group.
- :mod:`ops.service`: the HTTP service assembled (gateway and console), served by uvicorn,
  opened from the environment.
- :mod:`ops.gateway`: the JSON API under ``/v1``, one router module per surface.
- :mod:`ops.console`: the operator's web pages under ``/ui``.
- :mod:`ops.rabbitmq`: everything about the broker: boot definitions, connections, queue
  chores, dead letters, the AMQP intake and the events relay, the worker process.

What only development runs:

- :mod:`ops.dev`: the stack behind ``twoway up`` and ``demo``, the sandbox instance and the
  third party's mutual-TLS endpoint.
- :mod:`ops.bench`: the benchmarks behind ``twoway bench``.
"""

__all__: list[str] = []
