"""Principals from configuration, bearer tokens, and the development principals of `up`."""
from __future__ import annotations

import json
import logging
import os
import stat
from datetime import datetime, timedelta, timezone

import pytest

from projections.access import ADMIN, ANONYMOUS_PRINCIPAL, AUDITOR, PUBLISHER, QUERIER, SUPERVISOR, Principal
from streams.principals import (DEV_TOKEN_DAYS, AuthenticationError, Principals, PrincipalsError, PrincipalsFile,
                                create_dev_principals, new_token, token_sha256)
from tests.unit import events as ev

SECOND_AUTHORITY = ev.make_uscc("410100", 2, "1", "1")
NEXT_YEAR = (datetime.now(timezone.utc) + timedelta(days=365)).isoformat()


def entry(name: str, role: str, token: str, code: str | None = None, expires_at: str = NEXT_YEAR) -> dict:
    return {"name": name, "role": role, "authority_code": code, "token_sha256": token_sha256(token),
            "expires_at": expires_at}


def write(path, document) -> None:
    path.write_text(json.dumps(document) if path.suffix != ".toml" else document)
    path.chmod(0o600)


@pytest.fixture
def tokens() -> dict:
    return {"pub": new_token(), "sup": new_token(), "bank": new_token()}


@pytest.fixture
def principals(tmp_path, tokens) -> Principals:
    path = tmp_path / "principals.json"
    write(path, {"format": 1, "principals": [entry("amr-cases", PUBLISHER, tokens["pub"], ev.AUTHORITY),
                                             entry("credit-office", SUPERVISOR, tokens["sup"]),
                                             entry("zz-bank", QUERIER, tokens["bank"], ev.BANK)]})
    return Principals.load(path)


def test_bearer_tokens_name_their_principal(principals, tokens):
    assert principals.authenticate(f"Bearer {tokens['pub']}") == Principal("amr-cases", PUBLISHER, ev.AUTHORITY)
    assert principals.authenticate(f"bearer   {tokens['sup']} ") == Principal("credit-office", SUPERVISOR)
    assert principals.by_token(tokens["bank"]).authority_code == ev.BANK


@pytest.mark.parametrize("header", [None, "", "   "])
def test_no_credentials_is_the_anonymous_public(principals, header):
    assert principals.authenticate(header) is ANONYMOUS_PRINCIPAL


@pytest.mark.parametrize("header, reason", [
    ("Bearer " + "A" * 43, "unknown token"),
    ("Basic dXNlcjpwYXNz", "Bearer"),
    ("Bearer", "malformed"),
    ("Bearer abc", "malformed"),
    ("Bearer ../../etc/passwd-is-not-a-token", "malformed"),
    ("Bearer " + "令牌" * 20, "malformed"),
    ("Bearer " + "A" * 600, "longer than"),
])
def test_bad_credentials_are_refused_with_a_reason(principals, header, reason):
    with pytest.raises(AuthenticationError) as error:
        principals.authenticate(header)
    assert reason in error.value.reason


def test_the_file_keeps_hashes_only(principals, tokens, tmp_path):
    text = (tmp_path / "principals.json").read_text()
    assert all(token not in text for token in tokens.values())


def test_toml_principals(tmp_path, tokens):
    path = tmp_path / "principals.toml"
    write(path, f'''format = 1
[[principals]]
name = "amr-cases"
role = "publisher"
authority_code = "{ev.AUTHORITY}"
token_sha256 = "{token_sha256(tokens['pub'])}"
expires_at = 2099-12-31T00:00:00+08:00

[[principals]]
name = "audit"
role = "auditor"
token_sha256 = "{token_sha256(tokens['sup'])}"
expires_at = "2099-12-31T00:00:00+08:00"
''')
    loaded = Principals.load(path)
    assert loaded.by_token(tokens["pub"]).authority_code == ev.AUTHORITY
    assert loaded.by_token(tokens["sup"]).role == AUDITOR


