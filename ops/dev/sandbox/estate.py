"""The estate a real instance has: mutual TLS set up by hand over the years.

``SandboxServer(estate=EstateEndpoints(...))`` (``twoway sandbox --estate``, ``twoway up
--estate``) adds, next to the demo messages:

- "Billing API" (REST) on profile ``mauthbilling``, keystore from a "public" CA whose
  certificate carries serverAuth and clientAuth (RSA 2048);
- "Shipping API" (REST) on ``mauthshipping``, public CA too, RSA 4096, expiring in 12 days,
  against the partner that rotates its server certificate;
- "Ledger SOAP" on ``mauthledger``, keystore from the corporate CA, expired;
- "HR API" on ``mauthhr``, whose keystore record is inactive;
- "Reports API" on ``mauthreports``, whose keystore record is gone;
- "Vendor API" on ``mauthvendor``, a PKCS12 Key Store record (when the instance's type
  choices have one);
- "Payroll API" (REST) on ``mauthpayroll`` only through its endpoint's scheme
  (``mauthpayroll://<the payments partner's host:port>/payroll``, "Use mutual
  authentication" not ticked), keystore from the corporate CA;
- an unused keystore record, an orphaned Trust Store Cert, the payments partner's CA as a
  Trust Store Cert, the rotating partner's (then current) leaf pinned as a Trust Store
  Cert, and a legacy ``glide.httpclient.protocol.mauthbilling.class`` property.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from ops.dev.sandbox.estate_pki import HandCa, Leaf
from ops.dev.sandbox.live import add_keystore_record
from ops.dev.sandbox.seed import SYSTEM_USER, add_rest_message, set_property
from ops.dev.sandbox.store import SandboxStore

__all__ = ["Estate", "EstateEndpoints", "add_estate", "add_public_ca_integrations"]

LEGACY_PROPERTY = "glide.httpclient.protocol.mauthbilling.class"


@dataclass(frozen=True)
class EstateEndpoints:
    """Where the estate's messages point, and what the partners present."""

    main: str = "https://payments.partner.example/api"
    partner: str = "https://shipping.partner.example/api"
    main_ca_pem: str | None = None  # the payments partner's CA (a good trust record)
    partner_leaf_pem: str | None = None  # the rotating partner's leaf, pinned by hand


@dataclass
class Estate:
    """What was made: record names to sys_ids, and the CAs behind the keystores."""

    public_ca_pem: bytes
    corporate_ca_pem: bytes
    messages: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)


def _profile(store: SandboxStore, estate: Estate, protocol: str, keystore: str, port: str) -> str:
    row = {"protocol": protocol, "default_port": port, "keystore": keystore}
    sys_id: str = store.insert("sys_protocol_profile", row, SYSTEM_USER)["sys_id"]
    estate.profiles[protocol] = sys_id
    return sys_id


def _rest(store: SandboxStore, estate: Estate, name: str, endpoint: str, profile: str) -> None:
    message = add_rest_message(store, name, endpoint, ("get", "post"))
    on = {"use_mutual_auth": "true", "protocol_name": profile}
    store.update("sys_rest_message", message, on, SYSTEM_USER)
    for method in store.find("sys_rest_message_fn", "rest_message", message):
        store.update("sys_rest_message_fn", method["sys_id"], on, SYSTEM_USER)
    estate.messages[name] = message


def _rest_by_scheme(store: SandboxStore, estate: Estate, name: str, endpoint: str) -> None:
    """A message that reaches its profile only through its endpoint's scheme."""
    estate.messages[name] = add_rest_message(store, name, endpoint, ("get", "post"))


def _keystore(
    store: SandboxStore,
    estate: Estate,
    name: str,
    leaf: Leaf,
    *,
    active: bool = True,
    p12: bool = False,
) -> str:
    facts = store.facts
    if p12 and facts.offer_pkcs12:
        data, password = leaf.pkcs12()
        sys_id = add_keystore_record(
            store, name, data, password, file_name="client.p12", kind=facts.pkcs12_type[0]
        )
    else:
        data, password = leaf.jks()
        sys_id = add_keystore_record(store, name, data, password, active=active)
    estate.certificates[name] = sys_id
    return sys_id


def _trust(store: SandboxStore, estate: Estate, name: str, pem: str) -> None:
    facts = store.facts
    row = {
        "name": name,
        "type": facts.trust_store_type[0],
        "format": facts.pem_format[0],
        "pem_certificate": pem,
        "active": "true",
    }
    estate.certificates[name] = store.insert("sys_certificate", row, SYSTEM_USER)["sys_id"]


def _port(endpoint: str) -> str:
    tail = _netloc(endpoint)
    return tail.rsplit(":", 1)[1] if ":" in tail else "443"


def _netloc(endpoint: str) -> str:
    return endpoint.split("://", 1)[-1].split("/", 1)[0]


