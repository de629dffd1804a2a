"""SASL/SCRAM (RFC 5802, RFC 7677) for the Kafka protocol spoken on sockets of our own.

The ledger reader (streams/ledger_reader.py) sends its Fetch, Metadata and ListOffsets requests
itself; on a SASL listener a connection must authenticate first. `authenticate` does it the way
Kafka's own clients do: a SaslHandshake request (api key 17) naming the mechanism, then the three
SCRAM messages carried in SaslAuthenticate requests (api key 36):

    client-first  n,,n=<user>,r=<client nonce>
    server-first  r=<client nonce + server nonce>,s=<salt>,i=<iterations>
    client-final  c=biws,r=<nonce>,p=<proof>      (the proof that we hold the password)
    server-final  v=<server signature>            (the proof that the broker holds our credential)

`ScramClient` is the mechanism alone, generic in the hash (SCRAM-SHA-256 is tested against
RFC 7677's example; Kafka's users here are SCRAM-SHA-512). Only hashlib and hmac. PLAIN (RFC 4616,
the password itself, for TLS listeners only) is there for the broker's own principal in a cluster,
which has no SCRAM credential before the first start (ops/deploy/README.md).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct

SCRAM_MECHANISMS = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECHANISMS = (*SCRAM_MECHANISMS, "PLAIN")
ITERATIONS_MIN = 4096  # RFC 7677's minimum, and Kafka's
# Kafka stores at most 16,384 iterations; a server asking for far more would make each connection
# spend seconds in PBKDF2, so it is refused rather than obeyed.
ITERATIONS_MAX = 100_000
NONCE_BYTES = 24
_SALTED: dict[tuple, bytes] = {}  # (hash, password, salt, iterations) -> the salted password: PBKDF2 once a process
_SALTED_MAX = 64

SASL_HANDSHAKE_KEY, SASL_HANDSHAKE_VERSION = 17, 1
SASL_AUTHENTICATE_KEY, SASL_AUTHENTICATE_VERSION = 36, 1  # v1: not yet the flexible (tagged) encoding
ANSWER_BYTES_MAX = 64 * 1024  # a SASL answer is a few hundred bytes


class SaslError(Exception):
    """Authentication failed or the server's answers break the protocol; `code` is Kafka's error
    code when the broker gave one (58: SASL_AUTHENTICATION_FAILED, 33: UNSUPPORTED_SASL_MECHANISM)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SaslError(f"a SCRAM message that is not UTF-8: {error}") from None
    found = {}
    for part in text.split(","):
        name, equals, value = part.partition("=")
        if len(name) != 1 or not equals:
            raise SaslError(f"a malformed SCRAM message: {text[:200]!r}")
        found.setdefault(name, value)
    return found


class ScramClient:
    """One SCRAM exchange: first_message(), final_message(server_first), verify(server_final)."""

    def __init__(self, username: str, password: str, mechanism: str = "SCRAM-SHA-512", nonce: str | None = None):
        if mechanism not in SCRAM_MECHANISMS:
            raise SaslError(f"unsupported SCRAM mechanism {mechanism!r}; supported: {', '.join(SCRAM_MECHANISMS)}")
        self.mechanism, self.hash = mechanism, SCRAM_MECHANISMS[mechanism]
        self.username, self.password = username, password
        self.nonce = nonce or secrets.token_urlsafe(NONCE_BYTES)  # printable, no ','
        self._first_bare = f"n={_saslname(username)},r={self.nonce}"
        self._server_signature: bytes | None = None

    def first_message(self) -> bytes:
        return f"n,,{self._first_bare}".encode()  # gs2 header "n,,": no channel binding, no authzid

    def final_message(self, server_first: bytes) -> bytes:
        server = _attributes(server_first)
        if "e" in server:
            raise SaslError(f"the server refused: {server['e']}")
        nonce, salt, iterations = server.get("r", ""), server.get("s"), server.get("i", "")
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise SaslError("the server's nonce does not extend ours")
        if salt is None or not iterations.isdigit() or not ITERATIONS_MIN <= int(iterations) <= ITERATIONS_MAX:
            raise SaslError(f"the server asks for {iterations!r} iterations; "
                            f"accepted: {ITERATIONS_MIN} to {ITERATIONS_MAX}")
        try:
            salt_bytes = base64.b64decode(salt, validate=True)
        except ValueError:
            raise SaslError("the server's salt is not base64") from None
        salted = self._salted(salt_bytes, int(iterations))
        client_key = hmac.digest(salted, b"Client Key", self.hash)
        stored_key = hashlib.new(self.hash, client_key).digest()
        without_proof = f"c=biws,r={nonce}"  # biws: base64 of the gs2 header "n,,"
        auth_message = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, self.hash)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.digest(salted, b"Server Key", self.hash)
        self._server_signature = hmac.digest(server_key, auth_message, self.hash)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        """Raises SaslError unless the server proved it knows our credential."""
        if self._server_signature is None:
            raise SaslError("verify() before final_message()")
        server = _attributes(server_final)
        if "e" in server:
            raise SaslError(f"the server refused: {server['e']}")
        try:
            signature = base64.b64decode(server.get("v", ""), validate=True)
        except ValueError:
            raise SaslError("the server's signature is not base64") from None
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslError("the server's signature is wrong: it does not hold our credential")

    def _salted(self, salt: bytes, iterations: int) -> bytes:
        key = (self.hash, self.password, salt, iterations)
        salted = _SALTED.get(key)
        if salted is None:
            salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode("utf-8"), salt, iterations)
            if len(_SALTED) >= _SALTED_MAX:
                _SALTED.clear()
            _SALTED[key] = salted
        return salted


