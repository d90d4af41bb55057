"""Helpers for tests that drive an emulator: PKCE pairs and the hosted pages' forms.

The sign-in and consent pages are plain HTML forms; :func:`parse_forms` reads them so a
test can fill them in and post them with httpx, as a browser would, and
:func:`sign_in` walks an authorization request through them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from proctor.mock_idps.pkce import s256

__all__ = ["Form", "parse_forms", "pkce_pair", "redirected_to", "sign_in"]

_MAX_STEPS = 12  # redirects and form posts of one sign-in


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, S256 code_challenge)`` (RFC 7636 §4.1-4.2)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: dict[str, list[str]] = field(default_factory=dict)

    def fill(self, **values: str) -> dict[str, str]:
        """The fields to post: the form's own values updated with ``values``."""
        data = dict(self.fields)
        data.update(values)
        return data


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, Form] = {}
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(a.get("action", ""), a.get("method", "get").upper())
            self.forms[a.get("id") or str(len(self.forms))] = self._current
        elif self._current is not None and tag == "input" and a.get("name"):
            self._current.fields[a["name"]] = a.get("value", "")
        elif self._current is not None and tag == "button" and a.get("name"):
            self._current.buttons.setdefault(a["name"], []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse_forms(html: str) -> dict[str, Form]:
    """The page's forms by ``id`` (or position), with their inputs' current values."""
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


async def sign_in(
    client: httpx.AsyncClient,
    authorize_url: str,
    params: Mapping[str, str],
    *,
    username: str,
    password: str,
    decision: str = "allow",
) -> tuple[httpx.Response, list[str]]:
    """Send an authorization request and walk it through the hosted pages, as a browser
    would: follow redirects that do not lead to ``params["redirect_uri"]``, fill in and post
    the sign-in form (``login``) and then the consent form (``consent``, with
    ``decision``), each at most once. Stops at the redirect to the client or at a page with
    neither form (an error page, a failed sign-in). Returns the last response and the
    forms posted, in order."""
    redirect_uri = params["redirect_uri"]
    response = await client.get(authorize_url, params=params)
    shown: list[str] = []
    for _ in range(_MAX_STEPS):
        location = response.headers.get("location", "")
        if response.is_redirect and not location.startswith(redirect_uri):
            response = await client.get(location)
            continue
        forms = parse_forms(response.text) if response.status_code in (200, 401) else {}
        if "login" in forms and "login" not in shown:
            shown.append("login")
            data = forms["login"].fill(username=username, password=password)
            response = await client.post(forms["login"].action, data=data)
        elif "consent" in forms and "consent" not in shown:
            shown.append("consent")
            data = forms["consent"].fill(decision=decision)
            response = await client.post(forms["consent"].action, data=data)
        else:
            return response, shown
    raise RuntimeError(f"the sign-in did not settle within {_MAX_STEPS} requests")


def redirected_to(response: httpx.Response, redirect_uri: str) -> httpx.URL:
    """The URL ``response`` redirects the user agent to, which must be the client's
    ``redirect_uri`` (with the code or the error in its query); ``ValueError`` otherwise."""
    location = response.headers.get("location", "")
    if not response.is_redirect or not location.startswith(redirect_uri):
        raise ValueError(
            f"expected a redirect to {redirect_uri}, got {response.status_code} "
            f"{location or response.text[:300]!r}"
        )
    return httpx.URL(location)
