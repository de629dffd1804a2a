"""The demo dataset: deterministic, complete, valid and coherent."""
from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from functools import lru_cache

import pytest

from ops.demo import add_workdays, demo_events, demo_jsonl
from projections import catalogue as cat
from projections.ids import resident_id_problems, uscc_problems
from projections.replay import replay

START, DAYS = date(2024, 1, 2), 600
END = START + timedelta(days=DAYS - 1)
ENVELOPE = {"event_id", "type", "subject", "source", "occurred_on", "classification", "payload"}
DECISION_NO = re.compile(r"^（?[\u4e00-\u9fff]+）?[\u4e00-\u9fff]+〔20\d\d〕\d+号$")


@lru_cache(maxsize=None)
def _events(seed: int = 7, **kw) -> tuple:
    return tuple(demo_events(seed, **kw))


def events(seed: int = 7, **kw) -> list[dict]:
    return [json.loads(json.dumps(e)) for e in _events(seed, **kw)]  # a fresh copy per test


def subject_key(event: dict) -> str:
    subject = event["subject"]
    return subject["id"] or subject["id_number"]


def test_deterministic_for_a_seed():
    assert demo_events(7) == demo_events(7)
    assert demo_events(8) != demo_events(7)
    ids = [e["event_id"] for e in events()]
    assert len(set(ids)) == len(ids) and all(uuid.UUID(i).version == 5 for i in ids)


def test_every_publisher_type_appears():
    seen = Counter(e["type"] for e in events())
    assert set(cat.EVENT_TYPES) - cat.SYSTEM_TYPES - set(seen) == set()
    assert not cat.SYSTEM_TYPES & set(seen)
    for seed in (1, 2, 3):  # not an accident of seed 7
        assert set(cat.EVENT_TYPES) - cat.SYSTEM_TYPES <= {e["type"] for e in events(seed)}


def test_identifiers_are_valid():
    kinds = Counter()
    for e in events():
        subject, source = e["subject"], e["source"]
        kinds[subject["kind"]] += e["type"] == "SubjectRegistered"
        assert uscc_problems(source["authority_code"]) == [], e
        assert source["authority_code"][:2] == "11" and source["authority_name"].endswith(("局", "委员会", "法院"))
        if subject["kind"] == "NATURAL_PERSON":
            assert subject["id"] is None and subject["name"]
            assert resident_id_problems(subject["id_number"], today=END) == []
        else:
            assert "id_number" not in subject
            assert uscc_problems(subject["id"]) == []
            assert subject["id"][1] == ("2" if subject["kind"] == "INDIVIDUAL_BUSINESS" else "1")
        if e["type"] in ("QueryAuthorized", "QueryAuthorizationRevoked"):
            assert uscc_problems(e["payload"]["grantee"]) == []
    assert kinds["LEGAL_PERSON"] > kinds["INDIVIDUAL_BUSINESS"] + kinds["OTHER_ORGANIZATION"]
    assert kinds["INDIVIDUAL_BUSINESS"] >= 1 and kinds["OTHER_ORGANIZATION"] >= 1
    assert 2 <= kinds["NATURAL_PERSON"] <= 3
    assert sum(kinds.values()) == 40 + kinds["NATURAL_PERSON"]


def test_registration_matches_the_code():
    for e in events():
        if e["type"] == "SubjectRegistered":
            p = e["payload"]
            assert e["occurred_on"] == p["registered_on"] and date.fromisoformat(p["registered_on"]) < START
            assert p["region_code"][:4] in ("4101", "4407", "6302", "4202")
            if e["subject"]["kind"] == "NATURAL_PERSON":
                assert p["region_code"] == e["subject"]["id_number"][:6]
            else:
                assert p["region_code"] == e["subject"]["id"][2:8]
                assert re.fullmatch(r"[A-T]\d{4}", p["industry_code"])


def _kind_ok(fld: cat.Field, value) -> bool:
    if fld.kind == cat.STR:
        return isinstance(value, str) and 0 < len(value) <= fld.max_chars
    if fld.kind == cat.INT:
        return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= cat.FEN_MAX
    if fld.kind == cat.BOOL:
        return isinstance(value, bool)
    if fld.kind == cat.DATE:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    if fld.kind == cat.ENUM:
        return value in fld.values
    if fld.kind == cat.STR_LIST:
        return isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)
    if fld.kind == cat.ENUM_LIST:
        return isinstance(value, list) and value and all(v in fld.values for v in value)
    return False


