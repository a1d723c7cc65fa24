"""pipeline.toml and the environment, read once at start-up into frozen, strict models.

Nothing here runs at import time. Unknown keys are refused; every error names the key and
says what is allowed. Secrets never live in pipeline.toml: a profile names the environment
variables that hold them, and they are read as ``SecretStr``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from messages import Stage
from workers.config.estate import EstateSettings
from workers.config.lifecycle import NotifySettings, RevocationSettings, RevokeTrigger
from workers.config.renewal import RenewalSettings, RenewBefore
from workers.config.retention import RetentionSettings
from workers.errors import ConfigError

__all__ = [
    "AcmeCaProfile",
    "AcmeHook",
    "AnyCaProfile",
    "BrokerSettings",
    "CaProfile",
    "CfsslCaProfile",
    "Credentials",
    "InstanceProfile",
    "LocalCaProfile",
    "ManualCaProfile",
    "PipelineConfig",
    "Settings",
    "StageSettings",
    "format_validation_error",
    "load_config",
]

ENV_CONFIG = "TWOWAY_CONFIG"
_PREFIX = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,40}$"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
SubjectPart = Literal["C", "ST", "L", "O", "OU", "CN"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BrokerSettings(_Frozen):
    queue_prefix: Annotated[str, Field(pattern=_PREFIX)] = "twoway"
    min_backoff_ms: Annotated[int, Field(ge=10, le=600_000)] = 500
    max_backoff_ms: Annotated[int, Field(ge=100, le=3_600_000)] = 60_000
    # A run's hold on its job; renewed every third of it while the run lives, so a killed
    # worker's job is taken over within this many seconds.
    lease_s: Annotated[float, Field(ge=1, le=600)] = 15
    # The sweeper (in every worker, one at a time) looks this often for jobs stranded by
    # a lost message, and re-sends for jobs quiet (no lease, no event) for sweep_quiet_s
    # (default: the longest stage time limit + max backoff + two leases).
    sweep_every_s: Annotated[float, Field(ge=1, le=3600)] = 30
    sweep_quiet_s: Annotated[float, Field(ge=1, le=86400)] | None = None


class ThirdPartySettings(_Frozen):
    """The second pause: a job whose new certificate the third party does not accept yet
    waits (message untouched) at most ``max_wait_days``; the poller re-probes its
    endpoint every ``probe_every_s`` with the keystore sealed in the store."""

    max_wait_days: Annotated[float, Field(gt=0, le=365)] = 14
    probe_every_s: Annotated[float, Field(ge=1, le=86400)] = 900
    # The variable holding the secret with which the request workflow signs "installed"
    # (POST /v1/jobs/{id}/partner-callback); None: only operators can say it.
    callback_secret_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None


class StageSettings(_Frozen):
    name: Stage
    consumes: str
    produces: str
    max_retries: Annotated[int, Field(ge=0, le=100)] = 10
    time_limit_s: Annotated[float, Field(gt=0, le=3600)] = 300


class Credentials(_Frozen):
    username: str
    password: SecretStr
    client_id: str | None = None
    client_secret: SecretStr | None = None


class InstanceProfile(_Frozen):
    """A ServiceNow instance: where it is and which environment variables hold its login."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")]
    auth: Literal["basic", "oauth"] = "basic"
    username_env: Annotated[str, Field(pattern=_ENV_NAME)]
    password_env: Annotated[str, Field(pattern=_ENV_NAME)]
    client_id_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    client_secret_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    api_version: Literal["v1", "v2"] = "v2"
    # Hosts and ports a job may fetch the third party's server certificate from, against
    # its SHA-256 pin: "host" (port 443), "host:8443" or "host:*"; the host an fnmatch
    # pattern, like "*.partner.example". Empty: no fetching.
    fetch_hosts: list[Annotated[str, Field(min_length=1, max_length=253)]] = []
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    # Calls in flight to this instance at once, across every worker thread, process and
    # host (slots in the store). A stage that finds none free within slot_wait_s gives
    # its message back to the broker for a moment instead of holding a worker thread.
    max_concurrent_calls: Annotated[int, Field(ge=1, le=256)] = 4
    slot_wait_s: Annotated[float, Field(ge=0, le=30)] = 1.0

    @model_validator(mode="after")
    def _oauth_needs_client(self) -> InstanceProfile:
        if self.auth == "oauth" and not (self.client_id_env and self.client_secret_env):
            raise ValueError("auth = 'oauth' needs client_id_env and client_secret_env")
        return self

    def credentials(self, environ: Mapping[str, str] | None = None) -> Credentials:
        env = os.environ if environ is None else environ

        def need(name: str) -> str:
            value = env.get(name, "")
            if not value:
                raise ConfigError(
                    f"environment variable {name} is not set",
                    hint=f"the instance profile for {self.url} reads its login from it: set it"
                    " in the workers' environment, then replay the stage",
                )
            return value

        return Credentials(
            username=need(self.username_env),
            password=SecretStr(need(self.password_env)),
            client_id=need(self.client_id_env) if self.client_id_env else None,
            client_secret=SecretStr(need(self.client_secret_env))
            if self.client_secret_env
            else None,
        )


