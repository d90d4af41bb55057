"""Hypothesis strategies shared by the bad-input tests of every emulator: random requests
(a method, a path, parameters in the query or the form, an ``Authorization`` header) built
from the OAuth parameter names and the values that reach deep into the grants, plus a
vendor's own names and values. Each vendor's test checks the answer's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx
from hypothesis import strategies as st

from proctor.mock_idps import vendors

PARAMS = (
    "grant_type",
    "code",
    "redirect_uri",
    "client_id",
    "client_secret",
    "code_verifier",
    "refresh_token",
    "scope",
    "token",
    "token_type_hint",
    "device_code",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "transaction",
    "step",
    "username",
    "password",
    "decision",
)
VALUES = (
    "",
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:device_code",
    "code",
    "openid",
    "S256",
    "plain",
    "none",
    "login",
    "allow",
    "http://127.0.0.1:8700/oauth2/callback",
    "eyJhbGciOiJub25lIn0.e30.",
)
AUTH = (None, "Basic !!!", "Basic", "Basic MG9hOng=", "Bearer ", "Bearer x.y.z", "Digest a")


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    params: dict[str, str]
    auth: str | None
    in_query: bool

    def send(self, client: httpx.Client) -> httpx.Response:
        headers = {"authorization": self.auth} if self.auth is not None else {}
        if self.method == "GET" or self.in_query:
            return client.request(self.method, self.path, params=self.params, headers=headers)
        return client.request(self.method, self.path, data=self.params, headers=headers)


def vendor_paths(vendor: str, *extra: str) -> list[str]:
    """Every endpoint path of ``vendor``'s default configuration, then ``extra``."""
    profile = vendors.profile(vendor)
    servers = profile.servers(profile.default_config(), f"https://{profile.default_host}")
    found = [path for server in servers for path in server.paths.values()]
    return list(dict.fromkeys([*found, profile.login_path, *extra]))


def requests(
    paths: Sequence[str],
    *,
    params: Iterable[str] = (),
    values: Iterable[str] = (),
    auth: Iterable[str | None] = (),
    methods: Sequence[str] = ("GET", "POST", "PUT", "DELETE"),
    max_params: int = 6,
) -> st.SearchStrategy[FuzzRequest]:
    """Requests to ``paths`` with the shared and the given parameter names and values."""
    names = list(dict.fromkeys([*PARAMS, *params]))
    value = st.one_of(
        st.sampled_from(list(dict.fromkeys([*VALUES, *values]))), st.text(max_size=40)
    )
    return st.builds(
        FuzzRequest,
        method=st.sampled_from(list(methods)),
        path=st.sampled_from(list(paths)),
        params=st.dictionaries(st.sampled_from(names), value, max_size=max_params),
        auth=st.sampled_from(list(dict.fromkeys([*AUTH, *auth]))),
        in_query=st.booleans(),
    )


def assert_not_a_server_error(response: httpx.Response, *secrets: str) -> None:
    """A 4xx at worst, no traceback, no secret of the configuration in the body."""
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    for secret in secrets:
        assert secret not in response.text