# -- the Kafka framing ---------------------------------------------------------------------------

def _request(api_key: int, version: int, correlation: int, client_id: bytes, body: bytes) -> bytes:
    message = struct.pack(">hhih", api_key, version, correlation, len(client_id)) + client_id + body
    return struct.pack(">i", len(message)) + message


def _answer(reader, correlation: int) -> bytes:
    head = reader.read(4)
    size = struct.unpack(">i", head)[0] if len(head) == 4 else -1
    if not 4 <= size <= ANSWER_BYTES_MAX:
        raise SaslError("the broker closed the connection during authentication" if size < 0
                        else f"a SASL answer of {size} bytes is not a Kafka broker's")
    answer = reader.read(size)
    if len(answer) != size:
        raise SaslError("the broker closed the connection during authentication")
    if struct.unpack_from(">i", answer)[0] != correlation:
        raise SaslError("a SASL answer to another request")
    return answer[4:]


def _bytes_field(answer: bytes, position: int) -> tuple[bytes, int]:
    length, = struct.unpack_from(">i", answer, position)
    position += 4
    if length < 0 or position + length > len(answer):
        raise SaslError("a SaslAuthenticate answer with a garbled field")
    return answer[position:position + length], position + length


def authenticate(sock, username: str, password: str, mechanism: str = "SCRAM-SHA-512",
                 client_id: bytes = b"credit-ledger") -> None:
    """Authenticate a fresh connection to a Kafka SASL listener (SASL_PLAINTEXT, or SASL_SSL once
    the socket is wrapped). Raises SaslError when the broker refuses, OSError when the connection fails."""
    if mechanism not in MECHANISMS:
        raise SaslError(f"unsupported SASL mechanism {mechanism!r}; supported: {', '.join(MECHANISMS)}")
    client = ScramClient(username, password, mechanism) if mechanism != "PLAIN" else None
    with sock.makefile("rb") as reader:
        name = mechanism.encode()
        sock.sendall(_request(SASL_HANDSHAKE_KEY, SASL_HANDSHAKE_VERSION, 0, client_id,
                              struct.pack(">h", len(name)) + name))
        answer = _answer(reader, 0)
        try:
            error_code, = struct.unpack_from(">h", answer)
        except struct.error:
            raise SaslError("a garbled SaslHandshake answer") from None
        if error_code:
            raise SaslError(f"the broker does not offer {mechanism} (error {error_code})", error_code)
        if client is None:  # PLAIN: one message, "\0user\0password"
            message, steps = b"\0" + username.encode() + b"\0" + password.encode(), ("plain",)
        else:
            message, steps = client.first_message(), ("first", "final")
        correlation = 1
        for step in steps:
            sock.sendall(_request(SASL_AUTHENTICATE_KEY, SASL_AUTHENTICATE_VERSION, correlation, client_id,
                                  struct.pack(">i", len(message)) + message))
            answer = _answer(reader, correlation)
            try:
                error_code, text_length = struct.unpack_from(">hh", answer)
                position = 4 + max(text_length, 0)
                text = answer[4:position].decode("utf-8", "replace") if text_length >= 0 else ""
                auth_bytes, _ = _bytes_field(answer, position)
            except struct.error:
                raise SaslError("a garbled SaslAuthenticate answer") from None
            if error_code:
                raise SaslError(f"SASL authentication of {username!r} failed: {text or f'error {error_code}'}",
                                error_code)
            if step == "first":
                message, correlation = client.final_message(auth_bytes), correlation + 1
            elif step == "final":
                client.verify(auth_bytes)
