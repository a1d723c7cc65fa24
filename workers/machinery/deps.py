"""What stages reach through: the store, the CA adapters and the ServiceNow instances.

Built once per process from the configuration; adapters and clients are made on first use
and kept (one HTTP session per instance profile, one CA object per CA profile).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from workers.ca import CaAdapter, CfsslCa, LocalCa, ManualCa
from workers.ca.acme_profile import make_acme_ca
from workers.config import (
    AcmeCaProfile,
    CfsslCaProfile,
    InstanceProfile,
    ManualCaProfile,
    PipelineConfig,
)
from workers.errors import ConfigError, PermissionDenied
from workers.metrics import Metrics
from workers.sealing import Sealer
from workers.servicenow import (
    BasicAuth,
    CallGate,
    CallRecord,
    FactsCache,
    Instance,
    OAuthPassword,
    ServiceNowClient,
)
from workers.store import Store

__all__ = ["CaRegistry", "Deps", "InstanceRegistry"]


class CaRegistry:
    """One adapter per CA profile of pipeline.toml, and the profiles' secrets."""

    def __init__(
        self,
        config: PipelineConfig,
        state_dir: Path,
        sealer: Sealer,
        *,
        environ: Mapping[str, str] | None = None,
        store: Store | None = None,
        acme_after_finalize: Callable[[str], None] | None = None,
    ) -> None:
        self._config = config
        self._state_dir = state_dir
        self._sealer = sealer
        self._environ = environ
        self._store = store  # where the acme adapter keeps its accounts and orders
        # called once an ACME order is finalized, before it is stored (a fault drill's hook)
        self._acme_after_finalize = acme_after_finalize
        self._made: dict[str, CaAdapter] = {}
        self._lock = threading.Lock()

    def install(self, profile_name: str, adapter: CaAdapter) -> None:
        """Use ``adapter`` for a profile (an adapter built elsewhere: a plug-in, a test)."""
        with self._lock:
            self._made[profile_name] = adapter

    def callback_secret(self, profile_name: str) -> bytes:
        """The shared secret that authenticates the profile's CA callbacks."""
        profile = self._config.ca_profile(profile_name)
        if not isinstance(profile, ManualCaProfile) or not profile.callback_secret_env:
            raise PermissionDenied(
                f"CA profile {profile_name!r} takes no callbacks",
                hint="callbacks resume jobs of a manual CA profile with callback_secret_env",
            )
        secret = self._env(profile.callback_secret_env)
        if not secret:
            raise ConfigError(
                f"environment variable {profile.callback_secret_env} is not set",
                hint=f"CA profile {profile_name!r} reads its callback secret from it",
            )
        return secret.encode()

    def _env(self, name: str) -> str:
        return (os.environ if self._environ is None else self._environ).get(name, "")

    def get(self, profile_name: str) -> CaAdapter:
        with self._lock:
            if profile_name not in self._made:
                self._made[profile_name] = self._make(profile_name)
            return self._made[profile_name]

    def _make(self, profile_name: str) -> CaAdapter:
        profile = self._config.ca_profile(profile_name)
        if profile.adapter == "local":
            return LocalCa(
                self._state_dir / "ca" / profile_name,
                self._sealer,
                name=f"twoway {profile_name}",
                validity=timedelta(days=profile.validity_days),
                intermediates=profile.intermediates,
                crl_url=profile.crl_url,
            )
        if profile.adapter == "manual":
            return ManualCa(profile_name)
        if isinstance(profile, CfsslCaProfile):
            return self._cfssl(profile_name, profile)
        if isinstance(profile, AcmeCaProfile):
            if self._store is None:
                raise ConfigError(f"CA profile {profile_name!r} (acme) needs the store")
            return make_acme_ca(
                profile_name,
                profile,
                self._store.acme,
                environ=os.environ if self._environ is None else self._environ,
                after_finalize=self._acme_after_finalize,
            )
        raise ConfigError(f"CA adapter {profile.adapter!r} is not available in this build")

    def _cfssl(self, profile_name: str, profile: CfsslCaProfile) -> CfsslCa:
        auth_key = None
        if profile.auth_key_env:
            auth_key = self._env(profile.auth_key_env)
            if not auth_key:
                raise ConfigError(
                    f"environment variable {profile.auth_key_env} is not set",
                    hint=f"CA profile {profile_name!r} reads its CFSSL auth key from it",
                )
        chain = None
        if profile.chain_file is not None:
            try:
                chain = profile.chain_file.read_bytes()
            except OSError as exc:
                raise ConfigError(f"chain_file {profile.chain_file}: {exc.strerror}") from exc
        return CfsslCa(
            profile_name,
            profile.url,
            profile=profile.profile,
            label=profile.label,
            auth_key_hex=auth_key,
            chain_pem=chain,
            extra_roots=profile.trusted_roots(),
            timeout=(profile.connect_timeout_s, profile.read_timeout_s),
        )


class InstanceRegistry:
    """One ServiceNow client and discovered facts per instance profile."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        environ: Mapping[str, str] | None = None,
        observer: Callable[[CallRecord], None] | None = None,
        gates: Callable[[str, InstanceProfile], CallGate] | None = None,
    ) -> None:
        self._config = config
        self._environ = environ
        self._observer = observer
        self._gates = gates
        self._facts = FactsCache()
        self._clients: dict[str, ServiceNowClient] = {}
        self._lock = threading.Lock()

    def client(self, name: str) -> ServiceNowClient:
        with self._lock:
            if name not in self._clients:
                self._clients[name] = self._make_client(name)
            return self._clients[name]

    def get(self, name: str) -> Instance:
        client = self.client(name)
        return Instance(client, self._facts.get(client))

    def new_client(
        self, name: str, observer: Callable[[CallRecord], None] | None = None
    ) -> ServiceNowClient:
        """A client of its own (a ``requests.Session`` is not thread-safe) that shares the
        instance's call slots; ``observer`` sees its calls too. The caller closes it."""
        return self._make_client(name, observer)

    def _make_client(
        self, name: str, extra_observer: Callable[[CallRecord], None] | None = None
    ) -> ServiceNowClient:
        profile = self._config.instance(name)
        creds = profile.credentials(self._environ)
        auth: BasicAuth | OAuthPassword
        if profile.auth == "oauth":
            assert creds.client_id is not None and creds.client_secret is not None
            auth = OAuthPassword(
                username=creds.username,
                password=creds.password,
                client_id=creds.client_id,
                client_secret=creds.client_secret,
            )
        else:
            auth = BasicAuth(username=creds.username, password=creds.password)
        return ServiceNowClient(
            profile.url,
            auth,
            api_version=profile.api_version,
            timeout=(profile.connect_timeout_s, profile.read_timeout_s),
            observer=_both(self._observer, extra_observer),
            gate=self._gates(name, profile) if self._gates is not None else None,
        )


def _both(
    first: Callable[[CallRecord], None] | None, second: Callable[[CallRecord], None] | None
) -> Callable[[CallRecord], None] | None:
    if first is None or second is None:
        return first or second

    def observe(record: CallRecord) -> None:
        first(record)
        second(record)

    return observe


@dataclass
class Deps:
    config: PipelineConfig
    store: Store
    cas: CaRegistry
    instances: InstanceRegistry
    extra: dict[str, object] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    environ: Mapping[str, str] | None = None  # None: the process's environment

    def env(self, name: str) -> str:
        """A variable of the environment the app was built with ("" when unset)."""
        return (os.environ if self.environ is None else self.environ).get(name, "")
