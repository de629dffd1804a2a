"""The worker's server-built HTML pages and its choice between HTML and JSON (streams/html_pages.py)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from streams.html_pages import login_page, not_found_page, prefers_html, refusal_page


@pytest.mark.parametrize("accept, html", [
    ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", True),  # Chromium
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # Firefox
    (None, False),  # urllib, most HTTP libraries
    ("*/*", False),  # curl
    ("application/json", False),
    ("application/json, text/html;q=0.5", False),
    ("text/*", True),
    ("text/html;q=0.1, application/json;q=0.2", False),
    ("text/html;q=oops", False),
])
def test_a_browser_gets_html_and_everyone_else_json(accept, html):
    request = SimpleNamespace(headers={} if accept is None else {"Accept": accept})
    assert prefers_html(request) is html


HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize("page", [not_found_page, refusal_page, login_page])
def test_what_a_page_quotes_is_escaped(page):
    text = page(HOSTILE)
    assert HOSTILE not in text and "&lt;script&gt;" in text
    assert text.startswith("<!") and 'lang="zh-CN"' in text


def test_the_login_form_posts_the_token_in_its_body_and_shows_no_notice_unasked():
    text = login_page()
    assert 'method="post" action="/dashboard/login"' in text and 'type="password"' in text
    assert 'role="alert"' not in text and 'role="alert"' in login_page("登录失败")
