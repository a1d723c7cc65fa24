"""The instance's whole mutual-TLS estate, read and judged without writing anything.

- :mod:`workers.estate.inventory` (``discover_estate``) reads every keystore and Trust
  Store Cert, protocol profile, REST and SOAP message on mutual auth and the legacy
  protocol properties of an instance, within its call slots;
- :mod:`workers.estate.records`, :mod:`workers.estate.certificates` and
  :mod:`workers.estate.partners`: the reads, certificates out of attachments, and the
  partners' presented certificates;
- :mod:`workers.estate.findings` holds the findings rules, each with its severity and fix.

Acting on it is a lever's: :mod:`workers.levers.adopt` brings a discovered integration
under management, :mod:`workers.levers.migrate` renews adopted ones onto another CA
profile. Its settings are ``[estate]`` (:mod:`workers.config.estate`).
"""

__all__: list[str] = []
