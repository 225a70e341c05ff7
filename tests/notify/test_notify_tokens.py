import base64
import hashlib
import hmac
import string

import pytest

from dispatch.notify.tokens import (
    TOKEN_LENGTH,
    derive_token,
    looks_like_token,
    new_token_salt,
    token_lookup_hash,
)

SECRET = "test-secret-key"
SALT = "c2FsdC1mb3ItdGVzdHM"
URLSAFE = set(string.ascii_letters + string.digits + "-_")


def test_known_token_pins_the_derivation() -> None:
    # Changing the derivation would silently break every link already sent by SMS.
    assert derive_token(SECRET, SALT) == "y4RI0q2nJYiM_oNROmUo"


def test_derivation_matches_the_documented_construction() -> None:
    mac = hmac.new(SECRET.encode(), b"gancang-tracking:" + SALT.encode(), hashlib.sha256).digest()
    assert derive_token(SECRET, SALT) == base64.urlsafe_b64encode(mac[:15]).decode().rstrip("=")


def test_derivation_is_deterministic_so_later_sms_repeat_the_same_link() -> None:
    salt = new_token_salt()
    assert derive_token(SECRET, salt) == derive_token(SECRET, salt)


def test_distinct_salts_and_distinct_secrets_give_distinct_tokens() -> None:
    salts = [new_token_salt() for _ in range(2000)]
    assert len({derive_token(SECRET, salt) for salt in salts}) == len(salts)
    assert derive_token(SECRET, SALT) != derive_token(SECRET + "x", SALT)


def test_token_shape_is_20_base64url_characters_without_padding() -> None:
    token = derive_token(SECRET, new_token_salt())
    assert TOKEN_LENGTH == 20
    assert len(token) == TOKEN_LENGTH
    assert set(token) <= URLSAFE
    assert "=" not in token


def test_token_carries_at_least_96_bits() -> None:
    raw = base64.urlsafe_b64decode(derive_token(SECRET, SALT))
    assert len(raw) * 8 == 120 >= 96
    # Over many tokens every position draws on (nearly) the whole 64-symbol alphabet.
    tokens = [derive_token(SECRET, new_token_salt()) for _ in range(2000)]
    for position in range(TOKEN_LENGTH):
        assert len({token[position] for token in tokens}) >= 60


def test_salt_is_16_random_bytes_urlsafe() -> None:
    salts = [new_token_salt() for _ in range(1000)]
    assert len(set(salts)) == len(salts)
    for salt in salts:
        assert set(salt) <= URLSAFE
        assert len(base64.urlsafe_b64decode(salt + "==")) == 16


@pytest.mark.parametrize(("secret", "salt"), [("", SALT), (SECRET, "")])
def test_empty_secret_or_salt_is_refused(secret: str, salt: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        derive_token(secret, salt)


def test_lookup_hash_is_sha256_hex_and_not_the_token() -> None:
    token = derive_token(SECRET, SALT)
    lookup = token_lookup_hash(token)
    assert lookup == hashlib.sha256(token.encode()).hexdigest()
    assert lookup == "a985b0edd7462d971c133352fbfbafc0469486889e0a40524429c7c8d0f73103"
    assert token not in lookup
    assert token_lookup_hash(token) == lookup
    assert token_lookup_hash(derive_token(SECRET, new_token_salt())) != lookup


def test_real_tokens_look_like_tokens() -> None:
    for _ in range(200):
        assert looks_like_token(derive_token(SECRET, new_token_salt()))


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "Y4RI0q2nJYiM_oNROmU",
        "Y4RI0q2nJYiM_oNROmUoo",
        "Y4RI0q2nJYiM_oNROmUo\n",
        " Y4RI0q2nJYiM_oNROmU",
        "Y4RI0q2nJYiM+oNROmUo",
        "Y4RI0q2nJYiM/oNROmUo",
        "Y4RI0q2nJYiM_oNROm==",
        "Y4RI0q2nJYiM_oNROmUé",
        "Y4RI0q2nJYiM_oNROmU٣",
        "'; DROP TABLE token;",
        "../../../../etc/passwd",
    ],
)
def test_garbage_does_not_look_like_a_token(candidate: str) -> None:
    assert not looks_like_token(candidate)