def test_payloads_follow_the_catalogue():
    optional_seen = Counter()
    for e in events():
        assert set(e) == ENVELOPE, e  # no recorded_at: the edge stamps it
        spec = cat.EVENT_TYPES[e["type"]]
        assert e["classification"] == spec.default_classification
        payload = e["payload"]
        assert set(payload) <= {f.name for f in spec.fields}, e
        for fld in spec.fields:
            if fld.name in payload:
                assert _kind_ok(fld, payload[fld.name]), (e["type"], fld.name, payload[fld.name])
                optional_seen[(e["type"], fld.name)] += not fld.required
            else:
                assert not fld.required, (e["type"], fld.name)
        if "decision_no" in payload:
            assert DECISION_NO.match(payload["decision_no"]), payload["decision_no"]
    for optional in (("PenaltyImposed", "fine_fen"), ("PenaltyImposed", "sector"), ("CommitmentMade", "due_on"),
                     ("CommitmentMade", "due_working_days"), ("ListEntered", "basis_record_id"),
                     ("ListEntered", "term_until"), ("RatingAssigned", "valid_to"), ("PermitGranted", "valid_to")):
        assert optional_seen[optional], optional


def test_events_pass_the_edge_validator():
    from projections import validate
    from projections.canonical import SHANGHAI
    ctx = validate.EdgeContext(now=datetime(END.year, END.month, END.day, 23, 0, tzinfo=SHANGHAI),
                               pseudonym_key=b"demo-test-key-0123456789abcdef")
    for e in events():
        assert validate.validate_event(e, ctx)[1] == [], e


def test_dates_stay_in_the_window_and_in_order():
    evs = events()
    days = [e["occurred_on"] for e in evs]
    assert days == sorted(days)
    for e in evs:
        when = date.fromisoformat(e["occurred_on"])
        assert when <= END
        assert when >= START or e["type"] == "SubjectRegistered"
        for name in ("valid_from",):  # facts, not schedules, also stay in the window
            if name in e["payload"]:
                assert date.fromisoformat(e["payload"][name]) <= END
    short = demo_events(7, days=90)
    assert max(e["occurred_on"] for e in short) <= (START + timedelta(days=89)).isoformat()
    check_references(short)


def test_severity_and_lateness_mix():
    evs = events()
    severity = Counter(e["payload"]["severity"] for e in evs if e["type"] == "PenaltyImposed")
    assert severity["GENERAL"] > severity["SERIOUS"] >= 1 and severity["SEVERE"] >= 2
    assert severity["SEVERE"] < severity["GENERAL"] / 3
    decided = {e["payload"]["decision_no"]: date.fromisoformat(e["occurred_on"])
               for e in evs if e["type"] == "DecisionRegistered"}
    lags = [e for e in evs if e["type"] in ("PermitGranted", "PenaltyImposed")]
    late = [e for e in lags if date.fromisoformat(e["occurred_on"]) > add_workdays(decided[e["payload"]["decision_no"]], 7)]
    assert 1 <= len(late) < len(lags) / 4
    arrived = {e["payload"]["decision_no"] for e in lags}
    assert 1 <= len(set(decided) - arrived) < len(decided) / 4
    fines = [e["payload"]["fine_fen"] for e in lags if "fine_fen" in e["payload"]]
    assert fines and all(f % 100 == 0 and f >= 100 for f in fines)


def test_references_are_coherent():
    check_references(events())
    for seed in (1, 2, 3):
        check_references(events(seed))


