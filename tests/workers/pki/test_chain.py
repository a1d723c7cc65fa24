"""check_issued: every way a certificate can be wrong, and success with 1 and 2 intermediates.

Good chains come from LocalCa; bad ones are made by hand with Authority.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from messages.job import KeyType, SubjectName
from workers.ca import Issued, LocalCa
from workers.errors import CertificateRejected
from workers.pki import (
    Authority,
    cert_to_pem,
    check_issued,
    general_names,
    generate_private_key,
    subject_name,
)

if TYPE_CHECKING:
    from conftest import Enrollment

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def root() -> Authority:
    return Authority.new_root("Hand Root", organization="Hand", path_length=1)


@pytest.fixture(scope="module")
def intermediate(root: Authority) -> Authority:
    return root.new_intermediate("Hand Intermediate", path_length=0)


def leaf_for(ca: Authority, enrollment: Enrollment, **overrides: Any) -> x509.Certificate:
    arguments: dict[str, Any] = {
        "subject": subject_name(enrollment.subject),
        "sans": general_names(enrollment.dns_sans),
    }
    arguments.update(overrides)
    public_key = arguments.pop("public_key_pem", enrollment.csr_pem)
    return ca.issue(public_key, arguments.pop("subject"), **arguments)


def check(
    enrollment: Enrollment,
    leaf: x509.Certificate,
    chain: Sequence[x509.Certificate],
    **overrides: Any,
) -> Any:
    arguments: dict[str, Any] = {
        "certificate_pem": cert_to_pem(leaf),
        "chain_pem": b"".join(cert_to_pem(cert) for cert in chain),
        "csr_pem": enrollment.csr_pem,
        "subject": enrollment.subject,
        "dns_sans": enrollment.dns_sans,
        "min_remaining": timedelta(days=30),
        "now": datetime.now(UTC),  # not NOW: the CAs here may issue long after import
    }
    arguments.update(overrides)
    return check_issued(**arguments)


# -- success ---------------------------------------------------------------------------


def test_local_ca_with_one_intermediate(
    issued: Issued, enrollment: Enrollment, local_ca: LocalCa
) -> None:
    chain = check(enrollment, *_split(issued))
    assert len(chain.intermediates) == 1
    assert chain.leaf_pem == issued.certificate_pem
    assert chain.ca_chain_pem == local_ca.ca_chain_pem
    assert chain.all_certs == (chain.leaf, *chain.intermediates, chain.root)
    assert chain.leaf_der.startswith(b"\x30")
    assert cert_to_pem(chain.root) == local_ca.root_pem


def test_local_ca_with_two_intermediates_given_in_any_order(
    local_ca_two: LocalCa, enrollment: Enrollment
) -> None:
    issued = local_ca_two.submit(enrollment.csr_pem, request_key="two-intermediates")
    assert isinstance(issued, Issued)
    leaf, cas = _split(issued)
    shuffled = [cas[2], cas[0], leaf, cas[1]]  # root first, the leaf repeated
    chain = check(enrollment, leaf, shuffled, trusted_roots=[local_ca_two.root_pem])
    assert chain.intermediates == (cas[0], cas[1])  # leaf side first
    assert chain.root == cas[2]


def test_missing_root_is_completed_from_trusted_roots(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    leaf = leaf_for(intermediate, enrollment)
    trusted = [cert_to_pem(root.certificate)]
    chain = check(enrollment, leaf, [intermediate.certificate], trusted_roots=trusted)
    assert chain.root == root.certificate


def test_no_eku_extension_is_accepted(
    intermediate: Authority, root: Authority, enrollment: Enrollment
) -> None:
    leaf = leaf_for(intermediate, enrollment, extended_key_usage=None)
    check(enrollment, leaf, [intermediate.certificate, root.certificate])


# -- failures --------------------------------------------------------------------------


def rejected(*args: Any, **kwargs: Any) -> str:
    with pytest.raises(CertificateRejected) as caught:
        check(*args, **kwargs)
    return caught.value.message


def test_certificate_for_another_key(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    other = generate_private_key(KeyType.EC256)
    leaf = leaf_for(intermediate, enrollment, public_key_pem=other)
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert message.startswith("public_key: ")
    assert "does not carry the CSR's public key" in message


def test_chain_whose_signature_does_not_verify(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    impostor = root.new_intermediate("Hand Intermediate")  # same name, another key
    leaf = leaf_for(intermediate, enrollment)
    message = rejected(enrollment, leaf, [impostor.certificate, root.certificate])
    assert message.startswith("chain: ")
    assert "signature does not verify" in message


def test_a_chain_verified_before_does_not_vouch_for_an_impostor_of_its_name(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    """Signature checks are remembered per pair of certificates (their bytes), not names."""
    leaf = leaf_for(intermediate, enrollment)
    check(enrollment, leaf, [intermediate.certificate, root.certificate])  # verified, kept
    impostor = root.new_intermediate("Hand Intermediate")  # same name, another key
    message = rejected(enrollment, leaf, [impostor.certificate, root.certificate])
    assert "signature does not verify" in message
    forged_root = Authority.new_root("Hand Root", organization="Hand", path_length=1)
    forged = forged_root.new_intermediate("Hand Intermediate", path_length=0)
    message = rejected(
        enrollment, leaf_for(forged, enrollment), [forged.certificate, root.certificate]
    )
    assert message.startswith("chain: ")


def test_chain_without_root_is_refused(intermediate: Authority, enrollment: Enrollment) -> None:
    leaf = leaf_for(intermediate, enrollment)
    message = rejected(enrollment, leaf, [intermediate.certificate])
    assert "no certificate in the chain issued 'CN=Hand Intermediate'" in message
    assert "self-signed root" in message


def test_chain_without_intermediate_is_refused(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    leaf = leaf_for(intermediate, enrollment)
    message = rejected(enrollment, leaf, [root.certificate])
    assert "no certificate in the chain issued 'CN=payments-client.example.com" in message


def test_root_not_among_trusted_roots(
    root: Authority, intermediate: Authority, enrollment: Enrollment, local_ca: LocalCa
) -> None:
    leaf = leaf_for(intermediate, enrollment)
    chain = [intermediate.certificate, root.certificate]
    message = rejected(enrollment, leaf, chain, trusted_roots=[local_ca.root_pem])
    assert "is not one of the trusted roots" in message


def test_self_signed_leaf(enrollment: Enrollment) -> None:
    key = serialization.load_pem_private_key(enrollment.key_pem, password=None)
    name = subject_name(enrollment.subject)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    message = rejected(enrollment, leaf, [])
    assert (
        message == "chain: the certificate 'CN=payments-client.example.com,OU=Payments,"
        "O=Acme,L=Berlin,ST=Berlin,C=DE' is self-signed"
    )


def test_issuer_that_is_not_a_ca(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    key = generate_private_key(KeyType.EC256)
    not_a_ca_cert = intermediate.issue(
        key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leafy")])
    )
    not_a_ca = Authority(not_a_ca_cert, key, parents=intermediate.chain)
    leaf = leaf_for(not_a_ca, enrollment)
    chain = [not_a_ca_cert, intermediate.certificate, root.certificate]
    assert "'CN=leafy' signed a certificate in the chain but is not a CA" in rejected(
        enrollment, leaf, chain
    )


def test_path_length_constraint(enrollment: Enrollment) -> None:
    strict_root = Authority.new_root("Strict Root", path_length=0)
    below = strict_root.new_intermediate("Too Deep")
    leaf = leaf_for(below, enrollment)
    message = rejected(enrollment, leaf, [below.certificate, strict_root.certificate])
    assert "allows 0 intermediate(s) below it (pathLenConstraint) but the chain has 1" in message


def test_expired_leaf(root: Authority, intermediate: Authority, enrollment: Enrollment) -> None:
    leaf = leaf_for(
        intermediate,
        enrollment,
        not_before=NOW - timedelta(days=400),
        not_after=NOW - timedelta(days=1),
    )
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert message.startswith("validity: 'CN=payments-client.example.com")
    assert "expired on" in message


def test_not_yet_valid(root: Authority, intermediate: Authority, enrollment: Enrollment) -> None:
    leaf = leaf_for(intermediate, enrollment)
    chain = [intermediate.certificate, root.certificate]
    message = rejected(enrollment, leaf, chain, now=NOW - timedelta(days=1))
    assert "is not valid before" in message


def test_expiring_within_min_remaining(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    leaf = leaf_for(intermediate, enrollment, validity=timedelta(days=10))
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert "within the required 30 day(s) of remaining validity" in message


def test_server_auth_only(root: Authority, intermediate: Authority, enrollment: Enrollment) -> None:
    leaf = leaf_for(intermediate, enrollment, extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert (
        message == "key_usage: the certificate's extended key usage (serverAuth) lacks clientAuth"
    )


def test_subject_differences_are_each_named(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    wrong = enrollment.subject.model_copy(update={"o": "Other", "ou": None})
    leaf = leaf_for(intermediate, enrollment, subject=subject_name(wrong))
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert message.startswith("subject: ")
    assert "subject O is 'Other' but the request asked for 'Acme'" in message
    assert "subject OU is absent but the request asked for 'Payments'" in message
    assert "subject CN" not in message


def test_subject_attribute_the_request_did_not_ask_for(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    leaf = leaf_for(intermediate, enrollment)
    request = SubjectName(**{**enrollment.subject.model_dump(), "l": None})
    message = rejected(
        enrollment, leaf, [intermediate.certificate, root.certificate], subject=request
    )
    assert message == "subject: subject L is 'Berlin' but the request asked for none"


def test_missing_dns_san(root: Authority, intermediate: Authority, enrollment: Enrollment) -> None:
    leaf = leaf_for(intermediate, enrollment, sans=general_names(["payments-client.example.com"]))
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert message.startswith("subject_alt_name: DNS name(s) alt.example.com requested")


def test_more_than_one_certificate_as_the_leaf(issued: Issued, enrollment: Enrollment) -> None:
    with pytest.raises(CertificateRejected, match="expected one certificate, got 3"):
        check_issued(
            certificate_pem=issued.certificate_pem + issued.chain_pem,
            chain_pem=issued.chain_pem,
            csr_pem=enrollment.csr_pem,
            subject=enrollment.subject,
            dns_sans=enrollment.dns_sans,
            min_remaining=timedelta(days=1),
        )


def _split(issued: Issued) -> tuple[x509.Certificate, list[x509.Certificate]]:
    leaf = x509.load_pem_x509_certificate(issued.certificate_pem)
    return leaf, x509.load_pem_x509_certificates(issued.chain_pem)


# -- a CA profile's subject policy (subject_keep) ---------------------------------------


def test_subject_keep_checks_only_the_parts_named(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    # What ACME CAs issue: the subject is the first DNS name alone.
    acme_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment.dns_sans[0])])
    leaf = leaf_for(intermediate, enrollment, subject=acme_subject)
    chain = [intermediate.certificate, root.certificate]
    assert check(enrollment, leaf, chain, subject_keep=()).leaf == leaf
    only_o = rejected(enrollment, leaf, chain, subject_keep=("O",))
    assert "subject O is absent" in only_o and "OU" not in only_o
    assert "subject OU is absent" in rejected(enrollment, leaf, chain)  # None: every part


def test_subject_keep_never_excuses_a_missing_client_auth(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    acme_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment.dns_sans[0])])
    leaf = leaf_for(
        intermediate,
        enrollment,
        subject=acme_subject,
        extended_key_usage=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    chain = [intermediate.certificate, root.certificate]
    message = rejected(enrollment, leaf, chain, subject_keep=())
    assert message.startswith("key_usage: ") and "lacks clientAuth" in message


def test_subject_keep_never_excuses_a_missing_dns_name(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    acme_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment.dns_sans[0])])
    other = general_names(["other.example"])
    leaf = leaf_for(intermediate, enrollment, subject=acme_subject, sans=other)
    chain = [intermediate.certificate, root.certificate]
    assert "dns" in rejected(enrollment, leaf, chain, subject_keep=()).lower()


def _hand_made(
    issuer: Authority,
    subject: x509.Name,
    public_key: Any,
    *,
    ca: bool,
    usage: x509.KeyUsage,
    sans: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(hours=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=200))
        .public_key(public_key)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), False)
    return builder.sign(issuer._key, hashes.SHA256())  # type: ignore[arg-type]


def _usage(*, sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def test_an_intermediate_without_key_cert_sign(root: Authority, enrollment: Enrollment) -> None:
    key_pem = generate_private_key(KeyType.EC256)
    key = serialization.load_pem_private_key(key_pem, None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "No Signing")])
    cert = _hand_made(
        root, name, key.public_key(), ca=True, usage=_usage(sign=True, cert_sign=False)
    )
    weak = Authority(cert, key_pem, parents=root.chain)
    leaf = leaf_for(weak, enrollment)
    message = rejected(enrollment, leaf, [cert, root.certificate])
    assert "'CN=No Signing' signed a certificate in the chain but its key usage lacks" in message


def test_a_leaf_that_is_a_ca(
    root: Authority, intermediate: Authority, enrollment: Enrollment
) -> None:
    csr = x509.load_pem_x509_csr(enrollment.csr_pem)
    leaf = _hand_made(
        intermediate,
        subject_name(enrollment.subject),
        csr.public_key(),
        ca=True,
        usage=_usage(sign=True, cert_sign=True),
        sans=general_names(enrollment.dns_sans),
    )
    message = rejected(enrollment, leaf, [intermediate.certificate, root.certificate])
    assert message.startswith("basic_constraints: the certificate is a CA certificate")
