"""What a notification says: one ``Notice`` per event, rendered as twoway's JSON, a Slack
message, a Teams (Workflows) adaptive card, or a mail.

A notice carries ids, names and the event's detail as the history holds it (which never
holds a secret), what happened, what a person must do, and by when.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from workers.store import JobRecord
from workers.store.outbox import OutboxEvent

__all__ = ["Notice", "notice_for", "render"]

_TITLES = {
    "waiting_for_ca": "Waiting for the CA to sign",
    "waiting_for_third_party": "Waiting for the third party to install our certificate",
    "certificate_expiring": "Certificate due for renewal",
    "job_failed": "Job failed",
    "renewal_failed": "Renewal failed",
    "partner_certificate_changed": "The third party's server certificate changed",
    "partner_certificate_expiring": "The third party's server certificate expires soon",
    "revocation_failed": "Revocation failed",
    "revocation_asked": "Revocation to be done at the CA",
    "certificate_revoked_by_ca": "The CA revoked one of our certificates",
}
_ACTIONS = {
    "waiting_for_ca": "have the CA sign the CSR (twoway csr {job}); it calls back, or"
    " resume: twoway resume {job} --certificate FILE",
    "waiting_for_third_party": "send the client certificate (GET /v1/jobs/{job}/certificate)"
    " to the third party; once installed: POST /v1/jobs/{job}/partner-installed",
    "certificate_expiring": "nothing if renewal runs (twoway certificates shows it);"
    " otherwise renew: twoway renew {job} --reason ...",
    "job_failed": "read the error (twoway status {job}), fix its cause, then"
    " twoway replay {job} --reason ...",
    "renewal_failed": "the old certificate stays in use; read why (twoway status {job}),"
    " fix it; the scheduler tries again later",
    "partner_certificate_changed": "check the new server certificate with the third party"
    " and register it (a job with its new SHA-256 pin)",
    "partner_certificate_expiring": "ask the third party for its next server certificate"
    " and register it before it expires",
    "revocation_failed": "revoke the certificate at the CA by hand (serial in the detail)",
    "revocation_asked": "ask the CA to revoke the certificate (serial and issuer in the detail)",
    "certificate_revoked_by_ca": "twoway renews it at once; watch the renewal"
    " (twoway certificates) and ask the CA why it revoked",
}


@dataclass(frozen=True)
class Notice:
    id: str  # "<job id>:<seq>": the same event always has the same id
    kind: str
    event: str
    job_id: str
    instance: str
    target: str
    state: str
    stage: str | None
    at: str
    title: str
    action: str
    deadline: str | None
    link: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"schema_version": 1, **asdict(self)}

    def text(self) -> str:
        lines = [
            f"{self.title}: {self.target} on {self.instance} (job {self.job_id})",
            f"What to do: {self.action}",
        ]
        if self.deadline:
            lines.append(f"Deadline: {self.deadline}")
        if self.link:
            lines.append(f"Job: {self.link}")
        lines.append(f"Event {self.id} ({self.event}) at {self.at}")
        return "\n".join(lines)


def notice_for(
    item: OutboxEvent,
    kind: str,
    job: JobRecord,
    *,
    deadline: datetime | None = None,
    console_url: str | None = None,
) -> Notice:
    """The notice of ``item`` (``deadline``: until when a waiting job may wait)."""
    event = item.event
    return Notice(
        id=f"{event.job_id}:{event.seq}",
        kind=kind,
        event=event.kind,
        job_id=event.job_id,
        instance=job.request.instance,
        target=job.request.target.name,
        state=event.state.value,
        stage=event.stage.value if event.stage else None,
        at=event.at.isoformat(),
        title=_TITLES.get(kind, kind),
        action=_ACTIONS.get(kind, "see the job's history").format(job=event.job_id),
        deadline=deadline.isoformat() if deadline else None,
        link=f"{console_url.rstrip('/')}/jobs/{event.job_id}" if console_url else None,
        detail=dict(event.detail),
    )


def render(notice: Notice, style: str) -> dict[str, Any]:
    """The webhook body in ``style``: ``json``, ``slack`` or ``teams``."""
    if style == "slack":
        return {
            "text": notice.text(),
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": notice.title}},
                {"type": "section", "text": {"type": "mrkdwn", "text": notice.text()}},
            ],
        }
    if style == "teams":
        facts = [
            {"title": "Job", "value": notice.job_id},
            {"title": "Target", "value": notice.target},
        ]
        if notice.deadline:
            facts.append({"title": "Deadline", "value": notice.deadline})
        card = {
            "type": "AdaptiveCard",
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.4",
            "body": [
                {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": notice.title},
                {"type": "TextBlock", "wrap": True, "text": notice.action},
                {"type": "FactSet", "facts": facts},
            ],
        }
        content = {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        return {"type": "message", "attachments": [content]}
    return notice.as_json()
