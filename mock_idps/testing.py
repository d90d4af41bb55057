"""Helpers for tests that drive an emulator: PKCE pairs and the hosted pages' forms.

The sign-in and consent pages are plain HTML forms; :func:`parse_forms` reads them so a
test can fill them in and post them with httpx, as a browser would.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser

from proctor.mock_idps.pkce import s256

__all__ = ["Form", "parse_forms", "pkce_pair"]


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