@pytest.mark.parametrize("change, message", [
    (lambda d: d["principals"][0].update(role="anonymous"), "role"),
    (lambda d: d["principals"][0].update(role="root"), "role"),
    (lambda d: d["principals"][0].update(authority_code=None), "bound to"),
    (lambda d: d["principals"][0].update(authority_code="123"), "unified social credit code"),
    (lambda d: d["principals"][0].update(token_sha256="secret"), "token_sha256"),
    (lambda d: d["principals"][0].update(name="<script>"), "name"),
    (lambda d: d["principals"][0].update(colour="red"), "nothing else"),
    (lambda d: d["principals"][0].pop("expires_at"), "expires_at"),
    (lambda d: d["principals"][0].update(expires_at="2027-01-01T00:00:00"), "offset"),  # no offset: which day?
    (lambda d: d["principals"][0].update(expires_at="next year"), "expires_at"),
    (lambda d: d["principals"][0].update(expires_at=20270101), "expires_at"),
    (lambda d: d["principals"].append(dict(d["principals"][0])), "twice"),
    (lambda d: d["principals"].append({**d["principals"][0], "name": "other"}), "share a token"),
    (lambda d: d.update(format=2), "format"),
    (lambda d: d.update(principals={}), "list"),
])
def test_a_broken_principals_file_is_refused_naming_the_rule(tmp_path, tokens, change, message):
    document = {"format": 1, "principals": [entry("amr-cases", PUBLISHER, tokens["pub"], ev.AUTHORITY)]}
    change(document)
    path = tmp_path / "principals.json"
    write(path, document)
    with pytest.raises(PrincipalsError, match=message):
        Principals.load(path)


def test_a_missing_principals_file(tmp_path, tokens):
    path = tmp_path / "principals.json"
    with pytest.raises(PrincipalsError, match="no principals file"):
        Principals.load(path)
    assert len(Principals.load(path, missing_ok=True)) == 0
    write(path, {"format": 1, "principals": [entry("audit", AUDITOR, tokens["sup"])]})
    path.chmod(0o644)  # hashes only: readable by others is fine (a mounted config map)
    assert len(Principals.load(path)) == 1


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_principals_file_others_may_write_is_refused(tmp_path, tokens, mode):
    path = tmp_path / "principals.json"
    write(path, {"format": 1, "principals": [entry("audit", AUDITOR, tokens["sup"])]})
    path.chmod(mode)  # whoever may write it may make themselves admin
    with pytest.raises(PrincipalsError, match="writable by group or others"):
        Principals.load(path)


def test_a_token_past_its_expiry_is_refused_with_the_reason(tmp_path, tokens):
    path = tmp_path / "principals.json"
    write(path, {"format": 1, "principals": [entry("audit", AUDITOR, tokens["sup"],
                                                   expires_at="2026-03-01T00:00:00+08:00")]})
    now = [datetime(2026, 2, 28, 15, 59, 59, tzinfo=timezone.utc)]  # 23:59:59 in Shanghai
    principals = Principals(Principals.load(path).credentials, now=lambda: now[0])
    assert principals.authenticate("Bearer " + tokens["sup"]).name == "audit"
    assert principals.by_name("audit").role == AUDITOR
    now[0] += timedelta(seconds=1)
    for attempt in (lambda: principals.authenticate("Bearer " + tokens["sup"]), lambda: principals.by_name("audit")):
        with pytest.raises(AuthenticationError, match="expired at 2026-03-01T00:00:00"):
            attempt()
    with pytest.raises(AuthenticationError, match="no longer a principal"):
        principals.by_name("someone-else")


def test_the_principals_file_is_re_read_when_it_changes_and_a_bad_one_keeps_the_last_good(tmp_path, tokens, caplog):
    path = tmp_path / "principals.json"
    write(path, {"format": 1, "principals": [entry("audit", AUDITOR, tokens["sup"]),
                                             entry("amr-cases", PUBLISHER, tokens["pub"], ev.AUTHORITY)]})
    clock_s = [100.0]
    live = PrincipalsFile(path, monotonic_s=lambda: clock_s[0], check_every_s=1.0)
    assert live.by_token(tokens["pub"]).name == "amr-cases"
    write(path, {"format": 1, "principals": [entry("audit", AUDITOR, tokens["sup"])]})  # the publisher removed
    os.utime(path, ns=(0, 1))  # a different mtime, even on a file system with coarse timestamps
    clock_s[0] += 0.5
    assert live.by_token(tokens["pub"]).name == "amr-cases"  # not looked at yet: at most once a second
    clock_s[0] += 0.5
    with pytest.raises(AuthenticationError, match="unknown token"):
        live.by_token(tokens["pub"])
    with caplog.at_level(logging.ERROR, logger="streams.principals"):
        path.write_text("{ not json")
        os.utime(path, ns=(0, 2))
        clock_s[0] += 1
        assert live.by_token(tokens["sup"]).name == "audit"  # the last good file stays in force
        path.chmod(0o666)
        clock_s[0] += 1
        assert live.by_token(tokens["sup"]).name == "audit"
    assert "not JSON" in caplog.text and "writable by group or others" in caplog.text
    assert tokens["sup"] not in caplog.text
    write(path, {"format": 1, "principals": []})
    clock_s[0] += 1
    with pytest.raises(AuthenticationError):
        live.by_token(tokens["sup"])


