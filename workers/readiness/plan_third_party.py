"""The third party's side of a plan: where our client certificate comes from, which CA
certificates they must trust, and the proof before the switch. Read from the
configuration and local files only: the CA is never asked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from messages import JobRequest
from workers import pki
from workers.ca import LocalCa
from workers.config import AnyCaProfile, CfsslCaProfile, ManualCaProfile
from workers.errors import ConfigError, RequestInvalid, TwowayError
from workers.readiness.plan_model import ThirdPartyPlan, TrustAnchor

__all__ = ["ca_refusals", "third_party"]

_DOWNLOAD = "GET /v1/jobs/{id}/client-certificate (?format=pem|der)"


def ca_refusals(
    profile_name: str, profile: AnyCaProfile, environ: Mapping[str, str]
) -> list[TwowayError]:
    """What in the CA profile would stop the job at wait-for-ca or import-chain."""
    refusals: list[TwowayError] = []
    key_env = profile.auth_key_env if isinstance(profile, CfsslCaProfile) else None
    if key_env and not environ.get(key_env):
        refusals.append(
            ConfigError(
                f"ca.profile: CA profile {profile_name!r} reads its CFSSL auth key from"
                f" {key_env}, which is not set here",
                hint="set it in the workers' environment",
            )
        )
    files = {"trusted_roots_file": profile.trusted_roots_file}
    if isinstance(profile, CfsslCaProfile):
        files["chain_file"] = profile.chain_file
    for key, path in files.items():
        if path is not None:
            try:
                _anchors(path, key)
            except TwowayError as exc:
                refusals.append(
                    ConfigError(f"ca.profile: {profile_name!r} {exc.message}", hint=exc.hint)
                )
    return refusals


def third_party(
    request: JobRequest,
    profile: AnyCaProfile,
    *,
    state_dir: Path,
    endpoint: str,
    trust_sha256: str,
) -> ThirdPartyPlan:
    name = request.ca.profile
    anchors, note = _trust_of(name, profile, state_dir)
    return ThirdPartyPlan(
        ca_profile=name,
        adapter=profile.adapter,
        client_certificate=_client_certificate(name, profile),
        trust=anchors,
        trust_note=note,
        server_certificate=f"the endpoint must keep presenting the server certificate with"
        f" SHA-256 {trust_sha256 or '(fetched at register-trust against the pin)'}",
        proof=_proof(request, endpoint),
        prove_first=request.enable.prove_first,
    )


def _client_certificate(name: str, profile: AnyCaProfile) -> str:
    made = f"issued by CA profile {name!r} ({profile.adapter})"
    if isinstance(profile, ManualCaProfile):
        made += (
            ": the job pauses (waiting_for_ca) until the CA signs the CSR"
            " (GET /v1/jobs/{id}/csr) and calls back, or an operator resumes it"
        )
    return f"{made}; once the job has made it, download it at {_DOWNLOAD}"


def _trust_of(
    name: str, profile: AnyCaProfile, state_dir: Path
) -> tuple[tuple[TrustAnchor, ...], str]:
    if profile.trusted_roots_file is not None:
        return _safe(profile.trusted_roots_file, "trusted_roots_file"), ""
    if isinstance(profile, CfsslCaProfile) and profile.chain_file is not None:
        return _safe(profile.chain_file, "chain_file"), ""
    if profile.adapter == "local":
        root = LocalCa.existing_root_pem(state_dir / "ca" / name)
        if root is not None:
            return _anchors_of(root, f"the local CA {name!r} (root)"), ""
        return (), f"the root of the local CA {name!r}, made when it first signs"
    if isinstance(profile, CfsslCaProfile):
        return (), "the CFSSL signer's chain (from its info endpoint, not asked by plan)"
    return (), "the chain the CA returns with the certificate (shown by the job once resumed)"


def _safe(path: Path, key: str) -> tuple[TrustAnchor, ...]:
    try:
        return _anchors(path, key)
    except TwowayError:
        return ()  # reported by ca_refusals


def _anchors(path: Path, key: str) -> tuple[TrustAnchor, ...]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key} {path}: {exc.strerror or exc}", hint="fix the path") from exc
    try:
        return _anchors_of(data, f"{key} {path}")
    except RequestInvalid as exc:
        raise ConfigError(f"{key} {path}: {exc.message}", hint=exc.hint) from exc


def _anchors_of(data: bytes, source: str) -> tuple[TrustAnchor, ...]:
    return tuple(
        TrustAnchor(
            subject=cert.subject.rfc4514_string(),
            sha256=pki.sha256_fingerprint(cert),
            source=source,
        )
        for cert in pki.parse_certificates(data, what=source)
    )


def _proof(request: JobRequest, endpoint: str) -> str:
    if request.enable.prove_first:
        return (
            "before the switch, twoway handshakes with the new keystore against"
            f" {endpoint or 'the endpoint'};"
            " until the partner accepts it the job waits (waiting_for_third_party) and the"
            " message keeps what it has"
        )
    return (
        "enable.prove_first is false: the message is switched without a handshake from"
        " twoway's host first (recorded in the job's history); verify handshakes after"
    )
