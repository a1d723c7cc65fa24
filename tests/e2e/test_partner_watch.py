"""The scheduler tells people about the third party's server certificate: it expires soon
(registered as given), or the endpoint a job fetched it from presents another now."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from messages import JobState
from ops.dev.stack import Stack, StackOptions
from ops.dev.thirdparty import ThirdPartyServer
from tests.e2e.conftest import add_partners, job_for, local_ca, wait_all
from tests.e2e.test_pinned_fetch import pin_of
from workers.config import load_config
from workers.levers.scheduler import RenewalScheduler


@pytest.fixture
def stack() -> Iterator[Stack]:
    config = load_config()
    notify = config.notify.model_copy(update={"partner_expiring_days": 366})
    # every round watches (by default a round does every [revocation] check_every_s)
    revocation = config.revocation.model_copy(update={"check_every_s": 0})
    changes = {"notify": notify, "revocation": revocation}
    with Stack(StackOptions(broker="stub", config=config.model_copy(update=changes))) as s:
        yield s


def test_expiring_and_changed_partner_certificates_are_noted_once(stack: Stack) -> None:
    [partner] = add_partners(stack, 1)
    job = job_for(stack, partner)
    job["server_certificate"] = {
        "fetch": {"host": "localhost", "port": partner.server.port, "sha256": pin_of(partner)}
    }
    submitted, _ = stack.app.submit(job)
    assert wait_all(stack, [submitted.id])[submitted.id] is JobState.SUCCEEDED
    scheduler = RenewalScheduler(stack.app)
    scheduler.run_once()  # the server certificate (365 days) ends within 366 days
    kinds = [e.kind for e in stack.app.store.history(submitted.id)]
    assert kinds.count("partner_certificate_expiring") == 1
    assert "partner_certificate_changed" not in kinds  # same certificate as pinned
    # The third party replaces its server certificate on the same endpoint.
    port = partner.server.port
    partner.server.stop()
    replacement = ThirdPartyServer([local_ca(stack).root_pem], port=port).start()
    try:
        scheduler.run_once()
        scheduler.run_once()
    finally:
        replacement.stop()
    history = stack.app.store.history(submitted.id)
    changed = [e for e in history if e.kind == "partner_certificate_changed"]
    new_pin = hashlib.sha256(replacement_der(replacement)).hexdigest()
    print("changed:", changed[0].detail if changed else None)
    assert len(changed) == 1 and changed[0].detail["sha256"] == new_pin
    assert [e.kind for e in history].count("partner_certificate_expiring") == 1


def replacement_der(server: ThirdPartyServer) -> bytes:
    return x509.load_pem_x509_certificate(server.server_certificate_pem).public_bytes(Encoding.DER)
