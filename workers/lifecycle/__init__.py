"""The rest of a certificate's life: revocation at the CA, and notifications to people.

- ``[revocation]`` and ``[notify]`` of pipeline.toml are read by :mod:`workers.config.lifecycle`;
- :mod:`workers.lifecycle.triggers`: which events ask for a revocation, which a person
  must hear of;
- :mod:`workers.lifecycle.payloads`: what a notification says (JSON, Slack, Teams, mail);
- :mod:`workers.lifecycle.webhook` and :mod:`workers.lifecycle.mail`: how it is sent.

The levers that work them are :mod:`workers.levers.revoker` and
:mod:`workers.levers.notifier`; their outboxes are in the store.
"""

__all__: list[str] = []