class _CaBase(_Frozen):
    min_remaining_days: Annotated[float, Field(ge=0, le=3650)] = 1
    # When certificates from this CA are renewed (default: at two thirds of the lifetime).
    renew_before: RenewBefore | None = None
    # PEM file of the roots this CA's certificates must chain to; without it, the chain
    # supplied with a certificate must end in a self-signed root.
    trusted_roots_file: Path | None = None
    # A job that waits longer than this for the CA fails (the poller enforces it).
    max_wait_days: Annotated[float, Field(gt=0, le=365)] | None = None
    # The subject attributes an issued certificate must carry as requested: "all", or a
    # list of them ([] keeps none). The DNS names, key, chain, validity and clientAuth
    # are checked whatever this says.
    subject_keep: Literal["all"] | list[SubjectPart] = "all"
    # When a certificate from this CA is revoked at it (docs/lifecycle.md): its keystore
    # record deleted after a renewal's grace period, its job rolled back, or cancelled.
    revoke_on: list[RevokeTrigger] = ["retired", "rolled_back", "cancelled"]

    def subject_parts(self) -> tuple[str, ...] | None:
        """The attributes to check (None: all of them)."""
        return None if self.subject_keep == "all" else tuple(self.subject_keep)

    def trusted_roots(self) -> tuple[bytes, ...]:
        if self.trusted_roots_file is None:
            return ()
        try:
            return (self.trusted_roots_file.read_bytes(),)
        except OSError as exc:
            raise ConfigError(
                f"trusted_roots_file {self.trusted_roots_file}: {exc.strerror or exc}"
            ) from exc


class LocalCaProfile(_CaBase):
    """The embedded CA (a root and intermediates), for demos and tests."""

    adapter: Literal["local"]
    validity_days: Annotated[float, Field(gt=0, le=3650)] = 365
    intermediates: Annotated[int, Field(ge=1, le=4)] = 1
    # The CRL distribution point written into issued certificates: where the gateway
    # serves this CA's CRL (https://<gateway>/v1/ca/<profile>/crl). None: none written.
    crl_url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")] | None = None


class ManualCaProfile(_CaBase):
    """Pause until the CA calls back or an operator resumes the job."""

    adapter: Literal["manual"]
    max_wait_days: Annotated[float, Field(gt=0, le=365)] | None = 14
    callback_secret_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None


