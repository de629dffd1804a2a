"""The worker's few server-built HTML pages (not found, refused, the login form) and the choice a
route makes between HTML for a browser and JSON for everyone else. Pure text: no I/O."""
from __future__ import annotations

from html import escape

HTML_PAGE_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Vary": "Accept"}


def prefers_html(request) -> bool:
    """Whether the request's Accept header ranks text/html above application/json: a browser opening a
    link. Clients that send no Accept, or */*, get JSON as before."""
    ranges = []
    for part in (request.headers.get("Accept") or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        if "/" not in media:
            continue
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))

    def quality_of(media: str) -> float:
        kind = media.split("/")[0]
        for candidate in (media, f"{kind}/*", "*/*"):  # the most specific range decides
            matches = [q for m, q in ranges if m == candidate]
            if matches:
                return max(matches)
        return 0.0
    return quality_of("text/html") > quality_of("application/json")


def not_found_page(subject_id: str) -> str:
    """What a browser gets for an unknown subject: a page in Chinese, not a JSON error."""
    return ('<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>未找到信用主体</title>'
            '<link rel="icon" href="data:,"></head>'
            '<body style="font-family:\'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;margin:40px">'
            f'<h1>未找到信用主体</h1><p>账本中没有主体 <code>{escape(subject_id)}</code> 的记录。</p>'
            '<p><a href="/dashboard">返回信用风险监测</a></p></body></html>\n')


def refusal_page(message: str) -> str:
    """What a browser with a session that may not see the dashboard gets: why, and the way to log in."""
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>需要授权</title></head>'
            '<body style="font-family: sans-serif; margin: 3em">'
            '<h1>信用风险监测需要监管人员授权</h1>'
            f'<p>{escape(message)}</p>'
            '<p><a href="/dashboard/login">以监管人员令牌登录</a></p></body></html>\n')


def login_page(message: str | None = None) -> str:
    """The dashboard's login form: the token goes in a POST body, never in a URL (history, proxies' logs)."""
    notice = f'<p role="alert" style="color:#b00020">{escape(message)}</p>' if message else ""
    return ('<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · 信用风险实时监测</title>'
            '<link rel="icon" href="data:,"></head>'
            '<body style="font-family:\'Noto Sans CJK SC\',\'Microsoft YaHei\',sans-serif;margin:3em;max-width:40em">'
            f'<h1>信用风险实时监测</h1>{notice}'
            '<form method="post" action="/dashboard/login">'
            '<p><label for="token">令牌（监管人员或信用主体本人）</label><br>'
            '<input id="token" name="token" type="password" autocomplete="off" required size="50"></p>'
            '<p><button type="submit">登录</button></p></form>'
            '<p>嵌入式部署（credit-ledger up）的令牌见数据目录中 tokens.json 的 "supervisor"；'
            '信用主体以本人令牌（"subjects"）登录后进入本人信用信息页。'
            '登录后浏览器只保存一个会话 Cookie，不保存令牌。</p></body></html>\n')
