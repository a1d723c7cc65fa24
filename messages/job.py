"""The job request: what a workflow asks twoway to set up, validated to the field."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from cryptography import x509
from pydantic import Field, field_validator, model_validator

from ._base import Message

__all__ = [
    "CaChoice",
    "EnableSpec",
    "JobRequest",
    "KeySpec",
    "KeyType",
    "KeystoreFormat",
    "KeystoreSpec",
    "ProtocolProfileSpec",
    "ServerCertificate",
    "ServerFetch",
    "SubjectName",
    "Target",
    "TargetKind",
]

_DNS_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"^(\*\.)?({_DNS_LABEL}\.)*{_DNS_LABEL}\.?$")
_PROTOCOL = re.compile(r"^[a-z0-9]+$")
_RESERVED_PROTOCOLS = frozenset({"http", "https", "ftp", "ftps", "ldap", "ldaps", "mailto", "file"})
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

Name64 = Annotated[str, Field(min_length=1, max_length=64)]


class KeyType(StrEnum):
    """Key algorithms on offer. JKS in every ServiceNow release reads all of them."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    EC256 = "ec256"
    EC384 = "ec384"


class TargetKind(StrEnum):
    REST = "rest"
    SOAP = "soap"


class SubjectName(Message):
    """The certificate's subject DN. Only CN is required; C is a two-letter ISO code."""

    cn: Name64
    o: Name64 | None = None
    ou: Name64 | None = None
    l: Name64 | None = None  # noqa: E741 - the X.500 attribute is called L
    st: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    c: str | None = None

    @field_validator("c")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Z]{2}", value):
            raise ValueError("must be a two-letter upper-case ISO 3166 country code, like 'DE'")
        return value


class KeySpec(Message):
    type: KeyType = KeyType.RSA2048


class Target(Message):
    """The outbound message to switch to mutual TLS, by its name on the instance."""

    kind: TargetKind = TargetKind.REST
    name: Annotated[str, Field(min_length=1, max_length=100)]


class CaChoice(Message):
    """Which CA profile of pipeline.toml signs; ``adapter`` may be named to check it."""

    profile: Annotated[str, Field(min_length=1, max_length=64)]
    adapter: Literal["local", "manual", "cfssl"] | None = None


class KeystoreFormat(StrEnum):
    """The keystore file and record type. JKS is the default: every release reads it, and
    the records twoway made before 2 are JKS; PKCS12 Key Store records are accepted for
    protocol profiles from San Diego on (docs/servicenow.md) and must be asked for."""

    JKS = "jks"
    PKCS12 = "pkcs12"


class KeystoreSpec(Message):
    """The keystore record to create, its format, and the alias of the key pair inside."""

    record_name: Annotated[str, Field(min_length=1, max_length=100)]
    alias: str = "twoway"
    format: KeystoreFormat = KeystoreFormat.JKS

    @field_validator("record_name")
    @classmethod
    def _record_name(cls, value: str) -> str:
        # found again by name in an encoded query, which cannot carry these: refused here,
        # at admission, not at upload-keystore after the CA has signed
        if any(c in value for c in "^\r\n"):
            raise ValueError("must not hold '^' or a line break (a ServiceNow query cannot)")
        return value

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        if not _ALIAS.fullmatch(value):
            raise ValueError(
                "must be lower case (JKS lower-cases aliases): letters, digits, '.', '_' or '-',"
                " starting with a letter or digit, at most 64 characters"
            )
        return value


