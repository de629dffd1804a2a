"""The credit report (信用报告): a credit file as one printable, self-contained HTML page in Chinese."""
from __future__ import annotations

import re
from html.parser import HTMLParser

from projections import records as rec
from projections.fold import credit_file
from projections.replay import replay
from streams.report import STATUS_LABELS_ZH, render_report, yuan
from tests.unit import events as ev
from tests.unit.test_fold_rules import given

GENERATED_AT = "2025-07-01T09:30:00+08:00"
EVIL_NAME = "<script>alert('x')</script>有限公司"
EVIL_FACTS = '<img src=x onerror="alert(1)">在经营场所发布虚假广告'


def _story() -> list[dict]:
    """A handful of events touching every section of the report."""
    return [
        ev.permit_granted("X-1", "2025-01-06"),
        # recorded five weeks after its decision: 迟报
        ev.penalty_imposed("P-1", "2025-01-06", recorded_at="2025-02-14T10:00:00+08:00", fine_fen=5_000_000),
        # under objection, with a hostile text, published under query authorisation
        ev.valid("PenaltyImposed", ev.penalty_payload(record_id="P-2", decision_no=ev.decision_no("P-2"),
                                                      facts=EVIL_FACTS, fine_fen=12_345, exemption="PERSONAL_PRIVACY",
                                                      exemption_basis="《政府信息公开条例》第十五条：涉及个人隐私"),
                 "2025-01-07", classification="AUTHORIZED"),
        ev.objection_filed("O-1", "P-2", "2025-01-08"),
        ev.commitment_made("C-1", "2025-01-06"),
        ev.commitment_breached("C-1", "2025-01-09"),
        ev.list_entered("L-1", "2025-01-10"),
        ev.rating_assigned("G-1", "2025-01-06", level="B"),
        ev.rating_assigned("G-2", "2025-02-06", level="A"),
        # made in a year the official calendar does not cover yet: a provisional deadline
        ev.commitment_made("C-2", "2030-03-01", due_working_days=10),
    ]


def _report(state: dict, history: list[dict] | None = None) -> str:
    return render_report(credit_file(state), history or [], GENERATED_AT)


def _text(html: str) -> str:
    """The page as a reader sees it: the text outside tags, style and script."""
    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("style", "script")

        def handle_endtag(self, tag):
            self.skip -= tag in ("style", "script")

        def handle_data(self, data):
            if not self.skip:
                self.parts.append(data)

    parser = Text()
    parser.feed(html)
    return "".join(parser.parts)


def test_the_report_has_every_section_in_chinese():
    state = given(*_story())
    html = _report(state)
    text = _text(html)
    for heading in ("信用报告", "主体信息", "信用等级", "评分依据", "行政许可", "行政处罚", "信用承诺", "红黑名单",
                    "联合奖惩措施", "行业信用评价", "待办期限", "异议与修复", "校验信息"):
        assert heading in text, heading
    assert "郑州金水宏达机械制造有限公司" in text and ev.COMPANY in text
    assert "法人" in text and "410105" in text and "2020-01-02" in text  # kind, region, registration
    grade = credit_file(state)["grade"]
    assert f"{grade['letter']} 级" in text and str(grade["score"]) in text and grade["policy_version"] in text
    for column in ("记录", "规则", "分值", "说明"):
        assert f"<th>{column}</th>" in html
    assert "违背信用承诺" in text and "-50" in text  # the breached commitment's reason, in Chinese
    assert "通过信用中国（地方）网站向社会公示" in text  # the list entry's measure, by name
    assert "异议处理" in text and "2025-01-15" in text  # the pending objection's deadline: 5 working days
    assert "暂定" in text
    assert GENERATED_AT in text.split("本报告由")[-1]  # the footer


def test_every_record_shows_its_status_in_chinese():
    text = _text(_report(given(*_story())))
    assert "公示中" in text  # P-1, an active penalty
    assert "有效" in text  # the permit, the list entry, the current rating
    assert "异议中" in text  # P-2
    assert "已违诺" in text and "履行中" in text  # C-1, C-2
    assert "已更新" in text  # G-1, superseded by G-2


def test_status_labels_cover_every_status():
    assert STATUS_LABELS_ZH == {
        rec.ACTIVE: "有效", rec.UNDER_OBJECTION: "异议中", rec.REPAIRED: "已修复", rec.PUBLICITY_ENDED: "公示期满",
        rec.RETRACTED: "已撤回", rec.REVOKED: "已撤销", rec.OPEN: "履行中", rec.FULFILLED: "已履行",
        rec.BREACHED: "已违诺", rec.OVERDUE: "逾期未履行", rec.EXITED: "已移出", rec.TERM_ENDED: "期满",
        rec.SUPERSEDED: "已更新", rec.EXPIRED: "有效期届满"}


def test_a_late_disclosure_is_flagged_and_money_is_in_yuan():
    html = _report(given(*_story()))
    text = _text(html)
    assert "迟报" in text and "应于 2025-01-15 前报送" in text  # P-1: due 7 working days after 2025-01-06
    assert "按时报送" in text  # P-2 and the permit
    assert "50,000.00 元（5 万元）" in text and "123.45 元" in text
    assert yuan(0) == "0.00 元" and yuan(26_360_000) == "263,600.00 元（26.36 万元）"
    assert yuan(8_216_100) == "82,161.00 元（8.2161 万元）"


