"""Building the ``acme`` CA adapter from its profile: secrets from the environment."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from workers.ca.acme import AcmeCa
from workers.ca.acme_client import AcmeSession, Eab
from workers.ca.acme_hooks import Hook
from workers.config import AcmeCaProfile
from workers.errors import ConfigError
from workers.store.acme import AcmeRecords

__all__ = ["make_acme_ca"]


def make_acme_ca(
    name: str,
    profile: AcmeCaProfile,
    records: AcmeRecords,
    *,
    environ: Mapping[str, str],
    after_finalize: Callable[[str], None] | None = None,
) -> AcmeCa:
    eab = None
    if profile.eab_kid_env and profile.eab_hmac_env:
        kid = _need(environ, profile.eab_kid_env, name)
        eab = Eab(kid, _need(environ, profile.eab_hmac_env, name))
    verify: str | bool = True
    if profile.ca_bundle is not None:
        if not profile.ca_bundle.is_file():
            raise ConfigError(
                f"ca_bundle {profile.ca_bundle} of CA profile {name!r} is not a file",
                hint="give the PEM bundle of the roots the ACME directory's TLS chains to",
            )
        verify = str(profile.ca_bundle)
    session = AcmeSession(
        name,
        profile.directory,
        records,
        verify=verify,
        contact=tuple(profile.contact),
        eab=eab,
        timeout_s=int(profile.read_timeout_s),
    )
    hook = Hook(profile.challenge.command, timeout_s=profile.challenge.timeout_s)
    return AcmeCa(
        session,
        records,
        hook,
        challenge_type=profile.challenge.type,
        extra_roots=profile.trusted_roots(),
        validation_wait_s=profile.validation_wait_s,
        issue_wait_s=profile.issue_wait_s,
        after_finalize=after_finalize,
    )


def _need(environ: Mapping[str, str], variable: str, name: str) -> str:
    value = environ.get(variable, "")
    if not value:
        raise ConfigError(
            f"environment variable {variable} is not set",
            hint=f"CA profile {name!r} reads its external account binding from it",
        )
    return value
