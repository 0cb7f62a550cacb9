"""Key generation, hashing and encryption of stored secrets.

Keys we issue (write keys, API keys, admin tokens) are random with at least 144 bits of entropy,
so a plain SHA-256 is a sound way to store them: there is nothing to brute-force. They are
looked up by hash and the hash is then compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


def generate_write_key() -> str:
    """32 characters, the length of a Segment write key."""
    return secrets.token_urlsafe(24)


def generate_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def hashes_match(stored_hash: str, key: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_key(key))


class SecretBox:
    """Encrypts secrets we must read back (webhook secrets, third-party API keys)."""

    def __init__(self, secret_key: str) -> None:
        derived = hashlib.sha256(b"pulsegate-secret-box:" + secret_key.encode("utf-8")).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken as error:
            raise ValueError("stored secret cannot be decrypted with this secret key") from error


def load_or_create_secret_key(data_dir: Path) -> str:
    """The server secret used when PULSEGATE_SECRET_KEY is not set, kept in a 0600 file."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    write_private_file(path, key + "\n")
    return key


def write_private_file(path: Path, content: str) -> None:
    """Write a file only its owner can read (mode 0600 from the moment it exists)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)
