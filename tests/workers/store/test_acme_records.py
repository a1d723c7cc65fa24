"""The acme adapter's records: first writer wins for account keys and orders; the
account keys are sealed and follow a master-key rotation."""

from __future__ import annotations

from workers.sealing import Sealer
from workers.store import Store

DIRECTORY = "https://ca.example/acme/directory"


def test_the_first_account_key_stored_is_the_one_kept(store_url: str) -> None:
    store = Store(store_url, Sealer([Sealer.generate_key()]))
    first = store.acme.keep_account_key("corp", DIRECTORY, b"KEY ONE")
    second = store.acme.keep_account_key("corp", DIRECTORY, b"KEY TWO")  # a racing worker
    assert first.key_pem == second.key_pem == b"KEY ONE" and second.url is None
    store.acme.set_account_url("corp", DIRECTORY, "https://ca.example/acct/1")
    assert store.acme.account("corp", DIRECTORY) is not None
    assert store.acme.account("corp", "https://other.example/dir") is None  # per directory


def test_the_first_order_stored_for_a_request_key_is_the_one_kept(store_url: str) -> None:
    store = Store(store_url, Sealer([Sealer.generate_key()]))
    kept = store.acme.keep_order("corp", "job-1", "https://ca.example/order/1", b"CSR")
    again = store.acme.keep_order("corp", "job-1", "https://ca.example/order/2", b"CSR")
    assert kept == again and again.url.endswith("/order/1")
    assert store.acme.order_at("corp", "https://ca.example/order/1") == kept
    assert store.acme.order("other-profile", "job-1") is None
    assert store.acme.count_orders("corp") == 1


def test_account_keys_are_resealed_with_the_master_key(store_url: str) -> None:
    old, new = Sealer.generate_key(), Sealer.generate_key()
    store = Store(store_url, Sealer([old]))
    store.acme.keep_account_key("corp", DIRECTORY, b"THE KEY")
    assert store.acme.reseal_all(Sealer([new, old])) == 1
    account = Store(store_url, Sealer([new])).acme.account("corp", DIRECTORY)
    assert account is not None and account.key_pem == b"THE KEY"


def test_an_answered_challenge_is_remembered_once(store_url: str) -> None:
    store = Store(store_url, Sealer([Sealer.generate_key()]))
    url = "https://ca.example/chall/1"
    assert not store.acme.answered(url)
    store.acme.mark_answered("corp", url)
    store.acme.mark_answered("corp", url)  # a second run that raced the first
    assert store.acme.answered(url)
