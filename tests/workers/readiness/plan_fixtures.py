"""A sandbox instance and the registry that reaches it, for plan's and doctor's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ops.dev.sandbox import SandboxFacts, SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from workers import pki
from workers.config import InstanceProfile, PipelineConfig, load_config
from workers.machinery.deps import InstanceRegistry

__all__ = ["SERVER_PEM", "WRITES", "job", "sandbox_registry", "writes"]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SERVER_PEM = pki.cert_to_pem(pki.Authority.new_root("partner.example server").certificate).decode()


def writes(srv: SandboxServer) -> list[tuple[str, str, int]]:
    """Every call in the sandbox's request log that asked to change something."""
    return [call for call in srv.request_log if call[0] in WRITES]


@contextmanager
def sandbox_registry(
    facts: SandboxFacts | None = None, **options: Any
) -> Iterator[tuple[SandboxServer, PipelineConfig, InstanceRegistry]]:
    with ThirdPartyServer([]) as partner:  # an endpoint that answers (plan checks it)
        options.setdefault("seed_endpoint", partner.url)
        with SandboxServer(facts, **options) as srv:
            profile = InstanceProfile(
                url=srv.url, username_env="PLAN_TEST_USER", password_env="PLAN_TEST_PASSWORD"
            )
            config = load_config().with_instance("sandbox", profile)
            environ = {"PLAN_TEST_USER": srv.username, "PLAN_TEST_PASSWORD": srv.password}
            yield srv, config, InstanceRegistry(config, environ=environ)


def job(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "instance": "sandbox",
        "target": {"kind": "rest", "name": "Payments API"},
        "subject": {"cn": "payments-client"},
        "ca": {"profile": "local"},
        "keystore": {"record_name": "twoway payments client", "alias": "twoway"},
        "server_certificate": {"pem": SERVER_PEM},
        "protocol_profile": {"name": "mauthpay2", "port": 443},
    }
    request.update(changes)
    return request