def check_references(evs: list[dict]) -> None:
    """Replays each subject's events and checks every reference points back in time."""
    by_subject: dict[str, list[dict]] = {}
    for e in evs:
        by_subject.setdefault(subject_key(e), []).append(e)
    for key, history in by_subject.items():
        assert history[0]["type"] == "SubjectRegistered", key
        decisions, permits, penalties, fulfilled = {}, set(), {}, set()
        commitments, objections, repairs, entries, grants = {}, {}, {}, set(), {}
        for e in history[1:]:
            t, p, when = e["type"], e["payload"], date.fromisoformat(e["occurred_on"])
            assert t not in ("SubjectRegistered",) and "deregistered" not in decisions, (key, t)
            if t == "SubjectDeregistered":
                decisions["deregistered"] = when
            elif t == "DecisionRegistered":
                assert p["decision_no"] not in decisions
                decisions[p["decision_no"]] = (p["decision_kind"], when)
            elif t in ("PermitGranted", "PenaltyImposed"):
                kind, decided = decisions[p["decision_no"]]
                assert kind == ("PERMIT" if t == "PermitGranted" else "PENALTY") and decided < when
                assert p["record_id"] not in permits and p["record_id"] not in penalties
                if t == "PermitGranted":
                    permits.add(p["record_id"])
                else:
                    penalties[p["record_id"]] = (p, when)
            elif t == "PermitRevoked":
                assert p["record_id"] in permits
            elif t in ("PenaltyFulfilled", "PenaltyRevoked"):
                assert p["record_id"] in penalties and p["record_id"] not in fulfilled
                if t == "PenaltyFulfilled":
                    fulfilled.add(p["record_id"])
            elif t == "ObjectionFiled":
                assert p["record_id"] in penalties or p["record_id"] in permits
                objections[p["objection_id"]] = p["record_id"]
            elif t == "ObjectionResolved":
                assert objections.pop(p["objection_id"]) == p["record_id"]
            elif t == "CommitmentMade":
                assert p["commitment_id"] not in commitments
                related = p.get("related_record_id")
                assert related is None or related in permits or related in penalties
                commitments[p["commitment_id"]] = "open"
            elif t in ("CommitmentFulfilled", "CommitmentBreached"):
                assert commitments[p["commitment_id"]] == "open"
                commitments[p["commitment_id"]] = t
            elif t == "RepairRequested":
                record, imposed = penalties[p["record_id"]]
                assert p["record_id"] in fulfilled
                heavy = record["severity"] == "SEVERE" or "sector" in record
                assert when >= imposed + timedelta(days=365 if heavy else 92), (key, p)
                assert p.get("commitment_id") is None or p["commitment_id"] in commitments
                repairs[p["repair_id"]] = (p["record_id"], when)
            elif t == "RepairDecided":
                record_id, asked = repairs.pop(p["repair_id"])
                assert record_id == p["record_id"] and when <= add_workdays(asked, 5)
            elif t == "ListEntered":
                if "basis_record_id" in p:
                    assert p["basis_record_id"] in penalties
                if p["list_kind"] == "SERIOUS_DISHONESTY":
                    assert penalties[p["basis_record_id"]][0]["severity"] == "SEVERE"
                entries.add(p["entry_id"])
            elif t == "ListExited":
                entries.remove(p["entry_id"])
            elif t == "QueryAuthorized":
                assert p["authorisation_ref"] and p["grantee"] != e["source"]["authority_code"]
                grants[p["grant_id"]] = {k: v for k, v in p.items() if k != "authorisation_ref"}
            elif t == "QueryAuthorizationRevoked":
                assert grants.pop(p["grant_id"]) == p


def test_stories_cover_the_rules():
    evs = events()
    of = lambda t: [e["payload"] for e in evs if e["type"] == t]  # noqa: E731
    assert {p["outcome"] for p in of("RepairDecided")} == {"APPROVED", "REJECTED"}
    assert {"UPHELD_CORRECTED", "UPHELD_WITHDRAWN", "DISMISSED"} <= {p["outcome"] for p in of("ObjectionResolved")}
    assert len(of("ObjectionFiled")) > len(of("ObjectionResolved"))  # one left pending
    assert [p["false_commitment"] for p in of("CommitmentBreached")].count(True) == 1
    lists = {p["list_kind"] for p in of("ListEntered")}
    assert {"RED_LIST", "ABNORMAL_OPERATION", "SERIOUS_DISHONESTY"} <= lists
    measures = {m for p in of("ListEntered") for m in p["measures"]}
    assert {"GOV_PROCUREMENT_BAN", "HIGH_CONSUMPTION_BAN", "BIDDING_BAN", "GREEN_CHANNEL"} <= measures
    assert {"TAX", "ENVIRONMENT"} <= {p["rating_kind"] for p in of("RatingAssigned")}
    assert {p["level"] for p in of("RatingAssigned") if p["rating_kind"] == "TAX"} <= set("ABMCD")
    assert 1 <= len(of("PenaltyRevoked")) <= 2 and len(of("SubjectDeregistered")) == 1
    made = of("CommitmentMade")
    ended = {p["commitment_id"] for p in of("CommitmentFulfilled") + of("CommitmentBreached")}
    assert any("due_working_days" in p or "due_on" in p for p in made if p["commitment_id"] not in ended)


