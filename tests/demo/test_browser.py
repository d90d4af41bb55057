"""The consent path in a real browser: Debian's chromium, driven by Playwright.

Sarah signs in at the company IdP's page, the vault hands the orchestrator an
authorization URL, and the browser goes through the CRM's own sign-in and consent pages,
the reference's callback and back to the company app, which completes the session for
Sarah. Then the whole ``--browser`` demo, with the browser as the person at the keyboard.
"""

from __future__ import annotations

import io
import queue
import re
import threading
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from rich.console import Console

from proctor.cli.demo import EXIT_OK, run
from proctor.cli.scenario import (
    TOOL_PASSWORD,
    TOOL_USER,
    TOOLS,
    Narrator,
    Scenario,
    demo_stack,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

pytestmark = [pytest.mark.browser, pytest.mark.network]


def fill_login(page: Page, username: str, password: str) -> None:
    """The mock IdPs' and providers' sign-in form (``#login``)."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login button[type=submit]")


def quiet_narrator() -> Narrator:
    return Narrator(Console(file=io.StringIO(), width=120, no_color=True))


def test_consent_in_chromium_completes_the_session(chromium: BrowserContext) -> None:
    narrator = quiet_narrator()
    page = chromium.new_page()
    with demo_stack("okta", narrator, mode="browser") as stack:
        company = stack.company
        scenario = Scenario(stack, narrator, mode="browser", browser_wait=30)

        # Sarah signs in at the IdP's own page (authorization code + PKCE).
        discovery = httpx.get(stack.discovery_url).json()
        page.goto(
            company.signin_url(
                discovery["authorization_endpoint"],
                discovery["token_endpoint"],
                stack.plan.app_client_id,
                stack.plan.scope,
            )
        )
        fill_login(page, stack.plan.username, stack.plan.password)
        page.wait_for_url(lambda url: url.startswith(company.signin_callback))
        assert page.get_attribute("#status", "data-outcome") == "signed_in"
        scenario.user_token = company.wait_signed_in(5)
        scenario.decide()
        wat = scenario.workload_token()

        # The vault asks for consent at the CRM: an authorization URL and a session.
        crm = TOOLS[0]
        started = scenario.request_token(wat, crm)
        assert started["session_status"] == "in_progress"
        session_uri = started["session_uri"]

        page.goto(started["authorization_url"])
        fill_login(page, TOOL_USER, TOOL_PASSWORD)
        assert page.text_content("h1") == "Allow access?"
        page.click("#consent button[value=allow]")
        page.wait_for_url(lambda url: url.startswith(company.return_url))

        # The company app completed the session for Sarah (POST /v1/sessions/complete).
        assert page.get_attribute("#status", "data-outcome") == "completed"
        outcome = company.outcome(session_uri)
        assert outcome is not None
        assert outcome.completed, outcome.detail

        # The orchestrator polls the session and gets the token, which the CRM accepts.
        token = scenario.request_token(wat, crm, session_uri=session_uri)
        assert token["scopes"] == ["notes.read"]
        notes = httpx.get(
            f"{stack.tool_url('crm')}/api/customers/acme/notes",
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        assert notes.status_code == 200
        assert notes.json()["customer"]["account_owner"] == TOOL_USER
        # The token is stored: asking again returns it without a new session.
        again = scenario.request_token(wat, crm)
        assert again.get("access_token") == token["access_token"]


class _Lines(io.StringIO):
    """A console file whose complete lines can be read from another thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()
        self._partial = ""

    def write(self, s: str) -> int:
        self._partial += s
        *done, self._partial = self._partial.split("\n")
        for line in done:
            self.lines.put(line)
        return super().write(s)


def _wait_for(lines: _Lines, pattern: str, worker: threading.Thread) -> re.Match[str]:
    """The next printed line matching ``pattern`` (lines before it are consumed)."""
    while True:
        try:
            line = lines.lines.get(timeout=20)
        except queue.Empty:
            state = "running" if worker.is_alive() else "finished"
            pytest.fail(f"the demo ({state}) printed no {pattern!r}:\n{lines.getvalue()}")
        if match := re.search(pattern, line):
            return match


def test_browser_mode_with_a_person_at_the_keyboard(chromium: BrowserContext) -> None:
    """``proctor demo --browser``: the demo prints each URL and waits; the browser signs
    Sarah in at the IdP and gives the three consents at the tools' own pages."""
    lines = _Lines()
    outcome: dict[str, Any] = {}

    def demo() -> None:
        console = Console(file=lines, width=400, no_color=True, highlight=False)
        outcome["code"] = run("okta", mode="browser", console=console, browser_wait=60)

    worker = threading.Thread(target=demo, daemon=True)
    worker.start()
    page = chromium.new_page()

    _wait_for(lines, "Open this URL in a browser", worker)
    page.goto(_wait_for(lines, r"https?://\S+", worker).group(0))
    fill_login(page, "sarah@example.com", "sarah-password")
    page.wait_for_url(re.compile(r".*/signin/callback\?"))

    for tool in TOOLS:
        page.goto(_wait_for(lines, rf"^\s+{tool.label}: (http\S+)$", worker).group(1))
        if page.locator("#login").count():
            fill_login(page, TOOL_USER, TOOL_PASSWORD)
        page.click("#consent button[value=allow]")
        page.wait_for_url(re.compile(r".*/consent/return\?"))
        assert page.get_attribute("#status", "data-outcome") == "completed"

    worker.join(timeout=60)
    assert not worker.is_alive()
    output = lines.getvalue()
    assert outcome.get("code") == EXIT_OK, output
    assert output.rstrip("\n").splitlines()[-1] == "consent prompts: run1=3 run2=0"
