"""``[estate]`` in pipeline.toml: what discovery calls expiring, and which issuers are public."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PUBLIC_CA_NAMES", "EstateSettings"]

# Issuers that sell publicly trusted TLS certificates (matched, case-insensitively, as a
# part of the issuer's O or CN). Their client certificates cannot be renewed with
# clientAuth any more (DigiCert from 2026-05-01, Sectigo 2026-05-15, Let's Encrypt 2026).
PUBLIC_CA_NAMES = (
    "DigiCert",
    "Sectigo",
    "Comodo",
    "Let's Encrypt",
    "ISRG",
    "GlobalSign",
    "Entrust",
    "GoDaddy",
    "Starfield",
    "Amazon",
    "Google Trust Services",
    "Microsoft Azure",
    "Certum",
    "Buypass",
    "IdenTrust",
    "SSL.com",
    "ZeroSSL",
    "QuoVadis",
    "Thawte",
    "GeoTrust",
    "RapidSSL",
    "Actalis",
    "HARICA",
    "SwissSign",
    "Trustwave",
)


class EstateSettings(BaseModel):
    """Thresholds and names for ``twoway discover`` (docs/estate.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A certificate expiring within this many days is a finding (warning) ...
    expiring_days: Annotated[int, Field(ge=1, le=3650)] = 30
    # ... and within this many, a critical one.
    critical_days: Annotated[int, Field(ge=0, le=3650)] = 7
    # Issuers counted as public CAs, besides PUBLIC_CA_NAMES.
    public_ca_names: list[Annotated[str, Field(min_length=2, max_length=100)]] = []
    # Handshake with the partners' endpoints (only hosts the profile's fetch_hosts allow).
    probe_partners: bool = True

    def public_names(self) -> tuple[str, ...]:
        return (*PUBLIC_CA_NAMES, *self.public_ca_names)