def test_dev_tokens_expire_and_every_up_renews_them(tmp_path):
    create_dev_principals(tmp_path, [ev.AUTHORITY])
    path = tmp_path / "principals.json"
    document = json.loads(path.read_text())
    for item in document["principals"]:
        item["expires_at"] = "2020-01-01T00:00:00+00:00"
    write(path, document)
    create_dev_principals(tmp_path, [ev.AUTHORITY])
    expiries = {datetime.fromisoformat(item["expires_at"]) for item in json.loads(path.read_text())["principals"]}
    soon = datetime.now(timezone.utc) + timedelta(days=DEV_TOKEN_DAYS)
    assert all(timedelta(0) <= soon - at <= timedelta(minutes=5) for at in expiries)


def test_an_open_tokens_file_is_refused_not_silently_replaced(tmp_path):
    create_dev_principals(tmp_path, [ev.AUTHORITY])
    (tmp_path / "tokens.json").chmod(0o644)
    with pytest.raises(PrincipalsError, match="chmod 600"):
        create_dev_principals(tmp_path, [ev.AUTHORITY])


def test_dev_principals_have_the_documented_shape_and_work(tmp_path):
    tokens = create_dev_principals(tmp_path, [ev.AUTHORITY, SECOND_AUTHORITY], subject_ids=[ev.COMPANY])
    on_disk = json.loads((tmp_path / "tokens.json").read_text())
    assert on_disk == tokens
    assert set(tokens) == {"supervisor", "auditor", "admin", "publishers", "subjects"}
    assert set(tokens["subjects"]) == {ev.COMPANY}
    assert set(tokens["publishers"]) == {ev.AUTHORITY, SECOND_AUTHORITY}
    for name in ("tokens.json", "principals.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    principals = Principals.load(tmp_path / "principals.json")
    assert principals.authenticate("Bearer " + tokens["admin"]).role == ADMIN
    assert principals.authenticate("Bearer " + tokens["auditor"]).role == AUDITOR
    assert principals.authenticate("Bearer " + tokens["supervisor"]).role == SUPERVISOR
    publisher = principals.authenticate("Bearer " + tokens["publishers"][SECOND_AUTHORITY])
    assert (publisher.role, publisher.authority_code) == (PUBLISHER, SECOND_AUTHORITY)
    subject = principals.authenticate("Bearer " + tokens["subjects"][ev.COMPANY])
    assert (subject.role, subject.subject_id, subject.name) == ("subject", ev.COMPANY, f"dev-subject-{ev.COMPANY}")
    assert create_dev_principals(tmp_path, [ev.AUTHORITY]) == tokens  # kept by the next `up`


def test_dev_principals_are_idempotent_and_keep_the_operators_own(tmp_path):
    first = create_dev_principals(tmp_path, [ev.AUTHORITY])
    own = new_token()
    path = tmp_path / "principals.json"
    document = json.loads(path.read_text())
    document["principals"].append(entry("zz-bank", QUERIER, own, ev.BANK))
    write(path, document)
    again = create_dev_principals(tmp_path, [ev.AUTHORITY, SECOND_AUTHORITY])
    assert {k: again[k] for k in ("supervisor", "auditor", "admin")} == {k: first[k] for k in
                                                                         ("supervisor", "auditor", "admin")}
    assert again["publishers"][ev.AUTHORITY] == first["publishers"][ev.AUTHORITY]  # clients keep working
    principals = Principals.load(path)
    assert principals.by_token(own).name == "zz-bank"
    assert len(principals) == 3 + 2 + 1
    assert create_dev_principals(tmp_path, [ev.AUTHORITY, SECOND_AUTHORITY]) == again


def test_dev_principals_refuse_a_bad_authority_code(tmp_path):
    with pytest.raises(PrincipalsError):
        create_dev_principals(tmp_path, ["not-a-code"])


def test_settings_find_the_principals_file_in_the_data_dir(tmp_path):
    from ops.config import Settings

    assert Settings(data_dir=str(tmp_path)).principals_path == tmp_path / "principals.json"
    assert Settings(data_dir=str(tmp_path), principals_file="elsewhere.toml").principals_path.name == "elsewhere.toml"
    assert len(Settings(data_dir=str(tmp_path)).principals()) == 0  # no file yet: everyone is anonymous
    create_dev_principals(tmp_path, [ev.AUTHORITY])
    assert len(Settings(data_dir=str(tmp_path)).principals()) == 4
