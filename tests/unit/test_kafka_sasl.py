"""SCRAM as RFC 7677 has it (its SCRAM-SHA-256 example, byte for byte), and what a client must refuse."""
import base64

import pytest

from streams.kafka_sasl import ITERATIONS_MAX, SaslError, ScramClient

# RFC 7677, section 3: user "user", password "pencil"
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
CLIENT_FINAL = (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def rfc_client() -> ScramClient:
    return ScramClient("user", "pencil", "SCRAM-SHA-256", nonce=CLIENT_NONCE)


def test_the_rfc_7677_exchange():
    client = rfc_client()
    assert client.first_message() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert client.final_message(SERVER_FIRST) == CLIENT_FINAL
    client.verify(SERVER_FINAL)  # raises if the server's signature were wrong


def test_a_server_without_our_credential_is_refused():
    client = rfc_client()
    client.final_message(SERVER_FIRST)
    forged = b"v=" + base64.b64encode(bytes(32))
    with pytest.raises(SaslError, match="signature is wrong"):
        client.verify(forged)
    with pytest.raises(SaslError, match="refused: invalid-proof"):
        client.verify(b"e=invalid-proof")


def test_another_password_gives_another_proof():
    client = ScramClient("user", "pencil2", "SCRAM-SHA-256", nonce=CLIENT_NONCE)
    assert client.final_message(SERVER_FIRST) != CLIENT_FINAL


@pytest.mark.parametrize("server_first, why", [
    (b"r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),
    (b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "nonce"),  # not extended
    (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1024", "iterations"),
    (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=" + str(ITERATIONS_MAX + 1).encode(), "iterations"),
    (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=not base64!,i=4096", "salt"),
    (b"garbage", "malformed"),
    (b"\xff\xfe", "UTF-8"),
])
def test_a_broken_server_first_message_is_refused(server_first, why):
    with pytest.raises(SaslError, match=why):
        rfc_client().final_message(server_first)


def test_names_are_escaped_and_sha_512_is_the_default():
    client = ScramClient("a=b,c", "pw")
    assert client.mechanism == "SCRAM-SHA-512"
    assert client.first_message().startswith(b"n,,n=a=3Db=2Cc,r=")
    with pytest.raises(SaslError, match="unsupported"):
        ScramClient("u", "p", "PLAIN")
