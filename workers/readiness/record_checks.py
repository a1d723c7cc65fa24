"""What the instance already holds that a job's records would collide with: one rule,
used by admission (before the CA signs anything) and by ``plan`` (which shows them all).

- a certificate record named as the job's keystore exists: the job uses only a record it
  created, so ``upload-keystore`` would fail;
- the job's protocol profile exists and uses another keystore, and the request does not
  say ``rotate``: ``create-profile`` would fail.
"""

from __future__ import annotations

from messages import JobRequest
from workers.errors import RequestInvalid
from workers.servicenow import Instance
from workers.servicenow.survey import certificates_named

__all__ = ["keystore_name_refusal", "profile_refusal", "record_refusals"]


def keystore_name_refusal(request: JobRequest, instance: Instance) -> RequestInvalid | None:
    """The refusal when a certificate record of the keystore's name exists."""
    name = request.keystore.record_name
    taken = certificates_named(instance.client, name)
    if not taken:
        return None
    return RequestInvalid(
        f"keystore.record_name: a certificate record named {name!r} exists (sys_id"
        f" {', '.join(str(r['sys_id']) for r in taken)}); the job uses only a record it"
        " created",
        hint="choose another keystore.record_name (a job submitted again needs a new one,"
        " or the same Idempotency-Key to get the first job back)",
    )


def profile_refusal(request: JobRequest, old_keystore: str) -> RequestInvalid | None:
    """The refusal when the job's protocol profile exists (using ``old_keystore``) and the
    request does not ask to rotate it."""
    if request.rotate:
        return None
    return RequestInvalid(
        f"protocol_profile.name: protocol profile {request.protocol_profile.name!r} exists"
        f" and uses another keystore record ({old_keystore!r})",
        hint="choose another protocol name, or set rotate: true to move the profile (and"
        " every message using it) to the new keystore",
    )


def record_refusals(request: JobRequest, instance: Instance) -> list[RequestInvalid]:
    """Both checks against the instance as it is now (read-only)."""
    refusals = []
    keystore = keystore_name_refusal(request, instance)
    if keystore is not None:
        refusals.append(keystore)
    found = instance.find_protocol_profile(request.protocol_profile.name)
    if found is not None:
        old = instance.profile_in_use(found.sys_id)
        refusal = profile_refusal(request, old.keystore_name or found.keystore or "(none)")
        if refusal is not None:
            refusals.append(refusal)
    return refusals
