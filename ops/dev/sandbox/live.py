"""A REST message that is already live on mutual auth: its own protocol profile and an
active Java Key Store record (keystore attached, password set), as an earlier setup by
hand (or by another tool) leaves it. Plan, doctor and admission are shown against it.

    srv = SandboxServer(live_payments=True)   # "Payments API" on profile mauthpayments
    live = srv.add_live_rest_message("Billing API", endpoint, protocol="mauthbilling")
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ops.dev.sandbox.seed import SYSTEM_USER, add_rest_message
from ops.dev.sandbox.store import SandboxStore

__all__ = ["LiveMessage", "add_keystore_record", "add_live_rest_message", "self_signed_keystore"]


@dataclass(frozen=True)
class LiveMessage:
    """What the live message uses: sys_ids of the message, its profile and keystore."""

    message_sys_id: str
    profile_sys_id: str
    keystore_sys_id: str
    protocol: str
    keystore_name: str


def self_signed_keystore(common_name: str, alias: str = "client") -> tuple[bytes, str]:
    """A JKS holding a key pair with a self-signed certificate, and its password."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    password = secrets.token_urlsafe(12)
    entry = jks.PrivateKeyEntry.new(alias, [cert.public_bytes(serialization.Encoding.DER)], pkcs8)
    data: bytes = jks.KeyStore.new("jks", [entry]).saves(password)
    return data, password


def add_live_rest_message(
    store: SandboxStore,
    name: str,
    endpoint: str,
    *,
    protocol: str,
    keystore_name: str | None = None,
    keystore: tuple[bytes, str] | None = None,
    methods: Iterable[str] = ("get", "post", "delete"),
) -> LiveMessage:
    """The message (created, or the existing one of that name) and every method on mutual
    auth with a new profile ``protocol`` whose keystore is an active JKS record."""
    found = store.find("sys_rest_message", "name", name)
    message = found[0]["sys_id"] if found else add_rest_message(store, name, endpoint, methods)
    record_name = keystore_name or f"{name} keystore"
    data, password = keystore or self_signed_keystore(f"{name} client")
    certificate = add_keystore_record(store, record_name, data, password)
    profile = store.insert(
        "sys_protocol_profile",
        {"protocol": protocol, "default_port": "443", "keystore": certificate},
        SYSTEM_USER,
    )["sys_id"]
    on = {"use_mutual_auth": "true", "protocol_name": profile}
    store.update("sys_rest_message", message, on, SYSTEM_USER)
    for method in store.find("sys_rest_message_fn", "rest_message", message):
        store.update("sys_rest_message_fn", method["sys_id"], on, SYSTEM_USER)
    return LiveMessage(message, profile, certificate, protocol, record_name)


def add_keystore_record(
    store: SandboxStore,
    name: str,
    data: bytes,
    password: str,
    *,
    active: bool = True,
    file_name: str = "client.jks",
    kind: str | None = None,
    description: str = "set up by hand before twoway",
) -> str:
    """A keystore record made as the runbook says: inactive, keystore attached and password
    set, then activated (unless ``active`` is false). ``kind``: the stored type value
    (default the Java Key Store choice)."""
    facts = store.facts
    values = {
        "name": name,
        "type": kind or facts.keystore_type[0],
        "active": "false",
        "short_description": description,
        "key_store_password": password,
    }
    sys_id = store.insert("sys_certificate", values, SYSTEM_USER)["sys_id"]
    attachment = uuid.uuid4().hex
    with store.lock:
        store.blobs[attachment] = data
        store.insert(
            "sys_attachment",
            {
                "sys_id": attachment,
                "file_name": file_name,
                "content_type": "application/octet-stream",
                "size_bytes": str(len(data)),
                "size_compressed": str(len(gzip.compress(data))),
                "compressed": "true",
                "table_name": "sys_certificate",
                "table_sys_id": sys_id,
                "hash": hashlib.sha256(data).hexdigest(),
                "state": "available",
            },
            SYSTEM_USER,
        )
    if active:
        store.update("sys_certificate", sys_id, {"active": "true"}, SYSTEM_USER)
    return sys_id
