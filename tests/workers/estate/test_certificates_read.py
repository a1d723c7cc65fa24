"""Certificates read the way discovery must: a JKS's without its password, a PKCS12's
only when they are not encrypted ("unknown" otherwise), the instance's derived fields."""

from __future__ import annotations

from ops.dev.sandbox.estate_pki import HandCa
from workers.estate.certificates import from_attachment, from_derived


def test_jks_certificates_read_without_the_password() -> None:
    ca = HandCa("Example Public TLS RSA CA 2024", "Example Trust Services")
    leaf = ca.issue("billing.acme.example", server_auth=True, rsa_bits=3072, dns=("b.example",))
    data, _password = leaf.jks()  # the password stays here: discovery never has it
    facts = from_attachment(data, pkcs12_type=False)
    assert facts is not None and facts.source == "attachment"
    assert facts.subject == "CN=billing.acme.example"
    assert facts.issuer == "O=Example Trust Services,CN=Example Public TLS RSA CA 2024"
    assert (facts.key_type, facts.key_size) == ("rsa", 3072)
    assert facts.ekus == ["serverAuth", "clientAuth"] and facts.sans == ["b.example"]
    assert facts.is_ca is False and len(facts.chain_pems) == 1  # the CA rode along


def test_pkcs12_behind_its_password_is_unknown() -> None:
    data, _password = HandCa("Corp CA", "Acme").issue("vendor").pkcs12()
    assert from_attachment(data, pkcs12_type=True) is None
    assert from_attachment(b"not a keystore", pkcs12_type=False) is None


def test_derived_fields_leave_the_rest_unknown() -> None:
    row = {
        "subject": "CN=x",
        "issuer": "CN=y",
        "valid_from": "2026-01-01 00:00:00",
        "expires": "2027-01-01 00:00:00",
    }
    facts = from_derived(row)
    assert (facts.source, facts.subject, facts.key_type, facts.ekus) == (
        "derived",
        "CN=x",
        "unknown",
        None,
    )
    assert facts.not_after == "2027-01-01T00:00:00+00:00"
    assert from_derived({}).source == "none"
