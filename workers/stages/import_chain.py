"""Runbook step 4: check the signed certificate and import root, intermediates and it.

The checks (key, chain, validity, clientAuth, subject) run before anything is built. The
keystore holds one PrivateKeyEntry under the job's alias with the full chain, the CA
certificates as trusted entries, and the third party's server certificate; the key
password is the store password, which is random and sealed. The client certificate is
exported as PEM and DER for the third party (runbook step C).
"""

from __future__ import annotations

from messages import CertificateIssued, ChainImported, Stage
from workers import pki
from workers.errors import CertificateRejected, PermanentError
from workers.machinery.context import StageContext, sha256_hex

__all__ = ["import_chain", "server_certificate_der"]


def server_certificate_der(ctx: StageContext) -> bytes:
    """The third party's certificate: as given, or fetched once and checked by its pin."""
    given = ctx.request.server_certificate
    if given.der_b64 is not None:
        return given.der_bytes()
    if given.pem is not None:
        return pki.cert_to_der(pki.parse_certificates(given.pem, what="server_certificate")[0])
    assert given.fetch is not None
    stored = ctx.artifact("server_certificate")
    if stored is not None:
        return stored
    fetch = given.fetch
    der = pki.fetch_server_certificate(fetch.host, fetch.port)
    if sha256_hex(der) != fetch.sha256:
        raise CertificateRejected(
            f"{fetch.host}:{fetch.port} presents a certificate with SHA-256 {sha256_hex(der)},"
            f" not the pinned {fetch.sha256}",
            hint="confirm the fingerprint with the third party; resubmit with the right pin",
        )
    return ctx.produce("server_certificate", der)


def import_chain(msg: CertificateIssued, ctx: StageContext) -> ChainImported:
    certificate = ctx.require("certificate", made_by=Stage.WAIT_FOR_CA)
    if sha256_hex(certificate) != msg.certificate_sha256:
        raise PermanentError(
            "the stored certificate is not the one the CA stage announced",
            hint="replay stage 'wait-for-ca'",
        )
    request = ctx.request
    chain = pki.check_issued(
        certificate_pem=certificate,
        chain_pem=ctx.require("issued_chain", made_by=Stage.WAIT_FOR_CA),
        csr_pem=ctx.require("csr", made_by=Stage.CSR),
        subject=request.subject,
        dns_sans=request.dns_sans,
        min_remaining=ctx.min_remaining(),
        subject_keep=ctx.ca_profile().subject_parts(),
    )
    keystore = _keystore_for(ctx, msg.certificate_sha256, chain)
    ctx.produce("client_cert_pem", chain.leaf_pem)
    ctx.produce("client_cert_der", chain.leaf_der)
    ctx.produce("ca_chain_pem", chain.ca_chain_pem)
    return ChainImported(
        job_id=msg.job_id,
        certificate_sha256=msg.certificate_sha256,
        keystore_sha256=sha256_hex(keystore),
    )


def _keystore_for(ctx: StageContext, certificate_sha256: str, chain: pki.IssuedChain) -> bytes:
    built_for = ctx.artifact("keystore_certificate")
    existing = ctx.artifact("keystore")
    if existing is not None and built_for == certificate_sha256.encode():
        return existing
    password = ctx.produce("keystore_password", pki.new_keystore_password().encode(), secret=True)
    server = pki.parse_certificates(server_certificate_der(ctx), what="server_certificate")
    jks = pki.build_keystore(
        ctx.request.keystore.format,
        private_key_pem=ctx.secret("private_key", made_by=Stage.GENERATE),
        chain=chain,
        alias=ctx.request.keystore.alias,
        password=password.decode(),
        extra_trusted=server,
    )
    stored = ctx.produce("keystore", jks, secret=True, replace=existing is not None)
    ctx.produce("keystore_certificate", certificate_sha256.encode(), replace=True)
    return stored
