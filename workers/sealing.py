"""Encryption at rest for private keys and keystore passwords.

A recipe over cryptography's Fernet (AES-128-CBC + HMAC-SHA256, authenticated, with a
timestamp): ``MultiFernet`` so that the master key can be rotated. The first key seals;
every listed key unseals; ``reseal`` moves a token to the first key.

Keys come from ``TWOWAY_MASTER_KEY`` (comma-separated, newest first) or from a file named
by ``TWOWAY_MASTER_KEY_FILE`` (one key per line, newest first). Nothing is read at import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from workers.errors import ConfigError, TwowayError

__all__ = ["SealBroken", "Sealer"]

ENV_KEY = "TWOWAY_MASTER_KEY"
ENV_KEY_FILE = "TWOWAY_MASTER_KEY_FILE"


class SealBroken(TwowayError):
    """A sealed value cannot be opened with any configured master key."""


class Sealer:
    """Seal and unseal secrets with the configured master keys."""

    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigError(
                "no master key configured",
                hint=f"set {ENV_KEY} or {ENV_KEY_FILE}; make one with 'twoway new-master-key'",
            )
        fernets = []
        for index, key in enumerate(keys):
            try:
                fernets.append(Fernet(key.strip()))
            except (ValueError, TypeError) as exc:
                raise ConfigError(
                    f"master key #{index + 1} is not a Fernet key (32 url-safe base64 bytes)",
                    hint="make one with 'twoway new-master-key'",
                ) from exc
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)
        self.key_count = len(fernets)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Sealer:
        env = os.environ if environ is None else environ
        if env.get(ENV_KEY):
            return cls([k for k in env[ENV_KEY].split(",") if k.strip()])
        if env.get(ENV_KEY_FILE):
            return cls.from_file(Path(env[ENV_KEY_FILE]))
        return cls([])

    @classmethod
    def from_file(cls, path: Path) -> Sealer:
        try:
            lines = path.read_text(encoding="ascii").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the master key file {path}: {type(exc).__name__}",
                hint="check the path and that the file holds one Fernet key per line",
            ) from exc
        return cls([line for line in lines if line.strip() and not line.startswith("#")])

    def seal(self, plaintext: bytes) -> bytes:
        return self._primary.encrypt(plaintext)

    def unseal(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken as exc:
            raise SealBroken(
                "a stored secret cannot be decrypted with any configured master key",
                hint=f"{ENV_KEY} must list the key it was sealed with (newest first)",
            ) from exc

    def reseal(self, token: bytes) -> bytes:
        """The same secret sealed with the primary key (for master-key rotation)."""
        try:
            return self._multi.rotate(token)
        except InvalidToken as exc:
            raise SealBroken(
                "a stored secret cannot be decrypted with any configured master key",
                hint=f"{ENV_KEY} must list the old key after the new one",
            ) from exc
