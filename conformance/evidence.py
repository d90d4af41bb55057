"""Evidence: every HTTP exchange a check makes, recorded with its secrets redacted.

Conformance reports get shared (CI artifacts, issue trackers, certification
submissions), and the OpenID Foundation's published logs are known to carry client
credentials. So evidence is redacted *as it is recorded*: nothing secret is ever kept in
the kit's memory beyond the live HTTP call.

A secret is replaced by ``[redacted sha256:<first 12 hex digits of its SHA-256>]``
(CONF-EVID-001), so two mentions of the same token can still be correlated in a report
without the token itself being in it. What counts as secret:

- headers: the whole value of ``Authorization``, ``Proxy-Authorization``, ``Cookie`` and
  ``Set-Cookie`` (the scheme included: ``Bearer`` is not kept), and any header whose name
  mentions a token, secret, password, session or API key;
- form fields, query parameters and JSON members named like a credential
  (``client_secret``, ``client_assertion``, ``code``, ``code_verifier``, ``access_token``,
  ``refresh_token``, ``id_token``, ``subject_token``, ``actor_token``, ``assertion``,
  ``password``, API keys ..., in snake_case or camelCase), and the private members of a
  JWK (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, ``k``);
- anywhere in any text: every JWT/JWS/JWE compact serialization, and every literal secret
  the kit knows: the configured credentials, subject tokens it obtained, values a check
  registers with :meth:`Redactor.add_secret`, and every value it has already redacted by
  name (a refresh token seen in one response is scrubbed from every later message).

Reports are scrubbed once more when they are written (:meth:`Redactor.scrub`), with every
secret learnt during the run.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit, urlunsplit

__all__ = [
    "MAX_BODY_CHARS",
    "Recorder",
    "Redactor",
    "fingerprint",
]

#: Bodies longer than this are cut in the evidence (the cut is marked).
MAX_BODY_CHARS = 16_384
#: Literal secrets shorter than this are only redacted by name, never searched for in
#: free text (a three-character "secret" would blank out half a report).
MIN_LITERAL_SECRET = 6
#: Secrets per compiled alternation (:meth:`Redactor.text`).
_CHUNK = 256

_SENSITIVE_NAMES = frozenset(
    {
        "accesstoken",
        "actortoken",
        "apikey",
        "assertion",
        "authorization",
        "clientassertion",
        "clientsecret",
        "code",
        "codeverifier",
        "devicecode",
        "idtoken",
        "issuedtoken",
        "password",
        "privatekey",
        "refreshtoken",
        "secret",
        "sessiontoken",
        "subjecttoken",
        "token",
        "usertoken",
        "workloadaccesstoken",
    }
)
_JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
_HEADER_WORDS = ("token", "secret", "password", "session", "apikey", "api-key", "cookie")
_ALWAYS_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
# JWS/JWT compact (3 parts) and JWE compact (5 parts); the header always starts "eyJ".
_COMPACT_JOSE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*){2,4}")


def fingerprint(value: str | bytes) -> str:
    """``[redacted sha256:<first 12 hex digits of the value's SHA-256>]`` (CONF-EVID-001)."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return f"[redacted sha256:{hashlib.sha256(data).hexdigest()[:12]}]"


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _is_sensitive_name(name: str) -> bool:
    norm = _normalise(name)
    return norm in _SENSITIVE_NAMES or norm.endswith(("secret", "token", "password", "apikey"))


class Redactor:
    """Replaces secrets by fingerprints in headers, URLs, bodies and free text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        #: The secrets compiled into alternations of at most :data:`_CHUNK` each (each
        #: compiled once), and the newest ones, not compiled yet, searched one by one. A
        #: run learns thousands of secrets (every token it is issued): matching each of
        #: them against every string one by one made report writing quadratic.
        self._chunks: list[re.Pattern[str]] = []
        self._recent: list[str] = []
        for value in secrets:
            self.add_secret(value)

    def add_secret(self, value: str | None) -> None:
        """Make sure ``value`` never appears in evidence, messages or reports."""
        if value and len(value) >= MIN_LITERAL_SECRET:
            with self._lock:
                if value in self._secrets:
                    return
                self._secrets.add(value)
                self._recent.append(value)
                if len(self._recent) >= _CHUNK:
                    ordered = sorted(self._recent, key=len, reverse=True)
                    self._chunks.append(re.compile("|".join(map(re.escape, ordered))))
                    self._recent = []

    # -- free text ---------------------------------------------------------------------

    def text(self, text: str) -> str:
        """Redact compact JOSE objects and every known literal secret in ``text``.

        Each stretch of ``text`` covered by secrets (overlapping ones merged) becomes one
        fingerprint: of the secret, when the stretch is exactly one.
        """
        text = _COMPACT_JOSE.sub(lambda m: fingerprint(m.group(0)), text)
        if len(text) < MIN_LITERAL_SECRET:
            return text
        with self._lock:
            chunks, recent = list(self._chunks), list(self._recent)
        spans = [m.span() for chunk in chunks for m in chunk.finditer(text)]
        for secret in recent:
            at = text.find(secret)
            while at != -1:
                spans.append((at, at + len(secret)))
                at = text.find(secret, at + 1)
        if not spans:
            return text
        parts: list[str] = []
        done = 0
        start, end = -1, -1
        for begin, finish in sorted(spans):
            if begin < end:  # overlaps the stretch being built
                end = max(end, finish)
                continue
            if end > 0:
                parts += [text[done:start], fingerprint(text[start:end])]
                done = end
            start, end = begin, finish
        parts += [text[done:start], fingerprint(text[start:end]), text[end:]]
        return "".join(parts)

    # -- structured parts --------------------------------------------------------------

    def _hide(self, value: str) -> str:
        """Fingerprint ``value`` and remember it, so free text never shows it either."""
        self.add_secret(value)
        return fingerprint(value)

    def header_value(self, name: str, value: str) -> str:
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            # CONF-EVID-001: the whole value, scheme included; the credentials alone are
            # remembered too, so a mention of them elsewhere is scrubbed as well.
            self.add_secret(value.partition(" ")[2].strip())
            return self._hide(value)
        if lowered in ("cookie", "set-cookie"):
            pairs = value.split(";")
            for pair in pairs if lowered == "cookie" else pairs[:1]:
                self.add_secret(pair.partition("=")[2].strip())
        if lowered in _ALWAYS_HEADERS or any(word in lowered for word in _HEADER_WORDS):
            return self._hide(value)
        return self.text(value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Headers as a dict (repeated names joined by ``, ``), values redacted."""
        out: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            redacted = self.header_value(key, value)
            out[key] = f"{out[key]}, {redacted}" if key in out else redacted
        return out

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:  # userinfo in the URL is a credential
            userinfo, _, host = netloc.rpartition("@")
            netloc = f"{fingerprint(userinfo)}@{host}"
        query = self.form(parts.query) if parts.query else ""
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def form(self, encoded: str) -> str:
        pairs = parse_qsl(encoded, keep_blank_values=True)
        redacted = "&".join(
            f"{quote_plus(k)}="
            + (self._hide(v) if _is_sensitive_name(k) and v else quote_plus(v, safe=":/"))
            for k, v in pairs
        )
        return self.text(redacted)

    def json_value(self, value: Any) -> Any:
        """A JSON value with credential members fingerprinted.

        ``code`` is not a credential in JSON (authorization codes travel in redirects and
        forms; RFC 9457 problem details use ``code`` for a public machine code).
        """
        if isinstance(value, Mapping):
            jwk = "kty" in value
            out: dict[str, Any] = {}
            for key, item in value.items():
                name = str(key)
                by_name = _is_sensitive_name(name) and name != "code"
                if by_name or (jwk and name in _JWK_PRIVATE):
                    out[name] = self._fingerprint_any(item)
                else:
                    out[name] = self.json_value(item)
            return out
        if isinstance(value, list):
            return [self.json_value(item) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _fingerprint_any(self, value: Any) -> Any:
        if value is None or value == "":
            return value
        if isinstance(value, str):
            return self._hide(value)
        return fingerprint(json.dumps(value, sort_keys=True))

    def scrub(self, value: Any) -> Any:
        """Apply :meth:`text` to every string inside ``value`` (lists and dicts walked)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        if isinstance(value, dict):
            return {key: self.scrub(item) for key, item in value.items()}
        return value

    def body(self, content: bytes, content_type: str | None) -> str | None:
        """A body as redacted text (JSON and forms structurally, then as free text)."""
        if not content:
            return None
        ctype = (content_type or "").split(";", 1)[0].strip().lower()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(content)} bytes of {ctype or 'binary'} data>"
        if ctype == "application/x-www-form-urlencoded":
            redacted = self.form(text)
        elif ctype.endswith("json") or ctype.endswith("+json"):
            try:
                redacted = json.dumps(self.json_value(json.loads(text)), ensure_ascii=False)
            except (ValueError, RecursionError):  # not JSON, or nested beyond the stack
                redacted = self.text(text)
        else:
            redacted = self.text(text)
        if len(redacted) > MAX_BODY_CHARS:
            cut = len(redacted) - MAX_BODY_CHARS
            redacted = f"{redacted[:MAX_BODY_CHARS]}… [{cut} more characters cut]"
        return redacted


class Recorder:
    """Collects the exchanges of the check that is running, already redacted.

    The pytest plugin calls :meth:`begin` before each check and :meth:`end` after it;
    exchanges made outside a check (the runner's reachability probe) are kept apart.
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._lock = threading.Lock()
        self._current: list[dict[str, Any]] | None = None
        self.unattributed: list[dict[str, Any]] = []

    def begin(self) -> None:
        with self._lock:
            self._current = []

    def end(self) -> list[dict[str, Any]]:
        with self._lock:
            found, self._current = self._current or [], None
        return found

    def _append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            (self._current if self._current is not None else self.unattributed).append(entry)

    def record(
        self,
        *,
        method: str,
        url: str,
        request_headers: Iterable[tuple[str, str]],
        request_body: bytes,
        status: int | None,
        response_headers: Iterable[tuple[str, str]] = (),
        response_body: bytes = b"",
        started: float,
        error: str | None = None,
    ) -> None:
        r = self.redactor
        req_headers = list(request_headers)
        resp_headers = list(response_headers)
        entry: dict[str, Any] = {
            "method": method,
            "url": r.url(url),
            "request": {
                "headers": r.headers(req_headers),
                "body": r.body(request_body, _content_type(req_headers)),
            },
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        if error is not None:
            entry["error"] = r.text(error)
        else:
            entry["response"] = {
                "status": status,
                "headers": r.headers(resp_headers),
                "body": r.body(response_body, _content_type(resp_headers)),
            }
        self._append(entry)


def _content_type(headers: Iterable[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() == "content-type":
            return value
    return None
