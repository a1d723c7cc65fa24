"""sys_certificate rules: unique names, write-only passwords, derived fields, and the
KB1217702 keystore load check (servicenow-api.md 1, 6.2, 6.7)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ops.dev.sandbox import SandboxFacts, SandboxServer

from .conftest import Api, Material

PASSWORD = "correct-horse-battery"
TAMPERED = "java.io.IOException: Keystore was tampered with, or password was incorrect"


def keystore_record(api: Api, name: str = "client", **values: object) -> str:
    body: dict[str, object] = {
        "name": name,
        "type": "key_store",
        "active": "false",
        "key_store_password": PASSWORD,
    }
    body.update(values)
    return str(api.insert("sys_certificate", body)["sys_id"])


def activate(api: Api, sys_id: str, **values: object) -> dict[str, str]:
    response = api.patch(
        f"/api/now/table/sys_certificate/{sys_id}", json={"active": True, **values}
    )
    assert response.status_code == 200, response.text
    result: dict[str, str] = response.json()["result"]
    return result


def syslog(srv: SandboxServer) -> list[dict[str, str]]:
    return srv.dump()["syslog"]


def test_duplicate_name_is_refused_with_403(api: Api) -> None:
    api.insert("sys_certificate", {"name": "dup"})
    response = api.post("/api/now/table/sys_certificate", json={"name": "dup"})
    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "message": "Operation Failed",
            "detail": "Error during insert of sys_certificate (dup)",
        },
        "status": "failure",
    }
    other = api.insert("sys_certificate", {"name": "other"})["sys_id"]
    renamed = api.patch(f"/api/now/table/sys_certificate/{other}", json={"name": "dup"})
    assert renamed.status_code == 403


def test_password_is_write_only(api: Api, srv: SandboxServer) -> None:
    sys_id = keystore_record(api)
    row = api.get(f"/api/now/table/sys_certificate/{sys_id}").json()["result"]
    assert row["key_store_password"] not in ("", PASSWORD)
    assert PASSWORD not in str(srv.dump())
    shown = api.get(
        f"/api/now/table/sys_certificate/{sys_id}", params={"sysparm_display_value": "all"}
    ).json()["result"]
    assert PASSWORD not in str(shown)
    # Writing back the opaque value read is not a change.
    again = api.patch(
        f"/api/now/table/sys_certificate/{sys_id}",
        json={"key_store_password": row["key_store_password"]},
    ).json()["result"]
    assert again["sys_mod_count"] == "0"
    assert srv.store.secret("sys_certificate", sys_id, "key_store_password") == PASSWORD


def test_pem_fills_derived_fields(api: Api, material: Material) -> None:
    row = api.insert(
        "sys_certificate",
        {
            "name": "server",
            "type": "trust_store",
            "format": "pem",
            "pem_certificate": material.cert_pem,
        },
    )
    cert = material.cert
    assert row["valid_from"] == cert.not_valid_before_utc.strftime("%Y-%m-%d %H:%M:%S")
    assert row["expires"] == cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M:%S")
    assert row["expires_in_days"] in ("89", "90")
    assert row["subject"] == "CN=client.twoway.test, O=Twoway Test"
    assert row["issuer"] == row["subject"]
    # Derived fields are the platform's: writes to them are ignored.
    path = f"/api/now/table/sys_certificate/{row['sys_id']}"
    assert (
        api.patch(path, json={"expires": "2000-01-01 00:00:00"}).json()["result"]["expires"]
        == row["expires"]
    )


def test_attached_der_fills_derived_fields_of_a_trust_store_cert(
    api: Api, material: Material
) -> None:
    sys_id = api.insert("sys_certificate", {"name": "der", "type": "trust_store", "format": "der"})[
        "sys_id"
    ]
    assert api.attach("sys_certificate", sys_id, "server.der", material.cert_der).status_code == 201
    row = api.get(f"/api/now/table/sys_certificate/{sys_id}").json()["result"]
    assert row["subject"] == "CN=client.twoway.test, O=Twoway Test"


def test_runbook_order_leaves_no_error(api: Api, srv: SandboxServer, material: Material) -> None:
    sys_id = keystore_record(api)
    assert (
        api.attach("sys_certificate", sys_id, "client.jks", material.jks(PASSWORD)).status_code
        == 201
    )
    row = activate(api, sys_id)
    assert row["active"] == "true"
    assert syslog(srv) == []
    assert srv.broken_keystores() == []
    assert row["subject"] == "CN=client.twoway.test, O=Twoway Test"  # from the key entry


def test_wrong_password_is_saved_but_logged(
    api: Api, srv: SandboxServer, material: Material
) -> None:
    sys_id = keystore_record(api, key_store_password="wrong")
    api.attach("sys_certificate", sys_id, "client.jks", material.jks(PASSWORD))
    assert syslog(srv) == []  # inactive: nothing loads it yet
    assert activate(api, sys_id)["active"] == "true"  # the platform does not refuse it
    [entry] = syslog(srv)
    assert entry["level"] == "error"
    assert entry["source"] == "Certificate"
    assert entry["message"] == f"Unable to load certificate : client - {sys_id} {TAMPERED}"
    assert "wrong" not in str(srv.dump())
    assert srv.broken_keystores() == [sys_id]
    # Setting the right password repairs it.
    api.patch(f"/api/now/table/sys_certificate/{sys_id}", json={"key_store_password": PASSWORD})
    assert srv.broken_keystores() == []
    assert len(syslog(srv)) == 1


def test_key_password_must_equal_store_password(
    api: Api, srv: SandboxServer, material: Material
) -> None:
    sys_id = keystore_record(api)
    api.attach(
        "sys_certificate", sys_id, "client.jks", material.jks(PASSWORD, key_password="other")
    )
    activate(api, sys_id)
    assert srv.broken_keystores() == [sys_id]
    assert "UnrecoverableKeyException" in syslog(srv)[0]["message"]


def test_active_keystore_without_attachment_or_with_garbage(api: Api, srv: SandboxServer) -> None:
    # sys_certificate.active defaults to true: a record created without it is active at once.
    bare = api.insert(
        "sys_certificate", {"name": "bare", "type": "key_store", "key_store_password": "x"}
    )
    assert bare["active"] == "true"
    assert "no keystore attached" in syslog(srv)[0]["message"]
    api.attach("sys_certificate", bare["sys_id"], "client.jks", b"not a keystore")
    assert "Invalid keystore format" in syslog(srv)[1]["message"]
    assert srv.broken_keystores() == [bare["sys_id"]]
    # Deactivating takes it out of the set that other features load.
    activate(api, bare["sys_id"], active=False)
    assert srv.broken_keystores() == []


def test_a_keystore_with_no_private_key_is_broken(
    api: Api, srv: SandboxServer, material: Material
) -> None:
    import jks

    trusted = jks.TrustedCertEntry.new("ca", material.cert_der)
    data = jks.KeyStore.new("jks", [trusted]).saves(PASSWORD)
    sys_id = keystore_record(api)
    api.attach("sys_certificate", sys_id, "ca.jks", data)
    activate(api, sys_id)
    assert "no private key entry" in syslog(srv)[0]["message"]


def test_newest_attachment_is_the_one_loaded(
    api: Api, srv: SandboxServer, material: Material
) -> None:
    sys_id = keystore_record(api)
    api.attach("sys_certificate", sys_id, "old.jks", material.jks("old-password"))
    api.attach("sys_certificate", sys_id, "client.jks", material.jks(PASSWORD))
    activate(api, sys_id)
    assert srv.broken_keystores() == []


def test_pkcs12_keystore_record(api: Api, srv: SandboxServer, material: Material) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"client",
        material.key,
        material.cert,
        None,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    good = keystore_record(api, "p12", type="pkcs12_key_store")
    api.attach("sys_certificate", good, "client.p12", data)
    bad = keystore_record(api, "p12-bad", type="pkcs12_key_store", key_store_password="nope")
    api.attach("sys_certificate", bad, "client.p12", data)
    activate(api, good)
    activate(api, bad)
    assert srv.broken_keystores() == [bad]


def test_keystore_type_follows_the_facts(material: Material) -> None:
    facts = SandboxFacts(keystore_type=("jks_store", "Java Key Store"))
    with SandboxServer(facts) as srv:
        api = Api(srv, srv.username, srv.password)
        sys_id = keystore_record(api, type="jks_store", key_store_password="wrong")
        api.attach("sys_certificate", sys_id, "client.jks", material.jks(PASSWORD))
        activate(api, sys_id)
        assert srv.broken_keystores() == [sys_id]
