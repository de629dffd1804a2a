"""GET/POST /dashboard/login: a token exchanged for a session cookie (streams/sessions.py).

The token travels in a POST body, never in a URL; it is checked, never stored, logged or put in the
cookie. A login posted from another site's page is refused (login CSRF)."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import orjson
from faust.web import View

from projections.access import SUBJECT
from streams.html_pages import HTML_PAGE_HEADERS, login_page
from streams.principals import AuthenticationError
from streams.sessions import SESSION_COOKIE, cookie_is_secure

LOGIN_BODY_BYTES_MAX = 4096  # a token is 43 characters
LOGIN_FIELDS_MAX = 4  # fields of a posted form parsed at most
OTHER_SITE = "the login form was sent from another site"


def same_site_problem(request) -> str | None:
    """A login posted from another site's page (login CSRF) is refused: by the browser's Sec-Fetch-Site
    when it sends one, else by the Origin. A client that sends neither (curl, a script) is not a browser
    on another site, nor is an Origin "null" (what a page with no referrer policy sends) alone."""
    fetch_site = (request.headers.get("Sec-Fetch-Site") or "").lower()
    if fetch_site:
        return None if fetch_site in ("same-origin", "none") else OTHER_SITE
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return None
    if urlsplit(origin).netloc.lower() != (request.headers.get("Host") or "").strip().lower():
        return OTHER_SITE
    return None


async def posted_token(request) -> str | None:
    """The token of a login: a form's `token` field or a JSON {"token": ...}; None when there is none."""
    if request.content_length is not None and request.content_length > LOGIN_BODY_BYTES_MAX:
        return None
    body = await request.content.read(LOGIN_BODY_BYTES_MAX + 1)
    if len(body) > LOGIN_BODY_BYTES_MAX:
        return None
    media = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media == "application/json":
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        token = value.get("token") if isinstance(value, dict) else None
    else:
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=LOGIN_FIELDS_MAX)
        except ValueError:  # more fields than LOGIN_FIELDS_MAX: no form of ours
            return None
        token = (fields.get("token") or [None])[0]
    return token.strip() if isinstance(token, str) else None


def install(app, worker) -> None:
    """The login form and its POST, on the Faust app."""
    gate = worker.gate

    @app.page("/dashboard/login", name="dashboard_login")
    class Login(View):
        """GET: the login form. POST (a form's `token` field, or JSON {"token": ...}): for a valid token a
        session cookie and 303 to /dashboard (a subject to /self; JSON: 200 with the principal and the
        session's lifetime); 401 otherwise."""

        async def get(self, request):
            # its form's POST carries Origin "null" (the worker's Referrer-Policy is no-referrer): the browser's
            # Sec-Fetch-Site says where it came from (same_site_problem)
            return self.web.bytes(login_page().encode(), headers={**HTML_PAGE_HEADERS, "Cache-Control": "no-store"})

        async def post(self, request):
            wants_json = (request.headers.get("Content-Type") or "").lower().startswith("application/json")
            problem = same_site_problem(request)
            token = None if problem else await posted_token(request)
            try:
                if problem:
                    raise AuthenticationError(problem)
                principal, session_id, max_age_s = gate.login(token or "")
            except AuthenticationError as error:
                return refused(self.web, error.reason, wants_json)
            if wants_json:
                response = self.web.bytes(orjson.dumps({"principal": principal.name, "role": principal.role,
                                                        "expires_in_s": max_age_s}),
                                          headers={"Content-Type": "application/json; charset=utf-8",
                                                   "Cache-Control": "no-store"})
            else:  # a subject (本人) to its own page, every other principal to the dashboard
                home = "/self" if principal.role == SUBJECT else "/dashboard"
                response = self.web.bytes(b"", status=303, headers={"Location": home, "Cache-Control": "no-store"})
            response.set_cookie(SESSION_COOKIE, session_id, max_age=max_age_s, httponly=True, samesite="Strict",
                                path="/", secure=cookie_is_secure(request.scheme,
                                                                  request.headers.get("X-Forwarded-Proto")))
            return response


def refused(web, reason: str, wants_json: bool):
    """401 with why: a JSON error naming the field and the rule, or the form again with the reason."""
    if wants_json:
        return web.bytes(orjson.dumps({"errors": [{"field": "token", "rule": "authentication", "message": reason}]}),
                         status=401, headers={"Content-Type": "application/json; charset=utf-8"})
    return web.bytes(login_page(f"登录失败：{reason}").encode(), status=401,
                     headers={**HTML_PAGE_HEADERS, "Cache-Control": "no-store"})