def test_every_value_is_escaped():
    renamed = ev.valid("PenaltyFulfilled", {"record_id": "P-1"}, "2025-03-03",  # the latest name is the file's
                       subject={"id": ev.COMPANY, "kind": "LEGAL_PERSON", "name": EVIL_NAME})
    state, _ = replay_one(ev.subject_registered(), *_story(), renamed)
    html = render_report(credit_file(state), [], "<b>now</b>")
    assert "<script" not in html.lower() and "<img" not in html and "<b>now" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;有限公司" in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert EVIL_NAME in _text(html)  # shown as text, exactly


def replay_one(*events: dict) -> tuple[dict, list[dict]]:
    """One subject's state and history ({offset, chain_hash, event}) as the worker keeps them."""
    result = replay(enumerate(events))
    assert result.rejected == []
    (subject_id,) = result.states
    return result.states[subject_id], result.history[subject_id]


def test_the_page_is_self_contained_and_printable():
    state, history = replay_one(ev.subject_registered(), *_story())
    html = render_report(credit_file(state), history, GENERATED_AT)
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html and '<meta charset="utf-8">' in html
    assert "@media print" in html and "@page" in html
    assert not re.search(r"https?://", html), "an offline intranet cannot fetch anything"
    assert "@import" not in html and "url(" not in html

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.attributes = set(), set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            self.attributes |= {name for name, _ in attrs}

    tags = Tags()
    tags.feed(html)
    assert not tags.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert not tags.attributes & {"src", "href", "srcset"} and not any(a.startswith("on") for a in tags.attributes)


def test_the_verification_section_gives_the_chain_and_how_to_check_it():
    state, history = replay_one(ev.subject_registered(), *_story())
    file = credit_file(state)
    text = _text(render_report(file, history, GENERATED_AT))
    assert file["chain"]["head"] in text and str(file["chain"]["length"]) in text
    assert str(file["as_of"]["offset"]) in text and file["as_of"]["recorded_at"] in text
    assert f"credit-ledger verify --subject {ev.COMPANY}" in text
    assert f"随附事件链共 {len(history)} 条，末端哈希与档案一致" in text
    assert "附：事件链" in text and history[0]["chain_hash"][:16] in text and "主体登记" in text
    # read a moment after the file, the history may hold newer events: the report stops at the file's head
    earlier = {**file, "chain": {"length": len(history) - 1, "head": history[-2]["chain_hash"]}}
    text = _text(render_report(earlier, history, GENERATED_AT))
    assert f"随附事件链共 {len(history) - 1} 条，末端哈希与档案一致" in text
    assert history[-1]["chain_hash"][:16] not in text
    tampered = [*history[:-1], {**history[-1], "chain_hash": "f" * 64}]
    assert "不一致" in _text(render_report(file, tampered, GENERATED_AT))
    # and it says what it was built from, when told
    assert "数据来源" not in text
    assert "数据来源由 credit.events 日志重建" in _text(render_report(file, history, GENERATED_AT,
                                                                   source="由 credit.events 日志重建"))


def test_records_that_are_not_public_are_marked():
    html = _report(given(*_story()))
    # P-2 was published AUTHORIZED; the pending objection is INTERNAL (its type's default)
    assert re.search(r'P-2</span> <span class="badge status bad">异议中</span>.*?<span class="badge cls">授权</span>',
                     html)
    assert re.search(r'O-1</span><span class="badge cls">内部</span>', html)
    assert re.search(r'P-1</span> <span class="badge status bad">公示中</span><span class="badge late">', html)
    assert "本报告含非公开信息" in _text(html)
    public = _report(given(ev.penalty_imposed()))
    assert "本报告含非公开信息" not in _text(public) and 'class="badge cls"' not in public


def test_a_natural_person_shows_no_name():
    made = ev.valid("CommitmentMade", {"commitment_id": "C-1", "commitment_kind": "VOLUNTARY", "content": "诚信经营"},
                    "2025-01-06", subject=ev.person())
    state, _ = replay_one(made)
    file = credit_file(state)
    file["subject"] = {**file["subject"], "name": "张三"}  # were a name ever to reach the file
    text = _text(render_report(file, [], GENERATED_AT))
    assert file["subject"]["id"].startswith("np-") and file["subject"]["id"] in text
    assert "张三" not in text and "自然人" in text and "不显示姓名" in text


def test_an_empty_section_says_so():
    text = _text(_report(given()))
    assert "无待办期限" in text and "无办理中的异议" in text and "无办理中的信用修复申请" in text
    assert "行政处罚（0 条）" in text


def test_the_public_view_says_the_grade_is_for_supervisors():
    from projections.access import ANONYMOUS_PRINCIPAL, view_file

    state = given(ev.penalty_imposed())
    view, _ = view_file(credit_file(state), state, ANONYMOUS_PRINCIPAL, "2025-01-07")
    text = _text(render_report(view, [], "2025-01-07T10:00:00+08:00"))
    assert "仅向监管人员提供" in text and "未评定等级" not in text
    assert "仅向监管人员提供" not in _text(_report(state))
