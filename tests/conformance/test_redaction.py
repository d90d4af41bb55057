"""Secrets never reach evidence, messages, reports or the console."""

from __future__ import annotations

import base64
import json
import re

import pytest

from proctor.conformance.evidence import Recorder, Redactor, fingerprint
from tests.conformance.conftest import ADMIN_TOKEN, RunKit
from tests.conformance.fake_target import CLIENT_ID, CLIENT_SECRET, Flaws

JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzYXJhaCJ9.c2lnbmF0dXJlLWJ5dGVz"
REFRESH = "refresh-token-value-271828"


def test_the_redaction_marker_has_the_specified_format() -> None:
    """CONF-EVID-001: ``[redacted sha256:<first 12 hex digits of the SHA-256>]``."""
    assert fingerprint("abc") == "[redacted sha256:ba7816bf8f01]"
    assert fingerprint(b"abc") == fingerprint("abc")


def test_the_whole_authorization_value_is_redacted_scheme_included() -> None:
    """CONF-EVID-001: the value of ``Authorization`` is replaced whole."""
    redactor = Redactor()
    headers = redactor.headers([("Authorization", f"Bearer {JWT}"), ("Accept", "text/plain")])
    assert headers == {
        "authorization": fingerprint(f"Bearer {JWT}"),
        "accept": "text/plain",
    }
    basic = redactor.headers([("Authorization", "Basic a2l0OnNlY3JldC12YWx1ZQ==")])
    assert basic == {"authorization": fingerprint("Basic a2l0OnNlY3JldC12YWx1ZQ==")}
    # The credentials alone are learnt too: a later mention of them is scrubbed.
    assert "a2l0OnNlY3JldC12YWx1ZQ==" not in redactor.text("echo a2l0OnNlY3JldC12YWx1ZQ==")


@pytest.mark.parametrize("name", ["Cookie", "Set-Cookie", "X-Api-Key", "X-Session-Token"])
def test_credential_headers_are_fingerprinted(name: str) -> None:
    """CONF-EVID-001: ``Cookie`` and ``Set-Cookie`` (and API keys) are replaced whole."""
    value = "sid=value-123456; Path=/; HttpOnly"
    assert Redactor().headers([(name, value)])[name.lower()] == fingerprint(value)


def test_form_and_query_credentials_are_fingerprinted() -> None:
    redactor = Redactor()
    form = redactor.form("grant_type=authorization_code&code=abc123xyz&code_verifier=v3r1f13r&x=1")
    assert form == (
        f"grant_type=authorization_code&code={fingerprint('abc123xyz')}"
        f"&code_verifier={fingerprint('v3r1f13r')}&x=1"
    )
    url = redactor.url("https://as.test/cb?code=abc123xyz&state=s1")
    assert url == f"https://as.test/cb?code={fingerprint('abc123xyz')}&state=s1"
    assert redactor.url("https://user:pw@as.test/") == f"https://{fingerprint('user:pw')}@as.test/"


def test_json_credentials_and_private_jwk_members_are_fingerprinted() -> None:
    body = {
        "access_token": JWT,
        "token_type": "Bearer",
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "nested": {"clientSecret": "camel-case-secret", "apiKey": "k-123456"},
        "keys": [{"kty": "EC", "crv": "P-256", "x": "pub", "d": "private-scalar"}],
        "code": "invalid_token",  # an RFC 9457 machine code, not a credential
        "note": f"the token was {JWT}",
    }
    redacted = Redactor().json_value(body)
    assert redacted == {
        "access_token": fingerprint(JWT),
        "token_type": "Bearer",
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "nested": {
            "clientSecret": fingerprint("camel-case-secret"),
            "apiKey": fingerprint("k-123456"),
        },
        "keys": [{"kty": "EC", "crv": "P-256", "x": "pub", "d": fingerprint("private-scalar")}],
        "code": "invalid_token",
        "note": f"the token was {fingerprint(JWT)}",
    }


def test_known_and_learnt_secrets_are_scrubbed_from_free_text() -> None:
    redactor = Redactor(["configured-secret"])
    assert redactor.text("x configured-secret y") == f"x {fingerprint('configured-secret')} y"
    redactor.json_value({"refresh_token": REFRESH})
    assert REFRESH not in redactor.text(f"the refresh token {REFRESH} leaked")
    redactor.add_secret("abc")  # too short to search for in free text
    assert redactor.text("abc") == "abc"