class CfsslCaProfile(_CaBase):
    """A CFSSL server: ``sign``, or ``authsign`` when ``auth_key_env`` names its HMAC key.

    CFSSL signs at once. The CA chain handed on with each certificate is ``chain_file``
    (intermediates and root, PEM), else the signer's certificate from CFSSL's ``info``.
    """

    adapter: Literal["cfssl"]
    url: Annotated[str, Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$")]
    profile: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    label: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    auth_key_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    chain_file: Path | None = None
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0


class AcmeHook(_Frozen):
    """A command that publishes a challenge: ``COMMAND present|cleanup NAME VALUE``."""

    type: Literal["dns-01", "http-01"] = "dns-01"
    command: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 120


class AcmeCaProfile(_CaBase):
    """An ACME (RFC 8555) CA: step-ca, Vault's PKI, EJBCA, a commercial private CA.

    The account key is made on first use and kept sealed in the store. EAB credentials,
    when the CA requires them, come from the environment variables named here.
    """

    adapter: Literal["acme"]
    directory: Annotated[str, Field(pattern=r"^https://[^\s/]+(/[^\s]*)?$")]
    # PEM bundle that the directory's TLS certificate must chain to (None: the system's).
    ca_bundle: Path | None = None
    contact: list[Annotated[str, Field(pattern=r"^mailto:[^\s@]+@[^\s@]+$")]] = []
    eab_kid_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    eab_hmac_env: Annotated[str, Field(pattern=_ENV_NAME)] | None = None
    challenge: AcmeHook
    # How long one run waits for the CA to validate, then to issue, before it pauses.
    validation_wait_s: Annotated[float, Field(ge=0, le=600)] = 60
    issue_wait_s: Annotated[float, Field(ge=0, le=600)] = 10
    max_wait_days: Annotated[float, Field(gt=0, le=365)] | None = 2
    subject_keep: Literal["all"] | list[SubjectPart] = []
    connect_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    read_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0

    @model_validator(mode="after")
    def _eab_both_or_neither(self) -> AcmeCaProfile:
        if bool(self.eab_kid_env) != bool(self.eab_hmac_env):
            raise ValueError("external account binding needs both eab_kid_env and eab_hmac_env")
        return self


AnyCaProfile = LocalCaProfile | ManualCaProfile | CfsslCaProfile | AcmeCaProfile
CaProfile = Annotated[AnyCaProfile, Field(discriminator="adapter")]


class MetricsSettings(_Frozen):
    """``[metrics]``: what ``/metrics`` exports beyond its bounded series."""

    # One series per current certificate (job id, instance, target, serial): as many
    # series as certificates, so off unless an operator asks for it.
    per_certificate_series: bool = False


class PipelineConfig(_Frozen):
    broker: BrokerSettings = BrokerSettings()
    stages: list[StageSettings]
    instances: dict[str, InstanceProfile] = {}
    ca: dict[str, CaProfile] = {}
    renewal: RenewalSettings = RenewalSettings()
    third_party: ThirdPartySettings = ThirdPartySettings()
    revocation: RevocationSettings = RevocationSettings()
    notify: NotifySettings = NotifySettings()
    estate: EstateSettings = EstateSettings()
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()

    @model_validator(mode="after")
    def _stages_once_each(self) -> PipelineConfig:
        names = [stage.name for stage in self.stages]
        missing = [s.value for s in Stage if s not in names]
        doubled = sorted({n.value for n in names if names.count(n) > 1})
        if missing or doubled:
            raise ValueError(
                f"[[stages]] must name each of the nine stages once; missing {missing},"
                f" repeated {doubled}"
            )
        return self

    def stage(self, name: Stage | str) -> StageSettings:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise ConfigError(f"no stage named {name!r} in pipeline.toml")

    def instance(self, name: str) -> InstanceProfile:
        try:
            return self.instances[name]
        except KeyError:
            raise ConfigError(
                f"no instance profile {name!r}", hint=f"known: {sorted(self.instances)}"
            ) from None

    def ca_profile(self, name: str) -> AnyCaProfile:
        try:
            return self.ca[name]
        except KeyError:
            raise ConfigError(f"no CA profile {name!r}", hint=f"known: {sorted(self.ca)}") from None

    def with_queue_prefix(self, prefix: str) -> PipelineConfig:
        broker = self.broker.model_copy(update={"queue_prefix": prefix})
        return PipelineConfig.model_validate({**self.model_dump(), "broker": broker.model_dump()})

    def with_instance(self, name: str, profile: InstanceProfile) -> PipelineConfig:
        instances = {**self.instances, name: profile}
        return self.model_copy(update={"instances": instances})


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``field.path: what is wrong``."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(top level)"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Read pipeline.toml: ``path``, else $TWOWAY_CONFIG, else the one shipped with twoway."""
    env = os.environ if environ is None else environ
    chosen = path or (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    try:
        if chosen is None:
            text = resources.files("workers").joinpath("pipeline.toml").read_text("utf-8")
            where = "the built-in pipeline.toml"
        else:
            text = chosen.read_text("utf-8")
            where = str(chosen)
        raw = tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"cannot read {chosen}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{chosen} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where} is not valid TOML: {exc}") from exc
    try:
        config = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {format_validation_error(exc)}") from exc
    prefix = env.get("TWOWAY_QUEUE_PREFIX")
    config = config.with_queue_prefix(prefix) if prefix else config
    return _instance_urls_from(env, config)


def _instance_urls_from(env: Mapping[str, str], config: PipelineConfig) -> PipelineConfig:
    """TWOWAY_INSTANCE_<NAME>_URL overrides an instance profile's url (for deployments)."""
    for name, profile in config.instances.items():
        variable = f"TWOWAY_INSTANCE_{name.upper().replace('-', '_')}_URL"
        if env.get(variable):
            try:
                changed = InstanceProfile.model_validate(
                    {**profile.model_dump(), "url": env[variable]}
                )
            except ValidationError as exc:
                raise ConfigError(f"{variable}: {format_validation_error(exc)}") from exc
            config = config.with_instance(name, changed)
    return config


class Settings(_Frozen):
    """Where the parts are, from the environment (never from pipeline.toml)."""

    broker_url: str = "amqp://guest:guest@127.0.0.1:5672"
    database_url: str | None = None
    state_dir: Path = Path(".twoway")
    chaos: tuple[str, ...] = ()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("TWOWAY_BROKER_URL"):
            values["broker_url"] = env["TWOWAY_BROKER_URL"]
        if env.get("TWOWAY_DATABASE_URL"):
            values["database_url"] = env["TWOWAY_DATABASE_URL"]
        if env.get("TWOWAY_STATE_DIR"):
            values["state_dir"] = Path(env["TWOWAY_STATE_DIR"])
        if env.get("TWOWAY_CHAOS"):
            values["chaos"] = tuple(c.strip() for c in env["TWOWAY_CHAOS"].split(",") if c.strip())
        return cls.model_validate(values)

    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'twoway.sqlite3'}"
