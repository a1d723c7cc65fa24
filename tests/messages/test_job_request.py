"""A job request validates each field and names it when it refuses."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from messages import JobRequest, KeyType
from tests.factories import CERT, PEM, good


def refusal(changes: dict[str, Any], drop: tuple[str, ...] = ()) -> str:
    raw = {**good(), **changes}
    for path in drop:
        head, _, tail = path.partition(".")
        if tail:
            raw[head] = {k: v for k, v in raw[head].items() if k != tail}
        else:
            raw.pop(head)
    with pytest.raises(ValidationError) as info:
        JobRequest.model_validate(raw)
    return str(info.value)


def test_a_good_request_validates() -> None:
    request = JobRequest.model_validate(good())
    assert request.key.type is KeyType.EC256
    assert request.schema_version == 2  # keystore.format arrived with 2


def test_keystore_format_defaults_to_jks_and_pkcs12_needs_version_2() -> None:
    from messages import KeystoreFormat

    assert JobRequest.model_validate(good()).keystore.format is KeystoreFormat.JKS
    keystore = {**good()["keystore"], "format": "pkcs12"}
    assert JobRequest.model_validate({**good(), "keystore": keystore}).keystore.format == "pkcs12"
    old = JobRequest.model_validate({**good(), "schema_version": 1})  # still accepted
    assert old.schema_version == 1 and old.keystore.format is KeystoreFormat.JKS
    assert "schema_version 2" in refusal({"schema_version": 1, "keystore": keystore})
    assert "keystore.format" in refusal({"keystore": {**keystore, "format": "pem"}})


def test_missing_cn_names_subject_cn() -> None:
    assert "subject.cn" in refusal({}, drop=("subject.cn",))


def test_key_size_not_offered_lists_what_is() -> None:
    text = refusal({"key": {"type": "rsa1024"}})
    assert "key.type" in text and "rsa2048" in text and "ec384" in text


@pytest.mark.parametrize("name", ["https", "http"])
def test_existing_protocol_names_are_refused(name: str) -> None:
    text = refusal({"protocol_profile": {"name": name}})
    assert "protocol_profile.name" in text and "existing protocol" in text


@pytest.mark.parametrize("name", ["MAuth", "m-auth", "m auth", ""])
def test_protocol_name_must_be_lower_case_letters_and_digits(name: str) -> None:
    text = refusal({"protocol_profile": {"name": name}})
    assert "protocol_profile.name" in text and "lower-case letters and digits" in text


def test_malformed_server_certificate_names_the_field() -> None:
    text = refusal({"server_certificate": {"pem": "-----BEGIN CERTIFICATE-----\nnope\n"}})
    assert "server_certificate" in text and "not an X.509 certificate" in text


def test_server_certificate_as_der_base64_is_accepted() -> None:
    der = base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()
    request = JobRequest.model_validate({**good(), "server_certificate": {"der_b64": der}})
    assert request.server_certificate.der_bytes() == CERT.public_bytes(serialization.Encoding.DER)


def test_server_certificate_needs_exactly_one_form() -> None:
    der = base64.b64encode(b"x").decode()
    text = refusal({"server_certificate": {"pem": PEM, "der_b64": der}})
    assert "exactly one" in text


def test_unknown_keys_are_refused() -> None:
    assert "extra" in refusal({"colour": "blue"}).lower()


def test_country_must_be_two_letters() -> None:
    assert "subject.c" in refusal({"subject": {"cn": "x", "c": "Germany"}})


def test_dns_sans_must_be_dns_names() -> None:
    assert "dns_sans" in refusal({"dns_sans": ["not a name!"]})


def test_alias_must_be_lower_case() -> None:
    assert "keystore.alias" in refusal({"keystore": {"record_name": "r", "alias": "Payments"}})


def test_messages_are_frozen() -> None:
    request = JobRequest.model_validate(good())
    with pytest.raises(ValidationError):
        request.instance = "other"  # type: ignore[misc]


def test_a_pinned_fetch_is_a_third_way_to_give_the_server_certificate() -> None:
    pin = "AB:" * 31 + "AB"
    request = JobRequest.model_validate(
        {**good(), "server_certificate": {"fetch": {"host": "API.Partner.example", "sha256": pin}}}
    )
    fetch = request.server_certificate.fetch
    assert fetch is not None and fetch.sha256 == "ab" * 32 and fetch.host == "api.partner.example"
    assert fetch.port == 443


@pytest.mark.parametrize(
    ("fetch", "field"),
    [
        ({"host": "api.example", "sha256": "abc"}, "sha256"),
        ({"host": "not a host!", "sha256": "ab" * 32}, "host"),
        ({"host": "*.example", "sha256": "ab" * 32}, "host"),
        ({"host": "api.example", "sha256": "ab" * 32, "port": 0}, "port"),
    ],
)
def test_a_bad_fetch_names_its_field(fetch: dict[str, object], field: str) -> None:
    assert f"server_certificate.fetch.{field}" in refusal({"server_certificate": {"fetch": fetch}})


def test_fetch_and_pem_together_are_refused() -> None:
    both = {"pem": PEM, "fetch": {"host": "api.example", "sha256": "ab" * 32}}
    assert "exactly one of 'pem', 'der_b64' or 'fetch'" in refusal({"server_certificate": both})


def test_an_oversized_certificate_is_refused_by_length() -> None:
    assert "server_certificate.pem" in refusal({"server_certificate": {"pem": "A" * 70_000}})
