"""The conformance kit's read-only checks of the wire: paths, envelopes, status codes,
string values, dictionary types and attachment fields, as twoway assumes them
(docs/servicenow.md; servicenow-api.md 2, 5). Each names what it saw."""

from __future__ import annotations

from typing import Any

from workers.readiness.doctor_model import Check, Status
from workers.servicenow import ServiceNowClient

__all__ = ["attachment_checks", "dictionary_checks", "metadata_checks", "wire_checks"]

_NONE = "name=twoway.conformance.no.such.property"
# servicenow-api.md 2.3: the Attachment API's documented metadata fields
_ATTACHMENT_FIELDS = frozenset({
    "content_type", "download_link", "file_name", "size_bytes", "size_compressed",
    "sys_created_on", "sys_id", "table_name", "table_sys_id",
})  # fmt: skip
# (table, column) -> (internal type, referenced table or ""); the password column's type
# is discovered at run time (fact_checks reports it), so it is not assumed here
_TYPES = {
    ("sys_certificate", "type"): ("string", ""),
    ("sys_protocol_profile", "keystore"): ("reference", "sys_certificate"),
    ("sys_rest_message", "use_mutual_auth"): ("boolean", ""),
    ("sys_rest_message", "protocol_name"): ("reference", "sys_protocol_profile"),
    ("sys_rest_message_fn", "rest_message"): ("reference", "sys_rest_message"),
}


def _check(name: str, ok: bool | None, saw: str, assumed: str, group: str = "wire") -> Check:
    status: Status = "unknown" if ok is None else ("pass" if ok else "fail")
    return Check(group=group, name=name, status=status, detail=saw, fix="" if ok else assumed)


def _is_error_envelope(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return (
        isinstance(error, dict)
        and isinstance(error.get("message"), str)
        and "detail" in error
        and body.get("status") == "failure"
    )


def wire_checks(client: ServiceNowClient) -> list[Check]:
    """Envelopes and status codes of the Table API (5.1, 5.3, 5.4)."""
    status, body = client.probe("/api/now/v2/table/sys_properties", {"sysparm_limit": "1"})
    rows = body.get("result") if isinstance(body, dict) else None
    one = rows[0] if isinstance(rows, list) and rows else {}
    strings = all(isinstance(v, str) for v in one.values()) if one else None
    v1_status, v1_body = client.probe("/api/now/v1/table/sys_properties", {"sysparm_query": _NONE})
    v2_status, v2_body = client.probe("/api/now/v2/table/sys_properties", {"sysparm_query": _NONE})
    missing, missing_body = client.probe("/api/now/v2/table/sys_properties/" + "0" * 32)
    return [
        _check(
            "GET a table: 200 {result: [...]}",
            status == 200 and isinstance(rows, list),
            f"{status}, result is {type(rows).__name__}",
            "5.1/5.3: 200 and a result list",
        ),
        _check(
            "every value a string",
            strings,
            "yes" if strings else f"row: {one!r:.80}",
            "5.3: the Table API answers every value as a string",
        ),
        _check(
            "v1, nothing matches: 404 error envelope",
            v1_status == 404 and _is_error_envelope(v1_body),
            f"{v1_status}",
            "5.1: v1 answers 404 with {error: {message, detail}, status: failure}",
        ),
        _check(
            "v2, nothing matches: 200 []",
            v2_status == 200 and isinstance(v2_body, dict) and v2_body.get("result") == [],
            f"{v2_status} {v2_body!r:.60}",
            "5.1: v2 answers 200 with an empty result",
        ),
        _check(
            "a missing record: 404 error envelope",
            missing == 404 and _is_error_envelope(missing_body),
            f"{missing}",
            "5.4: 404 with the envelope",
        ),
    ]


def dictionary_checks(client: ServiceNowClient) -> list[Check]:
    """The internal types and references twoway relies on (1.4, 3, 4.1, 4.2)."""
    checks = []
    for (table, column), (kind, reference) in _TYPES.items():
        rows = client.query(
            "sys_dictionary",
            {"name": table, "element": column},
            fields=("internal_type", "reference"),
        )
        seen = (
            (str(rows[0].get("internal_type", "")), str(rows[0].get("reference", "")))
            if rows
            else None
        )
        ok = None if seen is None else seen[0] == kind and (not reference or seen[1] == reference)
        saw = (
            "not visible" if seen is None else f"{seen[0]}" + (f" -> {seen[1]}" if seen[1] else "")
        )
        wanted = kind + (f" -> {reference}" if reference else "")
        checks.append(
            _check(
                f"{table}.{column} is {wanted}",
                ok,
                saw,
                f"twoway assumes {wanted}",
                group="dictionary",
            )
        )
    return checks


def attachment_checks(client: ServiceNowClient) -> list[Check]:
    """The Attachment API's list answer (2.3, 2.4, 2.5): documented fields, all strings."""
    status, body = client.probe("/api/now/attachment", {"sysparm_limit": "1"})
    rows = body.get("result") if isinstance(body, dict) else None
    listed = _check(
        "GET /attachment: 200 {result: [...]}",
        status == 200 and isinstance(rows, list),
        f"{status}",
        "2.4",
        group="attachment",
    )
    if not rows:
        return [
            listed,
            _check(
                "attachment metadata fields",
                None,
                "no attachment to read",
                "run with --scratch to upload one",
                group="attachment",
            ),
        ]
    return [listed, *metadata_checks(rows[0], "listed")]


def metadata_checks(meta: dict[str, Any], where: str, sha256: str = "") -> list[Check]:
    """One attachment's metadata: documented fields, strings, and the hash when present."""
    missing = sorted(_ATTACHMENT_FIELDS - set(meta))
    strings = all(isinstance(v, str) for v in meta.values())
    digest = str(meta.get("hash", ""))
    checks = [
        _check(
            f"{where} attachment: documented fields, all strings",
            not missing and strings,
            f"missing: {', '.join(missing)}"
            if missing
            else f"{len(meta)} fields, strings"
            if strings
            else "non-string values",
            "2.3: every documented field, as a string",
            group="attachment",
        ),
        _check(
            f"{where} attachment: hash",
            True
            if not digest
            else (digest == sha256 if sha256 else len(digest) == 64 and digest == digest.lower()),
            f"hash {digest[:16]}..., state {meta.get('state', '(none)')}"
            if digest
            else "no hash: twoway reads sys_attachment instead",
            "2.5: lower-case hex SHA-256",
            group="attachment",
        ),
    ]
    return checks
