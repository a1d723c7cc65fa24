"""The store's tables: one row per job, its append-only history, and its artifacts."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

__all__ = [
    "acme_accounts",
    "acme_answers",
    "acme_orders",
    "artifacts",
    "callback_signatures",
    "certificates",
    "events",
    "instance_slots",
    "jobs",
    "leases",
    "metadata",
    "notifications",
    "outputs",
    "relay",
    "revocations",
    "tokens",
]

# Changes to these tables need a revision in migrations/versions ('twoway db revision').
metadata = MetaData()

jobs = Table(
    "twoway_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("state", String(32), nullable=False),
    Column("stage", String(20), nullable=True),
    Column("instance", String(64), nullable=False),
    Column("target", String(100), nullable=False),
    Column("request", Text, nullable=False),
    Column("attempts", Text, nullable=False, default="{}"),
    Column("error", Text, nullable=True),
    Column("ca_request_id", String(200), nullable=True),
    Column("idempotency_key", String(200), nullable=True, unique=True),
    Column("request_sha256", String(64), nullable=False),
    Column("version", Integer, nullable=False, default=1),
    # The job this one renews (a new key and certificate for the same target).
    Column("renews", String(32), nullable=True),
    # The number of the job's last event (the next one is last_seq + 1).
    Column("last_seq", Integer, nullable=False, server_default="0"),
    Index("ix_twoway_jobs_state_stage", "state", "stage"),
    Index("ix_twoway_jobs_renews", "renews"),
)
# Every list of jobs is newest first, (created_at DESC, id) paged by keyset: one index for
# the order and one per filter, so that a page reads its rows and no more (0009).
Index("ix_twoway_jobs_order", jobs.c.created_at.desc(), jobs.c.id)
for _column in ("state", "stage", "instance", "target"):
    Index(f"ix_twoway_jobs_{_column}_order", jobs.c[_column], jobs.c.created_at.desc(), jobs.c.id)
# Waiting jobs, the longest waiting first (updated_at: when the wait began).
Index("ix_twoway_jobs_state_updated", jobs.c.state, jobs.c.updated_at, jobs.c.id)

events = Table(
    "twoway_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("state", String(32), nullable=False),
    Column("stage", String(20), nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
    UniqueConstraint("job_id", "seq", name="uq_twoway_events_job_seq"),
    Index("ix_twoway_events_kind", "kind"),
)

# The certificate of each succeeded job, kept by its events (certificates.py, 0009): what is
# due is one indexed query, whatever the number of jobs.
certificates = Table(
    "twoway_certificates",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("instance", String(64), nullable=False),
    Column("target", String(100), nullable=False),
    Column("ca_profile", String(100), nullable=False),
    Column("protocol_profile", String(100), nullable=False),
    Column("keystore_record", String(100), nullable=False),
    Column("keystore_sys_id", String(32), nullable=True),
    Column("keystore_format", String(16), nullable=False, server_default="jks"),
    Column("serial", String(64), nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=False),
    Column("renewal_point", DateTime(timezone=True), nullable=False),
    Column("renew_before", String(20), nullable=True),  # the rule the point was set with
    Column("renews", String(32), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("replaced_by", String(32), nullable=True),  # the renewal that succeeded it
    Column("retired_at", DateTime(timezone=True), nullable=True),  # its keystore record's
    Column("retired_sys_id", String(32), nullable=True),
    Column("keystore_deleted", Boolean, nullable=False, server_default=false()),
    # How far retention pruned the job: 0 nothing, 1 its artifacts, 2 its history too.
    Column("pruned", Integer, nullable=False, server_default="0"),
    Index(
        "ix_twoway_certificates_due",
        "renewal_point",
        "job_id",
        postgresql_where=text("replaced_by IS NULL"),
        sqlite_where=text("replaced_by IS NULL"),
    ),
    Index("ix_twoway_certificates_not_after", "not_after", "job_id"),
    Index(  # what /metrics aggregates: the open certificates, read from the index alone
        "ix_twoway_certificates_open",
        "instance",
        "not_after",
        "renewal_point",
        postgresql_where=text("replaced_by IS NULL"),
        sqlite_where=text("replaced_by IS NULL"),
    ),
    Index("ix_twoway_certificates_instance", "instance", "not_after", "job_id"),
    Index(
        "ix_twoway_certificates_prunable",
        "retired_at",
        postgresql_where=text("keystore_deleted AND pruned < 2"),
        sqlite_where=text("keystore_deleted AND pruned < 2"),
    ),
    Index(
        "ix_twoway_certificates_retired",
        "retired_at",
        postgresql_where=text("retired_at IS NOT NULL AND NOT keystore_deleted"),
        sqlite_where=text("retired_at IS NOT NULL AND NOT keystore_deleted"),
    ),
)

# The events relay's cursor: the history is the outbox, and ``last_event_id`` is how far
# it has been published. One relay at a time holds the lease (several may run).
relay = Table(
    "twoway_relay",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("last_event_id", Integer, nullable=False),
    Column("owner", String(64), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

artifacts = Table(
    "twoway_artifacts",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("name", String(60), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("sealed", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outputs = Table(
    "twoway_outputs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("stage", String(20), primary_key=True),
    Column("message", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("forwarded", Boolean, nullable=False, default=False),
)

# Who is running a stage of a job right now: duplicates of a message wait for the lease,
# so that "find, else create" on the instance never runs twice at once for one job.
leases = Table(
    "twoway_leases",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("stage", String(20), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
)

# Call slots of each ServiceNow instance (its max_concurrent_calls): a call in flight holds
# one until ``until``, so a killed worker's slots come back when that time has passed.
instance_slots = Table(
    "twoway_instance_slots",
    metadata,
    Column("instance", String(64), primary_key=True),
    Column("slot", Integer, primary_key=True),
    Column("owner", String(64), nullable=True),
    Column("until", DateTime(timezone=True), nullable=True),
)

# Bearer tokens of the gateway's clients: only the SHA-256 of each token is kept.
tokens = Table(
    "twoway_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

# CA callback signatures already accepted (their SHA-256), so that a replayed callback is
# refused by every gateway process; rows older than the timestamp window are purged.
callback_signatures = Table(
    "twoway_callback_signatures",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("job_id", String(32), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
    Index("ix_twoway_callback_signatures_used_at", "used_at"),
)

# ACME accounts, one per CA profile and directory: the account key is sealed (it is made
# once, here, and never leaves the store); the account URL once the CA has registered it.
acme_accounts = Table(
    "twoway_acme_accounts",
    metadata,
    Column("profile", String(100), primary_key=True),
    Column("directory", String(500), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("url", String(500), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# ACME orders by request key (the job id): written as soon as the CA made the order, so a
# redelivered or restarted wait-for-ca finds it and never makes a second one. The CSR is
# public and kept for the finalize that a later poll may do.
acme_orders = Table(
    "twoway_acme_orders",
    metadata,
    Column("profile", String(100), primary_key=True),
    Column("request_key", String(200), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("csr", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Challenges answered (their URLs): a CA may keep an answered challenge "pending" until it
# has validated it, so a later run must know not to publish and answer it again.
acme_answers = Table(
    "twoway_acme_answers",
    metadata,
    Column("challenge_url", String(500), primary_key=True),
    Column("profile", String(100), nullable=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
)

# The revocation outbox: one row per certificate (its job) to revoke at its CA, filled by
# the revoker from the history (cursor ``revoker`` in twoway_relay) and worked by it:
# pending until the CA has revoked (done), a person was asked (asked) or it gave up.
revocations = Table(
    "twoway_revocations",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("profile", String(100), nullable=False),
    Column("serial", String(64), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_twoway_revocations_due", "state", "next_at"),
)

# The notification outbox: one row per event and channel (so none is sent twice), filled
# by the notifier from the history (cursor ``notifier``): pending, sent, or dead (given up
# after the configured tries; listed for an operator).
notifications = Table(
    "twoway_notifications",
    metadata,
    Column("event_id", Integer, primary_key=True),
    Column("channel", String(40), primary_key=True),
    Column("job_id", String(32), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Index("ix_twoway_notifications_due", "state", "next_at"),
)

# Bulk migrations onto another CA (levers/migrate.py): one row per certificate of a batch,
# in waves. A wave starts (its renewals are created) when the wave before it has ended
# with nothing failed; queued until then, withdrawn when an operator stops the batch.
migrations = Table(
    "twoway_migrations",
    metadata,
    Column("batch", String(12), primary_key=True),
    Column("job_id", String(32), primary_key=True),  # the certificate's job
    Column("instance", String(64), nullable=False),
    Column("target", String(100), nullable=False),
    Column("ca", String(64), nullable=False),
    Column("wave", Integer, nullable=False),
    Column("state", String(12), nullable=False),  # queued | started | skipped | withdrawn
    Column("renewal", String(32), nullable=True),
    Column("note", Text, nullable=True),  # why it was skipped or withdrawn
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Index("ix_twoway_migrations_state", "state", "batch"),
)
