"""Patient tracking tokens: the unguessable part of the SMS link, never stored in a usable form.

The link in the SMS is the patient's only credential: whoever holds it sees the delivery status and
courier details, so it must be unguessable, and the database must not be enough to rebuild it.

* The token is HMAC-SHA256(secret key, "gancang-tracking:" + salt), truncated to 120 bits. 120 bits is far
  beyond online guessing, and 15 bytes encode to exactly 20 base64url characters with no padding, which
  keeps the link short enough to leave room for words in a 160-character SMS.
* The database stores the salt and :func:`token_lookup_hash` of the token, never the token. A database
  leak alone therefore reveals no live link: the salt is useless without the secret key, and the hash is
  a one-way SHA-256 of a 120-bit random value, which cannot be brute-forced back.
* Because the token is derived rather than random-and-forgotten, the service can rebuild the same link
  from the stored salt and the secret key for every later SMS about the same delivery, so the patient keeps
  one link. The flip side: rotating the secret key does not revoke links already sent (their hashes are
  still stored), but it does stop the service from rebuilding them, so open deliveries need new salts.

A plain SHA-256 (no salt, no slow hash) is enough for the lookup hash precisely because the token has 120
bits of entropy; slow hashes exist for low-entropy passwords, and a fast one keeps the lookup indexable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

__all__ = ["TOKEN_LENGTH", "new_token_salt", "derive_token", "token_lookup_hash", "looks_like_token"]

_DOMAIN = b"gancang-tracking:"  # separates these MACs from any other use of the same secret key
_TOKEN_BYTES = 15
TOKEN_LENGTH = 20  # base64 of 15 bytes: 120 bits, no padding
_SALT_BYTES = 16
_TOKEN_SHAPE = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_LENGTH}}}")


def new_token_salt() -> str:
    """A fresh per-delivery salt: 16 random bytes, base64url (22 characters), safe in any column."""
    return secrets.token_urlsafe(_SALT_BYTES)


def derive_token(secret_key: str, salt: str) -> str:
    """The tracking token for ``salt``; the same secret key and salt always give the same token.

    Empty inputs are refused: with an empty key anyone holding the salt could compute the token, and an
    empty salt would give every delivery the same link.
    """
    if not secret_key:
        raise ValueError("secret_key must not be empty")
    if not salt:
        raise ValueError("salt must not be empty")
    mac = hmac.new(secret_key.encode(), _DOMAIN + salt.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_TOKEN_BYTES]).decode("ascii")


def token_lookup_hash(token: str) -> str:
    """SHA-256 hex of the token: the value the database stores and indexes instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(s: str) -> bool:
    """Cheap shape check, so a mistyped or probing request is answered without a database query."""
    return _TOKEN_SHAPE.fullmatch(s) is not None
