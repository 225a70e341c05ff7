"""Passwords (argon2) and high-entropy bearer tokens (stored as SHA-256, compared by lookup)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the username is unknown, so timing does not reveal which users exist.
DUMMY_PASSWORD_HASH = _hasher.hash(secrets.token_urlsafe(16))


def new_bearer_token(prefix: str) -> str:
    """``prefix`` tells a leaked token's kind at a glance (gk_ API key, gs_ staff session)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """A fast hash is enough here: the tokens carry 256 random bits, unlike passwords."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
