"""The sandbox's equality indexes answer exactly as a scan of the table would: the same
rows in the same order, through creates, changes, deletes and the platform's own derived
writes, so that a lookup's speed does not depend on the instance's size."""

from __future__ import annotations

import random

from ops.dev.sandbox import SandboxServer
from ops.dev.sandbox.store import SandboxStore

TABLE = "sys_certificate"
NAMES = [f"n{i}" for i in range(6)]
TYPES = ["trust_store", "key_store", "certificate"]


def scanned(rows: list[dict[str, str]], **wanted: str) -> list[str]:
    return [r["sys_id"] for r in rows if all(r[f] == v for f, v in wanted.items())]


def looked_up(store: SandboxStore, query: str) -> list[str]:
    return [r["sys_id"] for r in store.select(TABLE, query)]


def test_lookups_by_index_equal_a_scan_through_random_writes() -> None:
    server = SandboxServer()  # not started: its store is all this test needs
    store, rnd = server.store, random.Random(7)
    made: list[str] = []
    for step in range(400):
        action = rnd.choice(["insert", "insert", "update", "delete", "derived"])
        if action == "insert" or not made:
            values = {"name": f"{rnd.choice(NAMES)}-{step}", "type": rnd.choice(TYPES)}
            made.append(store.insert(TABLE, values, "admin")["sys_id"])
        elif action == "update":
            store.update(TABLE, rnd.choice(made), {"type": rnd.choice(TYPES)}, "admin")
        elif action == "delete":
            store.delete(TABLE, made.pop(rnd.randrange(len(made))), "admin")
        else:  # what the platform writes itself, without hooks
            store.set_stored(TABLE, rnd.choice(made), {"short_description": rnd.choice(NAMES)})
        rows = store.dump()[TABLE]
        for kind in TYPES:
            assert looked_up(store, f"type={kind}") == scanned(rows, type=kind)
        for name in NAMES:
            query = f"short_description={name}^type=key_store"
            both = scanned(rows, short_description=name, type="key_store")
            assert looked_up(store, query) == both


def test_a_query_narrows_on_its_most_selective_clause_and_keeps_the_rest() -> None:
    store = SandboxServer().store
    for i in range(30):
        store.insert(TABLE, {"name": f"c{i}", "type": "trust_store", "active": "true"}, "admin")
    target = store.find(TABLE, "name", "c17")[0]["sys_id"]
    assert looked_up(store, "type=trust_store^name=c17") == [target]
    assert looked_up(store, "type=key_store^name=c17") == []
    assert looked_up(store, "name=c17^ORname=c18") == [
        target,
        store.find(TABLE, "name", "c18")[0]["sys_id"],
    ]
