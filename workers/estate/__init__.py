"""The instance's whole mutual-TLS estate: discover it, adopt it, migrate it.

- :mod:`workers.estate.inventory` (``discover_estate``) reads every keystore and Trust
  Store Cert, protocol profile, REST and SOAP message on mutual auth and the legacy
  protocol properties of an instance, within its call slots, and writes nothing;
- :mod:`workers.estate.findings` holds the findings rules, each with its severity and fix;
- :mod:`workers.estate.adopt` brings a discovered integration under management;
- :mod:`workers.estate.migrate` renews adopted integrations onto another CA profile.

The package imports nothing at import time (``workers.config`` reads its settings from
:mod:`workers.estate.settings`).
"""

from __future__ import annotations

__all__: list[str] = []
