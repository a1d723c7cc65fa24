"""``plan`` of a SOAP job on the default sandbox, which follows ServiceNow's own SOAP
script includes: the message and its function change through their own columns."""

from __future__ import annotations

from pathlib import Path

from tests.workers.readiness.plan_fixtures import job, sandbox_registry, writes
from workers.readiness.plan import plan_job


def test_plan_lists_the_soap_message_and_each_function(tmp_path: Path) -> None:
    with sandbox_registry() as (srv, config, instances):
        request = job(target={"kind": "soap", "name": "Ledger SOAP"})
        plan = plan_job(request, config, instances, state_dir=tmp_path)
        assert plan.ready, plan.refusals
        changed = {
            (r.table, r.name): {f.field: (f.before, f.after) for f in r.fields}
            for r in plan.changes
        }
        wanted = {"enable_mutual_auth": ("false", "true"), "protocol_profile": ("", "mauthpay2")}
        assert changed == {
            ("sys_soap_message", "Ledger SOAP"): wanted,
            ("sys_soap_message_function", "execute"): wanted,
        }
        assert writes(srv) == []
