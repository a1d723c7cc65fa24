"""Known platform problems an instance may have, each with its fix (servicenow-api.md 3,
10; docs/servicenow.md "Known platform problems"). One reusable function,
``platform_problems``, that ``doctor`` calls and that any other reader of an instance
(a ``discover`` of existing set-ups, the conformance kit) can call too; read-only.

- PRB1923704: legacy ``glide.httpclient.protocol.*`` properties take precedence over a
  protocol profile's keystore (and load every sys_certificate): fail, remove them.
- PRB1964424: REST "Mutual Auth" fails on an instance in FIPS mode until Zurich patch 10 /
  Australia patch 3: fail where a property says FIPS is on, unknown where none tells.
- PRB1878139: older releases cache a loaded keystore after its file changes: twoway never
  relies on a changed attachment being picked up (a rotation makes a new record).
- The docs' "key size up to 2048 bits" (whether enforced for keystores is unknown):
  ``key_size_note`` warns, it never refuses.
"""

from __future__ import annotations

from messages import KeyType
from workers.readiness.doctor_model import Check
from workers.servicenow import ServiceNowClient
from workers.servicenow.facts import legacy_protocol_properties

__all__ = ["key_size_note", "platform_problems"]

_GROUP = "platform"
_LEGACY = "no legacy glide.httpclient.protocol.* properties"
_BIG_KEYS = frozenset({KeyType.RSA3072, KeyType.RSA4096})


def platform_problems(client: ServiceNowClient) -> list[Check]:
    """One check per known problem: pass, fail (with the fix) or unknown."""
    return [_legacy(client), _fips(client), _keystore_cache()]


def key_size_note(key: KeyType) -> str | None:
    """A warning for RSA keys above 2048 bits; None for the others."""
    if key not in _BIG_KEYS:
        return None
    return (
        f"key {key.value}: ServiceNow's docs say a certificate 'can have a key size up to 2048"
        " bits'; whether that binds keystores is unknown. twoway proceeds and proves the"
        " keystore; choose rsa2048 or ec256 if the instance refuses it"
    )


def _legacy(client: ServiceNowClient) -> Check:
    found = legacy_protocol_properties(client)
    return Check(
        group="properties",
        name=_LEGACY,
        status="fail" if found else "pass",
        detail=", ".join(found) if found else "none",
        fix="back them up and delete them: they take precedence over protocol profiles,"
        " bypass the profile's keystore (PRB1923704) and cause bad_certificate / 'No"
        " required SSL certificate was sent' (KB0824494, KB0683345)"
        if found
        else "",
    )


def _fips(client: ServiceNowClient) -> Check:
    rows = client.query("sys_properties", encoded="nameLIKEfips", fields=("name", "value"))
    on = sorted(str(r["name"]) for r in rows if str(r.get("value", "")).lower() == "true")
    name = "not in FIPS mode (PRB1964424)"
    if on:
        return Check(
            group=_GROUP,
            name=name,
            status="fail",
            detail=f"FIPS mode: {', '.join(on)}",
            fix="REST 'Mutual Auth' fails in FIPS mode before Zurich patch 10 / Australia"
            " patch 3 (PRB1964424): upgrade, or test an outbound call before relying on it",
        )
    detail = "the instance does not say" if not rows else "FIPS properties are off"
    return Check(group=_GROUP, name=name, status="unknown" if not rows else "pass", detail=detail)


def _keystore_cache() -> Check:
    return Check(
        group=_GROUP,
        name="keystore caching (PRB1878139)",
        status="pass",
        detail="older releases keep a loaded keystore after its file changes; twoway's"
        " renewals create a new keystore record and switch the profile to it, and never rely"
        " on a changed attachment being picked up",
    )
