"""Assembly: from configuration and settings to a running pipeline in this process."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq

from messages import JobAccepted, JobRequest
from workers.config import PipelineConfig, Settings
from workers.machinery.broker import BrokerKind, make_broker
from workers.machinery.call_slots import InstanceSlots
from workers.machinery.chaos import chaos_middleware, crash_after_finalize, wrap_cores
from workers.machinery.context import record_call
from workers.machinery.deps import CaRegistry, Deps, InstanceRegistry
from workers.machinery.runtime import Runtime
from workers.metrics import Metrics, SlotCollector, StoreCollector, observing
from workers.readiness.admission import admit_or_twin, parse_request
from workers.sealing import Sealer
from workers.stages import CORES
from workers.store import JobRecord, Store

__all__ = ["SUBMIT_PATIENCE_S", "App", "build_app"]

# How long a submission waits for the broker (a leader election takes well under a second,
# a node's failover a few) before its job is accepted with its first send deferred.
SUBMIT_PATIENCE_S = 10.0


@dataclass
class App:
    config: PipelineConfig
    settings: Settings
    store: Store
    deps: Deps
    broker: dramatiq.Broker
    runtime: Runtime

    def submit(
        self, raw: JobRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> tuple[JobRecord, bool]:
        """Validate, admit, store and start a job; the same key returns the same job."""
        request = raw if isinstance(raw, JobRequest) else parse_request(raw)
        twin = admit_or_twin(request, self.config, self.deps.instances, self.store, idempotency_key)
        if twin is not None:
            return twin, False
        job, created = self.store.create_job(request, idempotency_key=idempotency_key)
        if created:  # stored first: a broker that is away defers the send, never loses it
            first = self.runtime.routes.first.stage
            self.runtime.send_or_defer(
                job.id, first, JobAccepted(job_id=job.id), patience_s=SUBMIT_PATIENCE_S
            )
        return job, created

    def close(self) -> None:
        self.broker.close()
        self.store.close()


def build_app(
    config: PipelineConfig,
    settings: Settings,
    *,
    broker: BrokerKind = "rabbitmq",
    sealer: Sealer | None = None,
    environ: Mapping[str, str] | None = None,
) -> App:
    sealer = sealer or Sealer.from_environment(environ)
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    store = Store(settings.store_url(), sealer)
    store.certificates.follow_rules({name: p.renew_before for name, p in config.ca.items()})
    metrics = Metrics()
    per_certificate = config.metrics.per_certificate_series
    metrics.watch(StoreCollector(store, per_certificate=per_certificate))
    store.observe_write_waits(metrics.store_write_wait.observe)
    limits = {name: p.max_concurrent_calls for name, p in config.instances.items()}
    metrics.watch(SlotCollector(store, limits))
    deps = Deps(
        config=config,
        store=store,
        environ=environ,
        cas=CaRegistry(
            config,
            settings.state_dir,
            sealer,
            environ=environ,
            store=store,
            acme_after_finalize=crash_after_finalize(settings.chaos, settings.state_dir),
        ),
        instances=InstanceRegistry(
            config,
            environ=environ,
            observer=observing(record_call, metrics.observe_call),
            gates=lambda name, profile: InstanceSlots(name, profile, store, metrics),
        ),
        metrics=metrics,
    )
    the_broker = make_broker(broker, settings.broker_url, extra=chaos_middleware(settings.chaos))
    runtime = Runtime(deps, the_broker, wrap_cores(CORES, settings.chaos))
    return App(config, settings, store, deps, the_broker, runtime)