def test_names_are_realistic_and_unique():
    names = {e["subject"]["id"]: e["subject"]["name"] for e in events() if e["subject"]["id"]}
    assert len(set(names.values())) == len(names)
    assert all(n.startswith(("郑州", "江门", "海东", "黄石")) for n in names.values())
    assert sum(n.endswith("有限公司") for n in names.values()) > len(names) / 2
    authorities = {e["source"]["authority_name"] for e in events()}
    assert all(re.fullmatch(r"(国家税务总局)?(郑州|江门|海东|黄石)市.+", name) for name in authorities)
    for department in ("市场监督管理局", "税务局", "生态环境局", "应急管理局", "住房和城乡建设局", "发展和改革委员会"):
        assert any(name.endswith(department) for name in authorities), department


def test_jsonl(tmp_path):
    path = tmp_path / "demo.jsonl"
    count = demo_jsonl(path, seed=7)
    text = path.read_text(encoding="utf-8")
    assert "有限公司" in text  # ensure_ascii=False
    assert [json.loads(line) for line in text.splitlines()] == events() and count == len(events())


def test_too_few_subjects():
    with pytest.raises(ValueError):
        demo_events(subjects=5)


def test_the_whole_dataset_folds_with_no_rejection_and_tells_every_story():
    """The demo is what a new user sees first: every event must apply, and the files it
    builds must show the statuses the rules produce, not only the happy path."""
    evs = events()
    for e in evs:
        e["recorded_at"] = e["occurred_on"] + "T00:00:00+08:00"  # as `replay --from-file` stamps a file
    result = replay(enumerate(evs), pseudonym_key=b"k" * 32)
    assert result.rejected == []
    assert sum(len(h) for h in result.history.values()) == len(evs)
    statuses = Counter((collection, record["status"]) for state in result.states.values()
                       for collection, records in state["records"].items() for record in records.values())
    assert {("penalties", "ACTIVE"), ("penalties", "REPAIRED"), ("penalties", "UNDER_OBJECTION"),
            ("penalties", "REVOKED"), ("commitments", "OPEN"), ("commitments", "FULFILLED"),
            ("commitments", "BREACHED"), ("lists", "ACTIVE"), ("lists", "EXITED"), ("permits", "REVOKED"),
            ("ratings", "SUPERSEDED")} <= set(statuses)


def test_the_live_demo_tells_valid_stories_whose_deadlines_fire():
    """`up --demo` keeps publishing LiveDemo's stories as the clock reaches their days. Replayed as the
    worker would see them at a day a second (half a day a tick, a new story a second), nothing is
    rejected, the timers fire and grades spread, while at most LIVE_PENDING_MAX events ever wait."""
    from ops.demo import LIVE_PENDING_MAX, LiveDemo
    from projections.canonical import SHANGHAI
    from projections.grading import grade
    from projections.policy import DEFAULT_POLICY

    live, start, released = LiveDemo(seed=11, speed=86_400), date(2025, 3, 3), []
    for tick in range(240):
        today = start + timedelta(days=tick // 2)
        if tick % 2 == 0:
            assert live.new_story(today)
        for event in live.due(today, 50):
            assert event["occurred_on"] <= today.isoformat()
            event["recorded_at"] = f"{today.isoformat()}T{10 + tick % 2}:00:00+08:00"  # stamped by the clock
            released.append(event)
        assert len(live.pending) <= LIVE_PENDING_MAX
    assert len({e["event_id"] for e in released}) == len(released)
    result = replay(enumerate(released), clock=datetime.combine(today, datetime.max.time(), SHANGHAI))
    assert result.rejected == []
    fired = Counter(h["event"]["type"] for history in result.history.values() for h in history
                    if h["event"]["source"].get("system"))
    assert {"DisclosureOverdue", "CommitmentOverdue", "ProcessingOverdue"} <= set(fired)
    assert {e["payload"]["list_kind"] for e in released if e["type"] == "ListEntered"} - {"RED_LIST"}
    assert len({grade(state, DEFAULT_POLICY)["letter"] for state in result.states.values()}) >= 3
    # a new session tells other subjects' stories: nothing collides with an earlier one in the same ledger
    other = LiveDemo(seed=12, speed=86_400)
    other.new_story(start)
    assert not {e["subject"]["id"] for e in other.due(start + timedelta(days=400), 1000)} & set(result.states)
