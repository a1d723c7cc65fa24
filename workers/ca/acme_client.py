"""The ACME client side of the ``acme`` adapter: the account, the network, the errors.

Built on the ``acme`` package (certbot's) and ``josepy``: they sign the requests (JWS)
and parse the resources. What is added here: a nonce the CA refuses (``badNonce``) is
retried at once, up to four times; every failure becomes one of twoway's errors with the
CA's problem detail (``acme_problems``); the account key is made once, sealed in the
store, and the account is registered with it (with EAB when the profile names it).
"""

from __future__ import annotations

import contextlib
import email.utils
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import requests
from acme import client as acme_client
from acme import errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from workers.ca.acme_problems import translate
from workers.errors import CaRejected, CaUnavailable
from workers.store.acme import AcmeRecords

__all__ = ["AcmeSession", "Eab", "acme_errors"]

_NONCE_TRIES = 4


class _Net(acme_client.ClientNetwork):
    """Remembers the last answer's status and Retry-After (a problem document has
    neither); retries a refused nonce at once."""

    last_retry_after: float = 0.0

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        response = super()._send_request(method, url, *args, **kwargs)
        self.last_retry_after = retry_after(response.headers.get("Retry-After"))
        return response

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        for attempt in range(_NONCE_TRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == _NONCE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")


def retry_after(value: str | None, default: float = 0.0) -> float:
    """Seconds from a Retry-After header (a number, or an HTTP date)."""
    if not value:
        return default
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return default


@contextlib.contextmanager
def acme_errors(ca: str, doing: str, net: _Net | None = None) -> Iterator[None]:
    """Translate what the ``acme`` package and ``requests`` raise while ``doing``."""
    try:
        yield
    except messages.Error as exc:
        wait = net.last_retry_after if net is not None else 0.0
        raise translate(exc, doing=doing, ca=ca, retry_after=wait) from exc
    except requests.Timeout as exc:
        raise CaUnavailable(
            f"the ACME CA '{ca}' did not answer in time to {doing}",
            hint="check the CA; the stage is retried",
        ) from exc
    except requests.exceptions.SSLError as exc:
        raise CaRejected(
            f"the ACME CA '{ca}' cannot be trusted to {doing}: its TLS certificate does not verify",
            hint="set the CA profile's ca_bundle to the PEM of the CA's TLS root",
        ) from exc
    except requests.RequestException as exc:
        raise CaUnavailable(
            f"the ACME CA '{ca}' cannot be reached to {doing} ({type(exc).__name__})",
            hint="check the directory URL and the network; the stage is retried",
        ) from exc
    except errors.ClientError as exc:
        raise CaUnavailable(
            f"the ACME CA '{ca}' gave an answer that is not ACME to {doing}",
            hint="check the directory URL; the stage is retried",
        ) from exc


class Eab:
    """External account binding: the key id and the base64url HMAC key the CA issued."""

    def __init__(self, kid: str, hmac_key: str) -> None:
        self.kid = kid
        self.hmac_key = hmac_key

    def __repr__(self) -> str:
        return f"Eab({self.kid!r}, <hmac>)"


class AcmeSession:
    """Builds a registered ``ClientV2`` for one profile (the directory read once)."""

    def __init__(
        self,
        name: str,
        directory: str,
        records: AcmeRecords,
        *,
        verify: str | bool,
        contact: tuple[str, ...] = (),
        eab: Eab | None = None,
        timeout_s: int = 30,
    ) -> None:
        self.name = name
        self.directory_url = directory
        self._records = records
        self._verify = verify
        self._contact = contact
        self._eab = eab
        self._timeout = timeout_s
        self._directory: messages.Directory | None = None
        self._lock = threading.Lock()

    def client(self) -> acme_client.ClientV2:
        """A client with the account's key and URL (one per operation: not shared)."""
        key = self._account_key()
        net = _Net(key, alg=ES256, verify_ssl=self._verify, timeout=self._timeout)  # type: ignore[arg-type]
        net.session.headers["User-Agent"] = "twoway-acme"
        acme = acme_client.ClientV2(self._read_directory(net), net)
        stored = self._records.account(self.name, self.directory_url)
        if stored is not None and stored.url:
            body = messages.Registration()
            net.account = messages.RegistrationResource(uri=stored.url, body=body)
        else:
            net.account = self._register(acme, key)
        return acme

    def _read_directory(self, net: _Net) -> messages.Directory:
        with self._lock:
            if self._directory is None:
                with acme_errors(self.name, "read its directory", net):
                    self._directory = acme_client.ClientV2.get_directory(self.directory_url, net)
            return self._directory

    def _account_key(self) -> JWKEC:
        stored = self._records.account(self.name, self.directory_url)
        if stored is None:
            made = ec.generate_private_key(ec.SECP256R1())
            pem = made.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            stored = self._records.keep_account_key(self.name, self.directory_url, pem)
        return JWKEC(key=serialization.load_pem_private_key(stored.key_pem, password=None))

    def _register(self, acme: acme_client.ClientV2, key: JWKEC) -> messages.RegistrationResource:
        binding = None
        if self._eab is not None:
            binding = messages.ExternalAccountBinding.from_data(
                account_public_key=key.public_key(),
                kid=self._eab.kid,
                hmac_key=self._eab.hmac_key,
                directory=acme.directory,
            )
        new = messages.NewRegistration(
            contact=self._contact, terms_of_service_agreed=True, external_account_binding=binding
        )
        with acme_errors(self.name, "register the account", acme.net):  # type: ignore[arg-type]
            try:
                regr = acme.new_account(new)
                url = regr.uri
            except errors.ConflictError as existing:  # the key is registered already
                url = existing.location
        assert url, "the CA registered the account without saying where"
        self._records.set_account_url(self.name, self.directory_url, url)
        return messages.RegistrationResource(uri=url, body=messages.Registration())
