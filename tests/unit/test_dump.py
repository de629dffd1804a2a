"""`credit-ledger dump`'s parts that need no broker: bad options exit 2 naming the option before anything is
read or recorded, each topic is read as the principal its ACLs name, and every record prints, decodable or not."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.dump import DECODERS, LIMIT_MAX, decoded, role_of
from ops.kafka_acls import acl_bindings
from streams import topics
from streams.codec import encode_digest, encode_rejection
from streams.kafka_access import AUDITOR, DEV_USERNAMES, WORKER


@pytest.mark.parametrize("args, named", [
    (["credit.nope"], "TOPIC 'credit.nope'"),
    (["credit.events", "--from", "-1"], "--from"),
    (["credit.events", "--partition", "-2"], "--partition"),
    (["credit.events", "--limit", "0"], "--limit"),
    (["credit.events", "--limit", str(LIMIT_MAX + 1)], "--limit"),
])
def test_a_bad_option_exits_2_naming_it_before_anything_is_read(args, named, monkeypatch, tmp_path):
    monkeypatch.setenv("CREDIT_LEDGER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CREDIT_LEDGER_KAFKA", "127.0.0.1:1")  # nothing there: an attempt to read would say so
    monkeypatch.setenv("CREDIT_LEDGER_WEB_PORT", "1")
    result = CliRunner().invoke(app, ["dump", *args])
    assert result.exit_code == 2 and result.stdout == "", result.stdout + result.stderr
    assert f"error: {named}" in result.stderr and "record the read" not in result.stderr


def test_each_topic_is_read_as_the_principal_its_acls_let_read_it():
    bindings = acl_bindings(DEV_USERNAMES)
    readers = {topic: {b.principal for b in bindings if b.name == topic and b.operation.name == "READ"}
               for topic in topics.ALL}
    assert set(DECODERS) == set(topics.ALL)
    for topic in topics.ALL:
        assert f"User:{DEV_USERNAMES[role_of(topic)]}" in readers[topic], topic
    assert {t for t in topics.ALL if role_of(t) == AUDITOR} == {topics.EVENTS, topics.DIGESTS, topics.ACCESS_LOG}
    assert role_of(topics.PII_KEYS) == WORKER


def test_every_record_prints_decoded_or_as_undecodable():
    digest = {"topic": topics.EVENTS, "partition": 1, "offset": 7, "root": "ab" * 32, "at": "2026-03-01T08:00:00+08:00"}
    line = decoded(topics.DIGESTS, 0, 5, b"1", encode_digest(digest))
    no_tree = {"tree_size": 0, "tree_root": "", "tree_offset": -1}  # a digest written without its Merkle tree
    assert line == {"partition": 0, "offset": 5, "key": "1", "value": {**digest, **no_tree}}
    rejection = {"event_id": None, "topic": topics.EVENTS, "partition": 0, "offset": 3, "raw_digest": b"\x01\xff",
                 "reasons": [{"field": "type", "rule": "enum", "message": "unknown"}], "rejected_at": digest["at"]}
    line = decoded(topics.REJECTED, 1, 2, None, encode_rejection(rejection))
    assert line["key"] is None and line["value"]["raw_digest"] == "01ff"  # bytes as hex: JSON has none
    json.dumps(line)
    # credit.alerts, which nothing writes yet: any record type of the ledger, by its writer schema
    assert decoded(topics.ALERTS, 0, 0, None, encode_digest(digest))["value"] == {**digest, **no_tree}
    for topic in topics.ALL:
        for garbage in (b"", b"\xc3\x01" + b"\x00" * 8 + b"junk", b"\xff" * 40, b"{\"a\": [1"):
            line = decoded(topic, 2, 9, b"\xff\xfe", garbage)
            assert line["undecodable"] is True and line["bytes"] == len(garbage) and line["reason"], (topic, line)
            assert line["key"] == "base64://4="
            json.dumps(line)
    assert decoded(topics.PII_KEYS, 0, 1, b"np-x/k1", None) == {"partition": 0, "offset": 1, "key": "np-x/k1",
                                                                  "value": None}  # a tombstone
