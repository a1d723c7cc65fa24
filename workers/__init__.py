"""The pipeline: nine stage cores and everything that runs them.

- :mod:`workers.stages`: one typed core per runbook step.
- :mod:`workers.machinery`: routing, the actor runtime, a run's outcome, leases, slots.
- :mod:`workers.app`: the assembly of one process's pipeline (``build_app``).
- :mod:`workers.levers`: what operators, callbacks and daemons pull on an assembled App.
- :mod:`workers.readiness`: read-only checks: admission, ``plan``, ``doctor``.
- Integrations: :mod:`workers.store` (state), :mod:`workers.pki` (keys, certificates,
  keystores, TLS), :mod:`workers.ca` (CA adapters), :mod:`workers.servicenow` (the
  instance's APIs).
- Leaves: :mod:`workers.config`, :mod:`workers.errors`, :mod:`workers.logs`,
  :mod:`workers.metrics`, :mod:`workers.sealing`, :mod:`workers.callback_signing`.

Layers are checked by ``lint-imports`` (``[tool.importlinter]`` in pyproject.toml).
"""

__all__: list[str] = []
