"""Keyed pseudonyms for natural persons (个人信息保护).

The edge replaces a resident ID number by HMAC-SHA256(key, number): the same
person always gets the same subject id, and without the key nobody can go back
from the id to the number (a plain hash of 18 digits could be brute-forced).
"""
from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_PREFIX = "np-"
PSEUDONYM_HEX_CHARS = 32  # 128 bits: collisions are out of reach for any population
MIN_PSEUDONYM_KEY_BYTES = 16
_HEX_DIGITS = frozenset("0123456789abcdef")


def is_pseudonym(value) -> bool:
    """Whether `value` has the form of a natural person's subject id: np- and 32 lower-case hex digits."""
    return (isinstance(value, str) and len(value) == len(PSEUDONYM_PREFIX) + PSEUDONYM_HEX_CHARS
            and value.startswith(PSEUDONYM_PREFIX) and _HEX_DIGITS.issuperset(value[len(PSEUDONYM_PREFIX):]))


def pseudonym(id_number: str, key: bytes) -> str:
    if len(key) < MIN_PSEUDONYM_KEY_BYTES:
        raise ValueError(f"the pseudonym key must have at least {MIN_PSEUDONYM_KEY_BYTES} bytes")
    mac = hmac.new(key, id_number.strip().upper().encode("ascii"), hashlib.sha256)
    return PSEUDONYM_PREFIX + mac.hexdigest()[:PSEUDONYM_HEX_CHARS]
