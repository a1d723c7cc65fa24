"""Looking for secrets in everything that leaves a job: the detector of the audit test."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["Finding", "forms_of_private_key", "forms_of_text", "scan"]

WINDOW_BYTES = 12  # 96 bits of a secret: matching that many is never chance
WINDOW_B64 = 16  # base64 characters holding those 96 bits


@dataclass(frozen=True)
class Finding:
    secret: str  # what leaked (its label, never the value)
    form: str  # in which encoding
    where: str  # which corpus


def _private_parts(pem: bytes) -> list[bytes]:
    """The secret numbers of a key: the EC scalar, or the RSA private exponent and a prime.

    Only these are searched for: the rest of a key's encoding (algorithm identifiers, the
    public key) also appears in certificates and CSRs and is no secret.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = (key.curve.key_size + 7) // 8
        return [key.private_numbers().private_value.to_bytes(size, "big")]
    assert isinstance(key, rsa.RSAPrivateKey)
    numbers = key.private_numbers()
    return [_int_bytes(numbers.d), _int_bytes(numbers.p)]


def _int_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _chunks(text: bytes, size: int) -> list[bytes]:
    """Consecutive pieces of ``size``; of several, one always avoids a PEM line break."""
    return [text[i : i + size] for i in range(0, len(text) - size + 1, size)]


def _encodings(secret: bytes) -> dict[str, list[bytes]]:
    """Pieces of ``secret`` as bytes, hex and base64 (at all three alignments, so it is
    found inside any base64 stream it is part of: PEM, DER in JSON, a keystore in base64),
    and the hex of those base64 pieces (a PEM written out as hex)."""
    base64s = [
        piece
        for shift in range(3)
        for piece in _chunks(base64.b64encode(secret[shift:])[4:-4], WINDOW_B64)
    ]
    hexed = secret.hex().encode()
    return {
        "der": _chunks(secret, WINDOW_BYTES),
        "base64": base64s,
        "hex": _chunks(hexed, 2 * WINDOW_BYTES),
        "HEX": _chunks(hexed.upper(), 2 * WINDOW_BYTES),
        "hex of base64": [piece.hex().encode() for piece in base64s],
    }


def forms_of_private_key(pem: bytes) -> dict[str, list[bytes]]:
    """Every encoding (bytes, base64 as in PEM/DER, hex) of the key's secret numbers."""
    forms: dict[str, list[bytes]] = {}
    for part in _private_parts(pem):
        for form, needles in _encodings(part).items():
            forms.setdefault(form, []).extend(needles)
    return forms


def forms_of_text(secret: str) -> dict[str, list[bytes]]:
    raw = secret.encode()
    return {
        "plain": [raw],
        "base64": [base64.b64encode(raw[shift:])[4:-4] for shift in range(3)],
        "hex": [raw.hex().encode()],
    }


def scan(
    corpora: Mapping[str, bytes], secrets: Mapping[str, Mapping[str, list[bytes]]]
) -> list[Finding]:
    """Every place where any form of any secret appears."""
    found = []
    for where, blob in corpora.items():
        for label, forms in secrets.items():
            for form, needles in forms.items():
                if any(needle and needle in blob for needle in needles):
                    found.append(Finding(label, form, where))
    return found
