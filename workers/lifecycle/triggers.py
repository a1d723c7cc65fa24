"""Which events of the history ask for a revocation, and which a person must hear of.

Both followers (the revoker and the notifier) read the history in order and ask these
two functions about each event; nothing else decides.
"""

from __future__ import annotations

from messages import JobState
from workers.store.outbox import OutboxEvent

__all__ = ["REVOKE_TRIGGERS", "notify_kind", "revocation_trigger"]

# event kind -> (revoke_on trigger, RFC 5280 reason)
REVOKE_TRIGGERS: dict[str, tuple[str, str]] = {
    "keystore_deleted": ("retired", "superseded"),  # retired by a renewal, grace passed
    "rolled_back": ("rolled_back", "cessation_of_operation"),
    "job_cancelled": ("cancelled", "cessation_of_operation"),
}
_AS_IS = frozenset(
    {
        "certificate_expiring",
        "renewal_failed",
        "partner_certificate_changed",
        "partner_certificate_expiring",
        "revocation_failed",
        "revocation_asked",
        "certificate_revoked_by_ca",
    }
)
_PAUSES = frozenset({JobState.WAITING_FOR_CA, JobState.WAITING_FOR_THIRD_PARTY})


def revocation_trigger(item: OutboxEvent) -> tuple[str, str] | None:
    """``(trigger, reason)`` when the event retires its job's certificate, else None."""
    return REVOKE_TRIGGERS.get(item.event.kind)


def notify_kind(item: OutboxEvent, *, renews: str | None) -> str | None:
    """The notification an event makes (``renews``: the job its job renews), or None."""
    event = item.event
    if event.kind in _AS_IS:
        return event.kind
    if event.state in _PAUSES and item.state_changed:
        return event.state.value
    if event.state is JobState.FAILED and item.state_changed:
        return "renewal_failed" if renews else "job_failed"
    return None
