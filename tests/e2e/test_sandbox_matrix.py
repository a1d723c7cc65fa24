"""The matrix on the sandbox instance: REST (three methods) and SOAP messages, the trust
certificate as PEM and as DER, every key type, and a chain with two intermediates.

In-process workers on the stub broker: the broker is not the point here. Each case has
its own third party, so each registers its own trust record in its own format; the
keystore each job attached is read back from the instance and listed by keytool.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from messages import JobState, KeyType
from ops.dev.stack import RunningStack, Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import wait_all
from workers import pki
from workers.ca import LocalCa
from workers.config import LocalCaProfile, load_config

DEEP = "deep"  # a CA profile whose chain has two intermediates


@dataclass(frozen=True)
class Case:
    key: KeyType
    target: str  # "rest" or "soap"
    trust: str  # "pem" or "der"
    ca: str
    key_line: str  # what keytool says of the leaf's key

    @property
    def name(self) -> str:
        return f"{self.key.value}-{self.target}-{self.trust}-{self.ca}"

    @property
    def intermediates(self) -> int:
        return 2 if self.ca == DEEP else 1


CASES = [
    Case(KeyType.RSA2048, "rest", "pem", "local", "2048-bit RSA key"),
    Case(KeyType.RSA3072, "soap", "der", "local", "3072-bit RSA key"),
    Case(KeyType.RSA4096, "rest", "der", DEEP, "4096-bit RSA key"),  # the one slow key
    Case(KeyType.EC256, "soap", "pem", DEEP, "256-bit EC (secp256r1) key"),
    Case(KeyType.EC384, "rest", "pem", DEEP, "384-bit EC (secp384r1) key"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    base = load_config()
    config = base.model_copy(
        update={"ca": {**base.ca, DEEP: LocalCaProfile(adapter="local", intermediates=2)}}
    )
    with Stack(StackOptions(broker="stub", config=config)) as running:
        yield running


def ca_of(stack: RunningStack, profile: str) -> LocalCa:
    ca = stack.app.deps.cas.get(profile)
    assert isinstance(ca, LocalCa)
    return ca


def submit(stack: RunningStack, case: Case, server: ThirdPartyServer) -> str:
    slug = case.name.replace("-", "")
    message = f"Matrix {case.name}"
    if case.target == "rest":
        stack.sandbox.add_rest_message(message, server.url, methods=("get", "post", "put"))
    else:
        stack.sandbox.add_soap_message(message, server.url)
    leaf = pki.parse_certificates(server.server_certificate_pem)[0]
    trust = (
        {"pem": server.server_certificate_pem.decode()}
        if case.trust == "pem"
        else {"der_b64": base64.b64encode(pki.cert_to_der(leaf)).decode()}
    )
    job, _ = stack.app.submit(
        stack.example_job(
            case.key,
            target={"kind": case.target, "name": message},
            subject={"cn": f"matrix-{slug}", "o": "twoway e2e", "c": "DE"},
            ca={"profile": case.ca},
            keystore={"record_name": f"twoway matrix {case.name}", "alias": "twoway"},
            server_certificate=trust,
            protocol_profile={"name": f"mauth{slug}", "port": server.port},
        )
    )
    return job.id


def keytool_list(tmp_path: Path, keystore: bytes, password: str) -> str:
    path = tmp_path / "attached.jks"
    path.write_bytes(keystore)
    command = ["keytool", "-list", "-v", "-keystore", str(path), "-storepass", password]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_matrix(stack: RunningStack, case: Case, tmp_path: Path) -> None:
    server = ThirdPartyServer([ca_of(stack, case.ca).root_pem]).start()
    try:
        job_id = submit(stack, case, server)
        states = wait_all(stack, [job_id], timeout=120)
        assert states[job_id] is JobState.SUCCEEDED, stack.app.store.get_job(job_id).error
        assert server.requests_served == 2  # the proof before the switch, then verify's
        assert server.last_client_subjects[-1].startswith("CN=matrix-")
        keystore_id = check_keystore(stack, case, job_id, tmp_path)
        check_trust(stack, case, server)
        check_target(stack, case, keystore_id)
    finally:
        server.stop()


def check_keystore(stack: RunningStack, case: Case, job_id: str, tmp_path: Path) -> str:
    """One active Java Key Store record; its one attachment is the keystore built, with
    the key of the case and the whole chain (leaf, intermediates, root)."""
    dump = stack.sandbox.dump()
    [record] = [r for r in dump["sys_certificate"] if r["name"] == f"twoway matrix {case.name}"]
    assert (record["type"], record["active"]) == ("key_store", "true")
    assert record["subject"].startswith("CN=matrix-")  # derived from the attached keystore
    [attachment] = [a for a in dump["sys_attachment"] if a["table_sys_id"] == record["sys_id"]]
    built = stack.app.store.artifacts.get(job_id, "keystore")
    password = stack.app.store.artifacts.get(job_id, "keystore_password")
    assert built is not None and password is not None
    attached = stack.app.deps.instances.client("sandbox").download_attachment(attachment["sys_id"])
    assert attached == built and attachment["hash"] == hashlib.sha256(built).hexdigest()
    listing = keytool_list(tmp_path, attached, password.decode())
    assert listing.count("Entry type: PrivateKeyEntry") == 1
    assert f"Certificate chain length: {case.intermediates + 2}" in listing
    leaf_key = next(line for line in listing.splitlines() if "Public Key Algorithm" in line)
    assert leaf_key.endswith(case.key_line)
    contents = pki.open_jks(attached, password.decode(), "twoway")
    root = ca_of(stack, case.ca).root_pem
    assert pki.cert_to_pem(contents.chain[-1]) == root
    return record["sys_id"]


def check_trust(stack: RunningStack, case: Case, server: ThirdPartyServer) -> None:
    """The server certificate as a Trust Store Cert record: pasted PEM, or DER attached."""
    dump = stack.sandbox.dump()
    leaf = pki.parse_certificates(server.server_certificate_pem)[0]
    der = pki.cert_to_der(leaf)
    description = f"twoway trust sha256:{hashlib.sha256(der).hexdigest()}"
    [record] = [r for r in dump["sys_certificate"] if r["short_description"] == description]
    assert (record["type"], record["active"], record["format"]) == (
        "trust_store",
        "true",
        case.trust,
    )
    attachments = [a for a in dump["sys_attachment"] if a["table_sys_id"] == record["sys_id"]]
    if case.trust == "pem":
        assert record["pem_certificate"].strip() == server.server_certificate_pem.decode().strip()
        assert attachments == []
    else:
        assert record["pem_certificate"] == ""
        assert [a["hash"] for a in attachments] == [hashlib.sha256(der).hexdigest()]
    assert record["subject"] == "CN=localhost"  # derived from the PEM or the DER alike


def check_target(stack: RunningStack, case: Case, keystore_id: str) -> None:
    """The profile points at the keystore; the message (and each method) uses it."""
    dump = stack.sandbox.dump()
    slug = case.name.replace("-", "")
    [profile] = [p for p in dump["sys_protocol_profile"] if p["protocol"] == f"mauth{slug}"]
    assert profile["keystore"] == keystore_id
    name = f"Matrix {case.name}"
    if case.target == "rest":
        [message] = [m for m in dump["sys_rest_message"] if m["name"] == name]
        methods = [m for m in dump["sys_rest_message_fn"] if m["rest_message"] == message["sys_id"]]
        assert sorted(m["http_method"] for m in methods) == ["get", "post", "put"]
        for row in [message, *methods]:
            assert (row["use_mutual_auth"], row["protocol_name"]) == ("true", profile["sys_id"])
    else:
        [message] = [m for m in dump["sys_soap_message"] if m["name"] == name]
        functions = [
            f for f in dump["sys_soap_message_function"] if f["soap_message"] == message["sys_id"]
        ]
        assert functions  # each carries its own columns (servicenow-api.md 4.4)
        for row in [message, *functions]:
            columns = (row["enable_mutual_auth"], row["protocol_profile"])
            assert columns == ("true", profile["sys_id"])
