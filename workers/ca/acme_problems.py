"""ACME problem documents (RFC 8555 section 6.7) translated into twoway's error tree.

``badNonce`` never reaches here: the client retries it at once (see ``acme.py``). A
problem type that is not listed is permanent unless the CA answered with a 5xx.
"""

from __future__ import annotations

from acme import messages

from workers.errors import CaRateLimited, CaRejected, CaUnavailable, TwowayError

__all__ = ["PROBLEMS", "translate"]

_PREFIX = "urn:ietf:params:acme:error:"

# type -> (transient?, what the operator should do)
PROBLEMS: dict[str, tuple[bool, str]] = {
    "badNonce": (True, "the CA refused a nonce again and again; the stage is retried"),
    "rateLimited": (True, "the CA's rate limit: the stage waits as long as the CA asked"),
    "serverInternal": (True, "the CA failed; the stage is retried"),
    "orderNotReady": (True, "the order is not ready to finalize yet; the stage is retried"),
    "accountDoesNotExist": (False, "the CA lost the stored account; ask its operator"),
    "externalAccountRequired": (False, "the CA needs EAB: set eab_kid_env and eab_hmac_env"),
    "unauthorized": (False, "the account may not issue for these names at this CA"),
    "rejectedIdentifier": (False, "the CA will not issue for one of the DNS names"),
    "unsupportedIdentifier": (False, "the CA does not issue for this kind of name"),
    "caa": (False, "a CAA record forbids this CA for one of the names"),
    "badCSR": (False, "the CA refused the CSR; replay stage 'csr' after checking it"),
    "badPublicKey": (False, "the CA refused the key type; choose another key_type"),
    "badSignatureAlgorithm": (False, "the CA refused the signature algorithm"),
    "malformed": (False, "the CA could not read a request; report it with the detail"),
    "invalidContact": (False, "fix the CA profile's contact"),
    "unsupportedContact": (False, "fix the CA profile's contact"),
    "userActionRequired": (False, "the CA needs a person to act (terms of service?)"),
    "connection": (False, "the CA could not reach the challenge; check the hook"),
    "dns": (False, "the CA's DNS lookup failed; check the dns-01 hook"),
    "incorrectResponse": (False, "the CA found another value; check the hook"),
    "tls": (False, "the CA's TLS connection for the challenge failed"),
    "compound": (False, "several problems; see the detail"),
}


def translate(error: messages.Error, *, doing: str, ca: str, retry_after: float = 0) -> TwowayError:
    """The error for ``error``, a problem the CA answered while ``doing`` something."""
    code = _code(error.typ)
    transient, hint = PROBLEMS.get(code, (_server_side(error), "see the CA's detail"))
    message = f"the ACME CA '{ca}' refused to {doing}: {code}: {error.detail or 'no detail'}"
    if error.subproblems:
        parts = [f"{_code(p.typ)} for {_who(p)}: {p.detail}" for p in error.subproblems]
        message += " (" + "; ".join(parts) + ")"
    if code == "rateLimited":
        return CaRateLimited(message, retry_after=max(retry_after, 1.0), hint=hint)
    return (CaUnavailable if transient else CaRejected)(message, hint=hint)


def _code(typ: str | None) -> str:
    return (typ or "").removeprefix(_PREFIX) or "about:blank"


def _server_side(error: messages.Error) -> bool:
    status = getattr(error, "status", None)
    return isinstance(status, int) and status >= 500


def _who(problem: messages.Error) -> str:
    identifier = getattr(problem, "identifier", None)
    return str(getattr(identifier, "value", "")) or "the order"