class ServerFetch(Message):
    """Fetch the server certificate from the endpoint; accepted only if its SHA-256 (of the
    DER) is ``sha256``, and only from a host the instance profile's ``fetch_hosts`` allow."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    sha256: str

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip("[]")))
        except ValueError:
            pass
        if not _DNS_NAME.fullmatch(value) or value.startswith("*"):
            raise ValueError("must be a DNS name or an IP address")
        return value.lower().rstrip(".")

    @field_validator("sha256")
    @classmethod
    def _pin(cls, value: str) -> str:
        pin = value.replace(":", "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", pin):
            raise ValueError(
                "must be the certificate's SHA-256 fingerprint: 64 hex digits (colons allowed)"
            )
        return pin


class ServerCertificate(Message):
    """The third party's server certificate: PEM, base64 DER, or a pinned fetch; one of them."""

    pem: Annotated[str, Field(max_length=65_536)] | None = None
    der_b64: Annotated[str, Field(max_length=65_536)] | None = None
    fetch: ServerFetch | None = None

    @model_validator(mode="after")
    def _exactly_one_and_parseable(self) -> Self:
        given = [self.pem is not None, self.der_b64 is not None, self.fetch is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'pem', 'der_b64' or 'fetch'")
        if self.fetch is not None:
            return self
        try:
            if self.pem is not None:
                x509.load_pem_x509_certificate(self.pem.encode("ascii"))
            else:
                x509.load_der_x509_certificate(self.der_bytes())
        except (ValueError, UnicodeEncodeError, binascii.Error) as exc:
            kind = "pem" if self.pem is not None else "der_b64"
            raise ValueError(
                f"'{kind}' is not an X.509 certificate; give the server's certificate as PEM"
                " ('-----BEGIN CERTIFICATE-----' ...) or its DER bytes in base64"
            ) from exc
        return self

    def der_bytes(self) -> bytes:
        """The DER bytes when given as ``der_b64`` (base64, strictly decoded)."""
        if self.der_b64 is None:
            raise ValueError("this certificate was given as PEM")
        return base64.b64decode(self.der_b64, validate=True)


class ProtocolProfileSpec(Message):
    """The Protocol Profile: its name becomes a URL scheme, so ServiceNow's rules apply."""

    name: str
    port: Annotated[int, Field(ge=1, le=65535)] = 443

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PROTOCOL.fullmatch(value) or len(value) > 40:
            raise ValueError(
                "must be lower-case letters and digits only (it becomes a URL scheme),"
                " 1 to 40 characters, like 'mauthpayments'"
            )
        if value in _RESERVED_PROTOCOLS:
            raise ValueError(f"'{value}' is an existing protocol; choose another, like 'mauth'")
        return value


class EnableSpec(Message):
    """How ``enable`` switches the message: by default only once the new keystore has
    handshaken with the third party's endpoint from twoway's host (``prove_first``). Turn it
    off only for an endpoint twoway cannot reach (one that admits only the instance's
    addresses): the switch is then unproven, and the job's history says so."""

    prove_first: bool = True


class JobRequest(Message):
    """Give a REST or SOAP message on an instance a client certificate from a CA.

    schema_version 2 added ``keystore.format``; a version 1 request is still accepted for
    a release, and must not ask for anything but JKS.
    """

    schema_version: Literal[1, 2] = 2  # type: ignore[assignment]

    instance: Annotated[str, Field(min_length=1, max_length=64)]
    target: Target
    subject: SubjectName
    dns_sans: Annotated[list[str], Field(max_length=100)] = []
    key: KeySpec = KeySpec()
    ca: CaChoice
    keystore: KeystoreSpec
    server_certificate: ServerCertificate
    protocol_profile: ProtocolProfileSpec
    rotate: bool = False
    # A message already on mutual auth with another protocol profile is taken over only
    # when the request says so (admission names the profile in use and its keystore).
    replace: bool = False
    enable: EnableSpec = EnableSpec()

    @model_validator(mode="after")
    def _versioned_fields(self) -> Self:
        if self.schema_version == 1 and self.keystore.format is not KeystoreFormat.JKS:
            raise ValueError("keystore.format arrived with schema_version 2; send 2")
        return self

    @field_validator("dns_sans")
    @classmethod
    def _dns_sans(cls, values: list[str]) -> list[str]:
        for value in values:
            if len(value) > 253 or not _DNS_NAME.fullmatch(value):
                raise ValueError(f"{value!r} is not a DNS name (letters, digits, '-', dots)")
        return values
