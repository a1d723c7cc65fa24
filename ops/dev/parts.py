"""Starting a development stack's parts, each one's teardown registered as it starts.

``start_parts`` starts the third party, the sandbox(es), the app, the gateway, the
poller, the renewal scheduler, the workers and (on RabbitMQ, if asked) the AMQP bridges,
in that order; the ``ExitStack`` it is given stops them in the reverse order, whether
start fails half-way or the stack is stopped later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import dramatiq
import structlog

from ops.dev.sandbox import EstateEndpoints, Pacing, SandboxServer
from ops.dev.thirdparty import ThirdPartyServer
from ops.rabbitmq.bridges import Messaging
from ops.rabbitmq.chores import delete_queues, stage_queue_names
from ops.rabbitmq.connection import CONNECTION_ERRORS
from ops.rabbitmq.reachability import require_broker, shown_url
from ops.service.server import GatewayServer
from workers.app import App, build_app
from workers.ca import LocalCa
from workers.config import (
    InstanceProfile,
    ManualCaProfile,
    PipelineConfig,
    Settings,
    load_config,
)
from workers.errors import ConfigError
from workers.levers.notifier import Notifier
from workers.levers.poller import Poller
from workers.levers.revoker import Revoker
from workers.levers.scheduler import RenewalScheduler
from workers.levers.sweeper import Sweeper
from workers.machinery.deps import CaRegistry

if TYPE_CHECKING:
    from ops.dev.stack import RunningStack

__all__ = ["PASSWORD_ENV", "SECOND", "USER_ENV", "StackParts", "start_parts"]

USER_ENV = "TWOWAY_SANDBOX_USERNAME"
PASSWORD_ENV = "TWOWAY_SANDBOX_PASSWORD"  # noqa: S105 - the variable's name, not a secret
_log = structlog.get_logger("twoway.stack")
SECOND = "sandbox2"  # the second instance's profile name (SandboxOptions.second_instance)


@dataclass(frozen=True)
class StackParts:
    """The parts of a running stack; none of them missing (``second``/``messaging``: if asked)."""

    config: PipelineConfig
    settings: Settings
    environ: dict[str, str]
    third_party: ThirdPartyServer
    partner: ThirdPartyServer | None  # the estate's second third party (sandbox.estate)
    sandbox: SandboxServer
    second: SandboxServer | None
    app: App
    token: str
    read_token: str
    gateway: GatewayServer
    poller: Poller
    poller_thread: threading.Thread
    scheduler: RenewalScheduler
    sweeper: Sweeper | None  # in-process workers only (worker processes run their own)
    messaging: Messaging | None


def start_parts(stack: RunningStack, teardown: contextlib.ExitStack) -> StackParts:
    """Start every part of ``stack``; each one's stop goes on ``teardown`` as it starts."""
    options = stack.options
    if options.broker.kind == "rabbitmq":
        require_broker(options.broker.url)  # before anything starts: one line, the fix
    base = options.config or load_config()
    local_ca = CaRegistry(base, stack.state_dir, stack.sealer).get("local")
    if not isinstance(local_ca, LocalCa):
        raise ConfigError(
            "pipeline.toml's 'local' CA profile is not a local CA",
            hint="the development stack signs with [ca.local] adapter = 'local'",
        )
    trusted = [local_ca.root_pem] if options.partner.trusts_ca else []
    third_party = _started(teardown, ThirdPartyServer(trusted))
    if options.partner.probe_every_s is not None:
        probing = base.third_party.model_copy(
            update={"probe_every_s": options.partner.probe_every_s}
        )
        base = base.model_copy(update={"third_party": probing})
    partner = _started(teardown, ThirdPartyServer(trusted)) if options.sandbox.estate else None
    sandbox = _sandbox(teardown, third_party, stack, options.sandbox.pacing, partner)
    config = base.with_instance("sandbox", _profile(stack, sandbox.url))
    config = config.with_queue_prefix(stack.queue_prefix)
    environ = {
        **os.environ,
        USER_ENV: sandbox.username,
        PASSWORD_ENV: sandbox.password,
        **_callback_secrets(base),
    }
    second = None
    if options.sandbox.second_instance is not None:
        second = _sandbox(teardown, third_party, stack, options.sandbox.second_instance)
        user_env, password_env = f"{USER_ENV}2", f"{PASSWORD_ENV}2"
        limit = options.sandbox.second_max_concurrent_calls
        profile = _profile(stack, second.url, user_env, password_env, limit)
        config = config.with_instance(SECOND, profile)
        environ.update({user_env: second.username, password_env: second.password})
    settings = Settings(
        broker_url=options.broker.url,
        database_url=options.database_url,
        state_dir=stack.state_dir,
        chaos=options.chaos,
    )
    kind = options.broker.kind
    app = build_app(config, settings, broker=kind, sealer=stack.sealer, environ=environ)
    teardown.callback(app.close)
    if kind == "rabbitmq":  # runs before app.close: the queues go while the app still can
        queues = stage_queue_names([route.queue for route in app.runtime.routes])
        teardown.callback(_delete_queues, options.broker.url, queues)
    # An operator token for whoever started the stack (printed once by ``twoway up``).
    _, token = app.store.tokens.create("twoway up", "operator")
    # ... and one of the read role, to try what a reader sees and may not do.
    _, read_token = app.store.tokens.create("twoway up reader", "read")
    gateway = _started(teardown, GatewayServer(app))
    poller = Poller(app)
    poller_thread = poller.start(every_s=options.poll_every_s)
    teardown.callback(poller.stop)
    scheduler = RenewalScheduler(app)
    scheduler.start(options.renewal_every_s)
    teardown.callback(scheduler.stop)
    if options.lifecycle_every_s is not None:
        _start_lifecycle(teardown, app, environ, options.lifecycle_every_s)
    parts = StackParts(
        config,
        settings,
        environ,
        third_party,
        partner,
        sandbox,
        second,
        app,
        token,
        read_token,
        gateway,
        poller,
        poller_thread,
        scheduler,
        None,
        None,
    )
    stack._parts = parts  # the worker processes read the stack's config and environment
    sweeper = _start_workers(stack, teardown, app)
    parts = StackParts(**{**parts.__dict__, "sweeper": sweeper})
    if options.broker.amqp and kind == "rabbitmq":
        messaging = _started(teardown, Messaging(app, options.broker.url))
        parts = StackParts(**{**parts.__dict__, "messaging": messaging})
    return parts