def _soap_on_mutual_auth(store: SandboxStore, estate: Estate, profile: str) -> None:
    facts = store.facts
    found = store.find("sys_soap_message", "name", "Ledger SOAP")
    if not found:
        return
    on = {facts.soap_mutual_auth_column: "true", facts.soap_profile_column: profile}
    store.update("sys_soap_message", found[0]["sys_id"], on, SYSTEM_USER)
    estate.messages["Ledger SOAP"] = found[0]["sys_id"]


def add_estate(store: SandboxStore, where: EstateEndpoints | None = None) -> Estate:
    """Add the hand-made estate (see the module doc) to a seeded store."""
    where = where or EstateEndpoints()
    public = HandCa("Example Public TLS RSA CA 2024", "Example Trust Services")
    corporate = HandCa("Acme Corp Issuing CA", "Acme")
    estate = Estate(public.pem, corporate.pem)
    port, partner_port = _port(where.main), _port(where.partner)
    billing = public.issue(
        "billing.acme.example", server_auth=True, dns=("billing.acme.example",), days=(-165, 200)
    )
    keystore = _keystore(store, estate, "billing client (public CA)", billing)
    _rest(
        store,
        estate,
        "Billing API",
        where.main,
        _profile(store, estate, "mauthbilling", keystore, port),
    )
    shipping = public.issue(
        "shipping.acme.example",
        server_auth=True,
        rsa_bits=4096,
        dns=("shipping.acme.example",),
        days=(-353, 12),
    )
    keystore = _keystore(store, estate, "shipping client (public CA)", shipping)
    profile = _profile(store, estate, "mauthshipping", keystore, partner_port)
    _rest(store, estate, "Shipping API", where.partner, profile)
    ledger = corporate.issue("ledger-client", days=(-400, -5))
    keystore = _keystore(store, estate, "ledger client", ledger)
    _soap_on_mutual_auth(store, estate, _profile(store, estate, "mauthledger", keystore, port))
    hr = corporate.issue("hr-client", rsa_bits=None, days=(-10, 355))
    keystore = _keystore(store, estate, "hr client", hr, active=False)
    _rest(store, estate, "HR API", where.main, _profile(store, estate, "mauthhr", keystore, port))
    gone = uuid.uuid4().hex  # a keystore record deleted long ago
    _rest(
        store,
        estate,
        "Reports API",
        where.main,
        _profile(store, estate, "mauthreports", gone, port),
    )
    vendor = corporate.issue("vendor-client", days=(-30, 300))
    keystore = _keystore(store, estate, "vendor client (PKCS12)", vendor, p12=True)
    _rest(
        store,
        estate,
        "Vendor API",
        where.partner,
        _profile(store, estate, "mauthvendor", keystore, partner_port),
    )
    payroll = corporate.issue("payroll-client", days=(-60, 305))
    keystore = _keystore(store, estate, "payroll client", payroll)
    _profile(store, estate, "mauthpayroll", keystore, port)
    _rest_by_scheme(store, estate, "Payroll API", f"mauthpayroll://{_netloc(where.main)}/payroll")
    _keystore(store, estate, "unused keystore 2023", corporate.issue("old-client", days=(-700, 30)))
    main_ca = where.main_ca_pem or HandCa("Payments Partner CA", "Payments Partner").pem.decode()
    _trust(store, estate, "payments partner CA", main_ca)
    partner_leaf = where.partner_leaf_pem or (
        HandCa("Shipping Partner CA", "Shipping Partner")
        .issue("shipping.partner.example", server_auth=True, client_auth=False)
        .pem
    )
    _trust(store, estate, "shipping partner server", partner_leaf)
    _trust(
        store, estate, "old partner root 2015", HandCa("Old Partner Root", "Gone Ltd").pem.decode()
    )
    set_property(store, LEGACY_PROPERTY, "com.glide.certificates.DBKeyStoreSocketFactory")
    return estate


def add_public_ca_integrations(store: SandboxStore, endpoint: str, count: int) -> Estate:
    """``count`` more hand-made REST integrations ("Public API <n>" on ``mauthpublic<n>``),
    each on its own keystore from a "public" CA (serverAuth and clientAuth): what a bulk
    migration moves."""
    public = HandCa("Example Public TLS RSA CA 2024", "Example Trust Services")
    estate = Estate(public.pem, b"")
    port = _port(endpoint)
    for index in range(count):
        host = f"public{index}.acme.example"
        leaf = public.issue(host, server_auth=True, dns=(host,), days=(-100, 265))
        keystore = _keystore(store, estate, f"public client {index}", leaf)
        profile = _profile(store, estate, f"mauthpublic{index}", keystore, port)
        _rest(store, estate, f"Public API {index}", endpoint, profile)
    return estate
