"""An ACME (RFC 8555) CA: step-ca, Vault's PKI, EJBCA, a commercial private CA, pebble.

``submit`` creates an order for the CSR's names and stores the order's URL at once (it
is the CA request id): a redelivered or restarted ``wait-for-ca`` finds it and goes on
with that order, never a second. Then the order is moved as far as it goes: each pending
authorization is answered through the profile's hook and waited for (up to
``validation_wait_s``), the order is finalized with our CSR (the key never leaves), and
waited for (up to ``issue_wait_s``, honouring Retry-After). An order that is still being
validated or processed is ``Pending``: the job pauses, and the poller's ``poll`` moves the
same order on from where it is. A ``valid`` order gives the certificate and its chain.

Revoking is ACME's ``revokeCert``, signed with the account key (the account that ordered
the certificate); a certificate the CA has revoked already counts as revoked. Whether the
CA revoked one behind our back is read from the certificate's CRL or OCSP responder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from acme import challenges, client, messages
from cryptography import x509

from workers.ca.acme_client import AcmeSession, acme_errors, retry_after
from workers.ca.acme_hooks import Challenge, Hook
from workers.ca.base import Issued, Pending, Revocation
from workers.errors import CaRejected, RequestInvalid
from workers.pki.revocation_status import published_status
from workers.store.acme import AcmeRecords

__all__ = ["AcmeCa"]

_PEM_END = b"-----END CERTIFICATE-----"
# Without a Retry-After, the order or authorization is asked again after 0.25 s, then
# twice as long each time, up to 4 s; a Retry-After over 30 s is longer than a run waits.
_FIRST_PAUSE, _MAX_PAUSE, _MAX_RETRY_AFTER = 0.25, 4.0, 30.0
_REASON_CODES = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
}


class AcmeCa:
    """Asynchronous and pollable: an order still being processed pauses the job."""

    synchronous = False
    pollable = True

    def __init__(
        self,
        session: AcmeSession,
        records: AcmeRecords,
        hook: Hook,
        *,
        challenge_type: str = "dns-01",
        extra_roots: tuple[bytes, ...] = (),
        validation_wait_s: float = 60,
        issue_wait_s: float = 10,
        after_finalize: Callable[[str], None] | None = None,
    ) -> None:
        self.name = session.name
        self._session = session
        self._records = records
        self._hook = hook
        self._type = challenge_type
        self._extra_roots = extra_roots
        self._validation_wait = validation_wait_s
        self._issue_wait = issue_wait_s
        self._after_finalize = after_finalize

    def __repr__(self) -> str:
        return f"AcmeCa({self.name!r}, {self._session.directory_url!r})"

    def submit(self, csr_pem: bytes, *, request_key: str) -> Issued | Pending:
        stored = self._records.order(self.name, request_key)
        acme = self._session.client()
        if stored is None:
            url = self._new_order(acme, csr_pem)
            stored = self._records.keep_order(self.name, request_key, url, csr_pem)
        return self._advance(acme, stored.url, stored.csr_pem)

    def revoke(self, certificate_pem: bytes, *, reason: str) -> Revocation:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
        acme = self._session.client()
        code = x509.ReasonFlags[reason]
        with acme_errors(self.name, "revoke a certificate", acme.net):  # type: ignore[arg-type]
            try:
                acme.revoke(certificate, _REASON_CODES[code])
            except messages.Error as exc:
                if exc.code != "alreadyRevoked":
                    raise
        return Revocation("revoked", {"serial": format(certificate.serial_number, "x")})

    def revoked(self, certificate_pem: bytes, chain_pem: bytes = b"") -> bool | None:
        chain = chain_pem or b"".join(self._extra_roots)
        return published_status(certificate_pem, chain) if chain else None

    def _new_order(self, acme: client.ClientV2, csr_pem: bytes) -> str:
        """An order for the CSR's DNS names (its SANs: ACME CAs compare the order with
        those, and the subject's CN is usually not a DNS name at all)."""
        names = dns_names(csr_pem)
        if not names:
            raise RequestInvalid(
                f"the ACME CA '{self.name}' issues for DNS names and the job has none",
                hint="give the job dns_sans (the names the CA will validate)",
            )
        ids = [messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=n) for n in names]
        with acme_errors(self.name, "create an order", acme.net):  # type: ignore[arg-type]
            response = acme._post(acme.directory["newOrder"], messages.NewOrder(identifiers=ids))
        url = response.headers.get("Location")
        if not url:
            raise CaRejected(f"the ACME CA '{self.name}' made an order without a Location")
        return str(url)

    def poll(self, request_id: str) -> Issued | Pending:
        stored = self._records.order_at(self.name, request_id)
        if stored is None:
            raise CaRejected(
                f"no order {request_id} of the ACME CA '{self.name}' is stored",
                hint="replay stage 'wait-for-ca' to create an order",
                request_id=request_id,
            )
        return self._advance(self._session.client(), stored.url, stored.csr_pem)

    def _advance(self, acme: client.ClientV2, url: str, csr_pem: bytes) -> Issued | Pending:
        order = self._order(acme, url, csr_pem)
        if order.body.status == messages.STATUS_PENDING:
            if not self._authorize(acme, order):
                return Pending(request_id=url)
            order = self._order(acme, url, csr_pem)
        if order.body.status == messages.STATUS_READY:
            with acme_errors(self.name, "finalize the order", acme.net):  # type: ignore[arg-type]
                order = acme.begin_finalization(order)
            if self._after_finalize is not None:
                self._after_finalize(url)
        order = self._await_issue(acme, order)
        if order.body.status == messages.STATUS_VALID:
            return self._download(acme, order)
        if order.body.status == messages.STATUS_INVALID:
            raise CaRejected(
                f"the ACME CA '{self.name}' made the order invalid: {_problem(order.body.error)}",
                hint="fix the cause, then replay stage 'wait-for-ca' with --force (a new order)",
                request_id=url,
            )
        return Pending(request_id=url)

    def _order(self, acme: client.ClientV2, url: str, csr_pem: bytes) -> messages.OrderResource:
        with acme_errors(self.name, "read the order", acme.net):  # type: ignore[arg-type]
            body = messages.Order.from_json(acme._post_as_get(url).json())
        return messages.OrderResource(uri=url, body=body, csr_pem=csr_pem, authorizations=[])

    def _authorize(self, acme: client.ClientV2, order: messages.OrderResource) -> bool:
        """Answer every pending authorization; True when all are valid."""
        done = True
        for authz_url in order.body.authorizations:
            with acme_errors(self.name, "read an authorization", acme.net):  # type: ignore[arg-type]
                authz = acme._authzr_from_response(acme._post_as_get(authz_url), uri=authz_url)
            if authz.body.status == messages.STATUS_PENDING:
                authz = self._answer(acme, authz)
            if authz.body.status == messages.STATUS_INVALID:
                raise CaRejected(
                    f"the ACME CA '{self.name}' did not validate {_domain(authz)}:"
                    f" {_challenge_problem(authz)}",
                    hint=f"check the {self._type} hook; then replay stage 'wait-for-ca'"
                    " with --force (a new order)",
                    request_id=order.uri,
                )
            done = done and authz.body.status == messages.STATUS_VALID
        return done

    def _answer(
        self, acme: client.ClientV2, authz: messages.AuthorizationResource
    ) -> messages.AuthorizationResource:
        """Publish and answer a pending challenge; one an earlier run answered (the CA may
        keep it "pending" while it validates) is only waited for, its value still
        published. The hook cleans up once the CA has decided."""
        challb = self._challenge_of(authz)
        response, validation = challb.response_and_validation(acme.net.key)
        published = self._published(authz, challb, validation)
        if challb.status == messages.STATUS_PENDING and not self._records.answered(challb.uri):
            self._hook.present(published)
            try:
                with acme_errors(self.name, "answer the challenge", acme.net):  # type: ignore[arg-type]
                    acme.answer_challenge(challb, response)
            except BaseException:
                self._hook.cleanup(published)
                raise
            self._records.mark_answered(self.name, challb.uri)
        authz = self._await_validation(acme, authz)
        if authz.body.status != messages.STATUS_PENDING:
            self._hook.cleanup(published)
        return authz

    def _challenge_of(self, authz: messages.AuthorizationResource) -> messages.ChallengeBody:
        for challb in authz.body.challenges:
            if challb.chall.typ == self._type:
                return challb
        offered = sorted(str(c.chall.typ) for c in authz.body.challenges)
        raise CaRejected(
            f"the ACME CA '{self.name}' offers no {self._type} challenge for"
            f" {_domain(authz)} (it offers {offered})",
            hint="set the CA profile's challenge.type to one it offers",
        )

    def _published(
        self, authz: messages.AuthorizationResource, challb: messages.ChallengeBody, value: Any
    ) -> Challenge:
        domain = _domain(authz)
        chall = challb.chall
        if isinstance(chall, challenges.DNS01):
            name = chall.validation_domain_name(domain) + "."
            return Challenge(type=self._type, domain=domain, name=name, value=str(value))
        assert isinstance(chall, challenges.HTTP01)
        token = chall.encode("token")
        url = f"http://{domain}{chall.path}"
        return Challenge(type=self._type, domain=domain, name=url, value=str(value), token=token)

    def _await_validation(
        self, acme: client.ClientV2, authz: messages.AuthorizationResource
    ) -> messages.AuthorizationResource:
        deadline, pause = time.monotonic() + self._validation_wait, _FIRST_PAUSE
        while True:
            with acme_errors(self.name, "read an authorization", acme.net):  # type: ignore[arg-type]
                authz, response = acme.poll(authz)
            if authz.body.status != messages.STATUS_PENDING:
                return authz
            if not _sleep_until(deadline, response.headers.get("Retry-After"), pause):
                return authz
            pause = min(pause * 2, _MAX_PAUSE)

    def _await_issue(
        self, acme: client.ClientV2, order: messages.OrderResource
    ) -> messages.OrderResource:
        deadline, pause = time.monotonic() + self._issue_wait, _FIRST_PAUSE
        while order.body.status == messages.STATUS_PROCESSING:
            asked = str(acme.net.last_retry_after or "")  # type: ignore[attr-defined]
            if not _sleep_until(deadline, asked, pause):
                break
            pause = min(pause * 2, _MAX_PAUSE)
            order = self._order(acme, order.uri, order.csr_pem)
        return order

    def _download(self, acme: client.ClientV2, order: messages.OrderResource) -> Issued:
        with acme_errors(self.name, "download the certificate", acme.net):  # type: ignore[arg-type]
            pem = acme._post_as_get(order.body.certificate).content
        blocks = [b.strip() + b"\n" + _PEM_END for b in pem.split(_PEM_END) if b.strip()]
        if not blocks:
            raise CaRejected(
                f"the ACME CA '{self.name}' gave no certificate for the valid order",
                request_id=order.uri,
            )
        leaf, chain = blocks[0] + b"\n", b"\n".join(blocks[1:])
        roots = b"\n".join(r.strip() for r in self._extra_roots)
        return Issued(
            certificate_pem=leaf,
            chain_pem=b"\n".join(p for p in (chain, roots) if p) + b"\n",
            request_id=order.uri,
        )


def dns_names(csr_pem: bytes) -> list[str]:
    """The DNS names in a CSR's subjectAltName extension, in order."""
    csr = x509.load_pem_x509_csr(csr_pem)
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.DNSName))


def _sleep_until(deadline: float, retry_after_header: str | None, pause: float) -> bool:
    """Sleep as the CA asked (Retry-After, else ``pause``); False when that passes
    ``deadline`` (the caller then pauses the job instead)."""
    wait = min(retry_after(retry_after_header, default=pause), _MAX_RETRY_AFTER)
    if time.monotonic() + wait > deadline:
        return False
    time.sleep(wait)
    return True


def _domain(authz: messages.AuthorizationResource) -> str:
    return str(authz.body.identifier.value)


def _problem(error: Any) -> str:
    if not isinstance(error, messages.Error):
        return "no reason given"
    return f"{(error.typ or '').rsplit(':', 1)[-1]}: {error.detail}"


def _challenge_problem(authz: messages.AuthorizationResource) -> str:
    errors = [c.error for c in authz.body.challenges if c.error is not None]
    return "; ".join(_problem(e) for e in errors) or "no reason given"
