"""Runbook step 4: check the signed certificate and import root, intermediates and it.

The checks (key, chain, validity, clientAuth, subject) run before anything is built. The
keystore holds one PrivateKeyEntry under the job's alias with the full chain, the CA
certificates as trusted entries, and the third party's server certificate; the key
password is the store password, which is random and sealed. The client certificate is
exported as PEM and DER for the third party (runbook step C).
"""

from __future__ import annotations

from messages import CertificateIssued, ChainImported, JobRequest, Stage
from workers import pki
from workers.errors import CertificateRejected, PermanentError
from workers.machinery.context import StageContext, sha256_hex
from workers.store.artifacts import Artifact

__all__ = ["given_server_certificate", "import_chain", "server_certificate_der"]


def given_server_certificate(request: JobRequest) -> bytes | None:
    """The third party's certificate (DER) as the request gives it, or None if it is to be
    fetched."""
    given = request.server_certificate
    if given.der_b64 is not None:
        return given.der_bytes()
    if given.pem is not None:
        return pki.cert_to_der(pki.parse_certificates(given.pem, what="server_certificate")[0])
    return None


def server_certificate_der(ctx: StageContext) -> bytes:
    """The third party's certificate: as given, or fetched once and checked by its pin."""
    in_request = given_server_certificate(ctx.request)
    if in_request is not None:
        return in_request
    given = ctx.request.server_certificate
    assert given.fetch is not None
    stored = ctx.artifact(Artifact.SERVER_CERTIFICATE)
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
    return ctx.produce(Artifact.SERVER_CERTIFICATE, der)


def import_chain(msg: CertificateIssued, ctx: StageContext) -> ChainImported:
    certificate = ctx.require(Artifact.CERTIFICATE, made_by=Stage.WAIT_FOR_CA)
    if sha256_hex(certificate) != msg.certificate_sha256:
        raise PermanentError(
            "the stored certificate is not the one the CA stage announced",
            hint="replay stage 'wait-for-ca'",
        )
    request = ctx.request
    chain = pki.check_issued(
        certificate_pem=certificate,
        chain_pem=ctx.require(Artifact.ISSUED_CHAIN, made_by=Stage.WAIT_FOR_CA),
        csr_pem=ctx.require(Artifact.CSR, made_by=Stage.CSR),
        subject=request.subject,
        dns_sans=request.dns_sans,
        min_remaining=ctx.min_remaining(),
        subject_keep=ctx.ca_profile().subject_parts(),
    )
    keystore = _keystore_for(ctx, msg.certificate_sha256, chain)
    ctx.produce(Artifact.CLIENT_CERT_PEM, chain.leaf_pem)
    ctx.produce(Artifact.CLIENT_CERT_DER, chain.leaf_der)
    ctx.produce(Artifact.CA_CHAIN_PEM, chain.ca_chain_pem)
    return ChainImported(
        job_id=msg.job_id,
        certificate_sha256=msg.certificate_sha256,
        keystore_sha256=sha256_hex(keystore),
    )


def _keystore_for(ctx: StageContext, certificate_sha256: str, chain: pki.IssuedChain) -> bytes:
    built_for = ctx.artifact(Artifact.KEYSTORE_CERTIFICATE)
    existing = ctx.artifact(Artifact.KEYSTORE)
    if existing is not None and built_for == certificate_sha256.encode():
        return existing
    password = ctx.produce(
        Artifact.KEYSTORE_PASSWORD, pki.new_keystore_password().encode(), secret=True
    )
    server = pki.parse_certificates(server_certificate_der(ctx), what="server_certificate")
    jks = pki.build_keystore(
        ctx.request.keystore.format,
        private_key_pem=ctx.secret(Artifact.PRIVATE_KEY, made_by=Stage.GENERATE),
        chain=chain,
        alias=ctx.request.keystore.alias,
        password=password.decode(),
        extra_trusted=server,
    )
    stored = ctx.produce(Artifact.KEYSTORE, jks, secret=True, replace=existing is not None)
    ctx.produce(Artifact.KEYSTORE_CERTIFICATE, certificate_sha256.encode(), replace=True)
    return stored
