"""The platform's business rules the sandbox emulates, hooked into the store.

- ``sys_certificate.name`` is unique: a duplicate answers 403 "Operation Failed" (1.2).
- A pasted PEM (or an attached DER certificate) fills the derived fields (1.2).
- KB1217702: an active keystore record whose attachment does not load with its password is
  still saved, but the instance logs ``Unable to load certificate : <name> - <sys_id> ...``
  to syslog. Checked again whenever the password, the attachment, ``type`` or ``active``
  changes.
- Protocol-name rules (3), only when the facts say they are enforced.
- PRB1878139, when the facts say so: the first keystore loaded for a record is kept.
"""

from __future__ import annotations

import re
import weakref

from cryptography import x509

from ops.dev.sandbox.keystores import certificate_fields, der_fields, load_keystore, pem_fields
from ops.dev.sandbox.store import Refusal, SandboxStore

__all__ = ["broken_keystores", "install", "keystore_error"]

_CERTS = "sys_certificate"
_LOADED: weakref.WeakKeyDictionary[
    SandboxStore, dict[str, tuple[str | None, x509.Certificate | None]]
]
_LOADED = weakref.WeakKeyDictionary()
_RECHECK = frozenset({"inserted", "attachment", "active", "key_store_password", "type"})


def install(store: SandboxStore) -> None:
    """Register the rules on a store."""
    store.validators.extend((_unique_certificate_name, _protocol_rules))
    store.after_write.append(_after_write)


def _unique_certificate_name(
    store: SandboxStore, table: str, row: dict[str, str], old: dict[str, str] | None
) -> None:
    if table != _CERTS or not row["name"] or (old is not None and old["name"] == row["name"]):
        return
    for other in store.indexes.find(_CERTS, "name", row["name"]):
        if other["sys_id"] != row["sys_id"]:
            verb = "insert" if old is None else "update"
            raise Refusal(
                403, "Operation Failed", f"Error during {verb} of {_CERTS} ({row['name']})"
            )


def _protocol_problem(store: SandboxStore, row: dict[str, str]) -> str | None:
    protocol = row["protocol"]
    if protocol != protocol.lower():
        return "the protocol name must not contain upper case letters"
    if not re.fullmatch(r"[a-z0-9]+", protocol):
        return "the protocol name must not be empty or contain special characters"
    if protocol in ("http", "https"):
        return f"'{protocol}' is an existing protocol name"
    for other in store.indexes.find("sys_protocol_profile", "protocol", protocol):
        if other["sys_id"] != row["sys_id"]:
            return f"a protocol profile named '{protocol}' already exists"
    return None


def _protocol_rules(
    store: SandboxStore, table: str, row: dict[str, str], old: dict[str, str] | None
) -> None:
    if table != "sys_protocol_profile" or not store.facts.enforce_protocol_rules:
        return
    if old is not None and old["protocol"] == row["protocol"]:
        return
    problem = _protocol_problem(store, row)
    if problem:
        verb = "insert" if old is None else "update"
        detail = f"Error during {verb} of sys_protocol_profile ({row['protocol']}): {problem}"
        raise Refusal(403, "Operation Failed", detail)


def _newest_attachment(store: SandboxStore, sys_id: str) -> bytes | None:
    found = store.select("sys_attachment", f"table_name={_CERTS}^table_sys_id={sys_id}")
    return store.blobs.get(found[-1]["sys_id"], b"") if found else None


def keystore_error(
    store: SandboxStore, row: dict[str, str]
) -> tuple[str | None, x509.Certificate | None]:
    """Load a keystore record's newest attachment with its password, as the JVM would.

    With ``cache_loaded_keystores`` (PRB1878139, older releases) the first keystore that
    loaded for a record is kept, whatever later happens to its attachment or password.
    """
    facts = store.facts
    cache = _LOADED.setdefault(store, {})
    if facts.cache_loaded_keystores and row["sys_id"] in cache:
        return cache[row["sys_id"]]
    password = store.secret(_CERTS, row["sys_id"], "key_store_password")
    is_pkcs12 = facts.offer_pkcs12 and row["type"] == facts.pkcs12_type[0]
    data = _newest_attachment(store, row["sys_id"])
    loaded = load_keystore(data, password, pkcs12_type=is_pkcs12)
    if loaded[0] is None and loaded[1] is not None:
        cache[row["sys_id"]] = loaded
    return loaded


def broken_keystores(store: SandboxStore) -> list[str]:
    """sys_ids of active keystore records that the instance cannot load."""
    with store.lock:
        rows = [dict(r) for r in store.rows[_CERTS].values()]
        keystore_types = store.facts.keystore_types()
        return [
            r["sys_id"]
            for r in rows
            if r["type"] in keystore_types and r["active"] == "true" and keystore_error(store, r)[0]
        ]


def _after_write(
    store: SandboxStore, table: str, row: dict[str, str], changed: set[str], user: str
) -> None:
    if table == "sys_attachment" and row["table_name"] == _CERTS:
        current = store.rows[_CERTS].get(row["table_sys_id"])
        if current is not None:
            _refresh(store, current, {"attachment"})
    elif table == _CERTS and "deleted" not in changed:
        _refresh(store, row, changed)


def _refresh(store: SandboxStore, row: dict[str, str], changed: set[str]) -> None:
    facts, sys_id = store.facts, row["sys_id"]
    if row["pem_certificate"] and changed & {"inserted", "pem_certificate"}:
        store.set_stored(_CERTS, sys_id, pem_fields(row["pem_certificate"]))
    if row["type"] not in facts.keystore_types():
        if "attachment" in changed and not row["pem_certificate"]:
            data = _newest_attachment(store, sys_id)
            fields = der_fields(data) if data else None
            if fields:
                store.set_stored(_CERTS, sys_id, fields)
        return
    error, leaf = keystore_error(store, row)
    if leaf is not None and facts.derive_fields_from_keystore:
        store.set_stored(_CERTS, sys_id, certificate_fields(leaf))
    if error and row["active"] == "true" and changed & _RECHECK:
        message = f"Unable to load certificate : {row['name']} - {sys_id} {error}"
        values = {"level": facts.syslog_error_level, "source": "Certificate", "message": message}
        store.insert("syslog", values, "system")
