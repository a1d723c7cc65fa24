"""``twoway discover`` as a person reads it: one table a kind of record, then the findings."""

from __future__ import annotations

from typing import Any

from ops.cli.output import table

__all__ = ["render_estate"]


def _short(text: str | None, width: int = 44) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 1] + "…"


def _key(cert: dict[str, Any]) -> str:
    if cert["key_type"] == "unknown":
        return "unknown"
    return f"{cert['key_type']} {cert['key_size'] or ''}".strip()


def _ekus(cert: dict[str, Any]) -> str:
    ekus = cert["ekus"]
    return "unknown" if ekus is None else (",".join(ekus) or "any")


def _certificates(report: dict[str, Any]) -> str:
    rows = []
    for record in report["certificates"]:
        cert = record["certificate"]
        rows.append(
            [
                record["kind"],
                _short(record["name"], 30),
                "yes" if record["active"] else "no",
                _short(cert["subject"], 36),
                _short(cert["issuer"], 36),
                _key(cert),
                _ekus(cert),
                (cert["not_after"] or "unknown")[:10],
                cert["days_left"] if cert["days_left"] is not None else "?",
                ",".join(record["profiles"]),
            ]
        )
    headers = [
        "kind",
        "name",
        "active",
        "subject",
        "issuer",
        "key",
        "ekus",
        "not_after",
        "days",
        "profiles",
    ]
    return table(rows, headers)


def _profiles(report: dict[str, Any]) -> str:
    names = {c["sys_id"]: c["name"] for c in report["certificates"]}
    rows = [
        [
            p["protocol"],
            p["port"],
            names.get(p["keystore"] or "", p["keystore"] or ""),
            p["keystore_state"],
            ", ".join(p["used_by"]),
        ]
        for p in report["profiles"]
    ]
    return table(rows, ["protocol", "port", "keystore", "keystore_state", "used_by"])


def _messages(report: dict[str, Any]) -> str:
    rows = [
        [
            m["kind"],
            m["name"],
            m["protocol"] or m["profile"] or (f"none ({m['scheme']})" if m.get("scheme") else ""),
            m.get("via", "checkbox"),
            _short(m["endpoint"], 40),
            ",".join(m["methods"]),
        ]
        for m in report["messages"]
    ]
    return table(rows, ["kind", "name", "profile", "via", "endpoint", "methods on mutual auth"])


def _partners(report: dict[str, Any]) -> str:
    seen, rows = set(), []
    names = {c["sys_id"]: c["name"] for c in report["certificates"]}
    for probe in report["partners"]:
        if probe["endpoint"] in seen:
            continue
        seen.add(probe["endpoint"])
        presented = probe["presented"] or {}
        trusted = ", ".join(names.get(s, s) for s in probe["trusted_by"])
        rows.append(
            [
                _short(probe["endpoint"], 40),
                _short(presented.get("subject") or probe["reason"], 40),
                (presented.get("not_after") or "")[:10],
                trusted or ("NONE" if probe["probed"] else "not probed"),
            ]
        )
    return table(rows, ["endpoint", "presents", "not_after", "trusted by"])


def _findings(report: dict[str, Any]) -> str:
    lines = []
    for finding in report["findings"]:
        lines.append(f"{finding['severity'].upper():8}  {finding['code']}  {finding['record']}")
        lines.append(f"          {finding['message']}")
        lines.append(f"          fix: {finding['fix']}")
    return "\n".join(lines) or "no findings"


def render_estate(report: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for finding in report["findings"]:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "none"
    head = (
        f"instance {report['instance']} ({report['url']}): {len(report['certificates'])}"
        f" certificates, {len(report['profiles'])} protocol profiles,"
        f" {len(report['messages'])} messages on mutual auth; {report['calls']} calls;"
        f" findings: {summary}"
    )
    legacy = "\n".join(report["legacy_properties"]) or "none"
    parts = [
        head,
        "KEYSTORES AND TRUST STORE CERTS\n" + _certificates(report),
        "PROTOCOL PROFILES\n" + _profiles(report),
        "MESSAGES ON MUTUAL AUTH\n" + _messages(report),
        "PARTNERS (the server certificate each endpoint presents)\n" + _partners(report),
        "LEGACY PROTOCOL PROPERTIES\n" + legacy,
        "FINDINGS\n" + _findings(report),
    ]
    return "\n\n".join(parts)