def test_thousands_of_learnt_secrets_are_all_scrubbed() -> None:
    """A run learns a secret per token it is issued; each is scrubbed wherever it appears,
    the compiled ones and the newest alike (CONF-EVID-001)."""
    secrets = [f"opaque-{i:05d}-{'x' * (i % 7)}" for i in range(1_000)]
    redactor = Redactor(secrets[:-3])
    for late in secrets[-3:]:
        redactor.add_secret(late)
    text = " | ".join(f"token={s};" for s in secrets)
    scrubbed = redactor.text(text)
    assert not any(s in scrubbed for s in secrets)
    assert scrubbed.count("[redacted sha256:") == len(secrets)
    assert f"token={fingerprint(secrets[0])};" in scrubbed
    assert f"token={fingerprint(secrets[-1])};" in scrubbed


def test_overlapping_secrets_leave_no_part_of_either() -> None:
    redactor = Redactor(["AAAABBBB", "BBBBCCCC", "CCCCDDDD1"])
    scrubbed = redactor.text("<AAAABBBBCCCC> <CCCCDDDD1>")
    assert scrubbed == f"<{fingerprint('AAAABBBBCCCC')}> <{fingerprint('CCCCDDDD1')}>"


def test_bodies_are_redacted_by_content_type_and_cut() -> None:
    redactor = Redactor()
    assert redactor.body(b'{"refresh_token": "r-123456"}', "application/json") == (
        f'{{"refresh_token": "{fingerprint("r-123456")}"}}'
    )
    assert redactor.body(b"\xff\xfe", "image/png") == "<2 bytes of image/png data>"
    assert redactor.body(b"", "text/plain") is None
    cut = redactor.body(b"a" * 20_000, "text/plain")
    assert cut is not None
    assert cut.endswith("[3616 more characters cut]")


def test_the_recorder_attributes_exchanges_to_the_running_check() -> None:
    recorder = Recorder(Redactor())
    kwargs = {
        "method": "GET",
        "url": "http://t.test/",
        "request_headers": [],
        "request_body": b"",
        "status": 200,
        "started": 0.0,
    }
    recorder.record(**kwargs)  # type: ignore[arg-type]
    recorder.begin()
    recorder.record(**kwargs)  # type: ignore[arg-type]
    assert len(recorder.end()) == 1
    assert len(recorder.unattributed) == 1
    assert recorder.end() == []


def test_no_secret_reaches_any_report_file_or_the_console(run_kit: RunKit) -> None:
    """CONF-EVID-001: nothing secret in any report format or in the console."""
    run = run_kit(
        suites=(),
        samples=("kit_secrets",),
        flaws=Flaws(leak=CLIENT_SECRET, refresh_token=REFRESH),
    )
    secrets = {
        CLIENT_SECRET,
        ADMIN_TOKEN,
        REFRESH,
        "form-secret-value-55",
        "verifier-value-66",
        "query-code-value-77",
        base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(),
        "eyJ",  # no compact JWS/JWT at all
    }
    texts = {path.name: path.read_text() for path in run.report_dir.iterdir()}
    texts["console"] = run.console
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"{secret!r} found in {where}"
    # ... and the evidence is there, redacted rather than dropped:
    document = json.loads(texts["report.json"])
    echo = next(t for t in document["results"]["tests"] if t["name"].endswith("test_echo_leaks"))
    (exchange,) = echo["extra"]["evidence"]
    assert exchange["request"]["headers"]["authorization"] == fingerprint(f"Bearer {ADMIN_TOKEN}")
    # CONF-EVID-001: the one redaction format, in every report format and the console.
    marker = re.compile(r"\[redacted sha256:[0-9a-f]{12}\]")
    for where in ("report.json", "junit.xml", "summary.md", "report.html", "console"):
        assert "sha256:" not in marker.sub("", texts[where]), where
    assert marker.search(texts["report.html"])
    assert exchange["url"].endswith(f"/echo?code={fingerprint('query-code-value-77')}&state=s")
    assert fingerprint("form-secret-value-55") in exchange["request"]["body"]
    assert "debug dump" in exchange["response"]["body"]
    assert run.result("test_echo_leaks").message.startswith("the target leaks: debug dump")