class _Part(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


_P = TypeVar("_P", bound=_Part)


def _started(teardown: contextlib.ExitStack, part: _P) -> _P:
    part.start()
    teardown.callback(part.stop)
    return part


def _start_lifecycle(
    teardown: contextlib.ExitStack, app: App, environ: dict[str, str], every_s: float
) -> None:
    """The revoker and the notifier, as every worker process runs them."""
    revoker = Revoker(app.deps)
    revoker.start(every_s)
    teardown.callback(revoker.stop)
    notifier = Notifier(app.store, app.config, environ)
    notifier.start(every_s)
    teardown.callback(notifier.stop)


def _sandbox(
    teardown: contextlib.ExitStack,
    third_party: ThirdPartyServer,
    stack: RunningStack,
    pacing: Pacing | None,
    partner: ThirdPartyServer | None = None,
) -> SandboxServer:
    """A sandbox seeded with Payments API on ``third_party``; with ``partner``, the
    hand-made estate too (its partners then trust the estate's CAs, as they did)."""
    estate = None
    if partner is not None:
        estate = EstateEndpoints(
            main=third_party.url,
            partner=partner.url,
            main_ca_pem=third_party.server_ca_pem.decode(),
            partner_leaf_pem=partner.server_certificate_pem.decode(),
        )
    server = SandboxServer(
        stack.options.sandbox.facts, seed_endpoint=third_party.url, estate=estate
    )
    if partner is not None:
        partner.rotate_server_certificate()  # after its leaf was pinned by hand
        assert server.estate is not None
        for endpoint in (third_party, partner):
            endpoint.trust(server.estate.public_ca_pem)
            endpoint.trust(server.estate.corporate_ca_pem)
    if pacing is not None:
        server.pace(pacing)
    server.start()
    teardown.callback(server.stop)
    return server


def _start_workers(stack: RunningStack, teardown: contextlib.ExitStack, app: App) -> Sweeper | None:
    """In-process dramatiq workers and their sweeper (returned), or worker processes."""
    broker = stack.options.broker
    if broker.kind == "stub":
        worker = dramatiq.Worker(
            app.broker, worker_threads=broker.worker_threads, worker_timeout=100
        )
        worker.start()
        teardown.callback(worker.stop)
        # In-process workers: the sweeper runs here too (worker processes run their own).
        sweeper = Sweeper(app.runtime)
        sweeper.start()
        teardown.callback(sweeper.stop)
        return sweeper
    teardown.callback(_stop_processes, stack.processes_started)
    env = stack.worker_environment()
    for _ in range(broker.worker_processes):
        command = [sys.executable, "-m", "ops", "worker", "--threads", str(broker.worker_threads)]
        stack.processes_started.append(subprocess.Popen(command, env=env))
    return None


def _delete_queues(url: str, queues: list[str]) -> None:
    """The stack's queues go with it; a broker gone meanwhile is said, not a traceback."""
    try:
        delete_queues(url, queues)
    except CONNECTION_ERRORS as exc:
        _log.warning(
            "stack_queues_left", broker=shown_url(url), queues=len(queues), error=type(exc).__name__
        )


def _stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    """Ask every worker process to stop, then wait; kill the ones that do not."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _callback_secrets(config: PipelineConfig) -> dict[str, str]:
    """A fresh callback secret for each manual CA profile, in the variable it names."""
    return {
        profile.callback_secret_env: secrets.token_urlsafe(32)
        for profile in config.ca.values()
        if isinstance(profile, ManualCaProfile) and profile.callback_secret_env
    }


def _profile(
    stack: RunningStack,
    url: str,
    user_env: str = USER_ENV,
    password_env: str = PASSWORD_ENV,
    limit: int | None = None,
) -> InstanceProfile:
    sandbox = stack.options.sandbox
    extra: dict[str, float] = {}
    if sandbox.instance_timeouts is not None:
        connect, read = sandbox.instance_timeouts
        extra = {"connect_timeout_s": connect, "read_timeout_s": read}
    limit = limit or sandbox.max_concurrent_calls
    if limit is not None:
        extra["max_concurrent_calls"] = limit
    if sandbox.slot_wait_s is not None:
        extra["slot_wait_s"] = sandbox.slot_wait_s
    return InstanceProfile(
        url=url,
        username_env=user_env,
        password_env=password_env,
        fetch_hosts=["localhost:*", "127.0.0.1:*"],  # the stack's third parties live here
        **extra,
    )
