"""The hosted pages: sign-in, consent, device activation, errors and sign-out.

Plain HTML forms without JavaScript, so a test drives them with httpx (fill in the
fields, post the form) and a person can use them in a browser. Every value is escaped.
The transaction ID in a hidden field is unguessable and single-use, which also makes
it the forms' CSRF token.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

__all__ = ["consent_page", "device_page", "error_page", "login_page", "message_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}"
    "main{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;"
    "box-shadow:0 1px 4px #0002}h1{font-size:1.3rem}label{display:block;margin:.8rem 0 .2rem}"
    "input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#a00}.brand{color:#555;"
    "font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}"
)


def _page(brand: str, title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        f'<p class="brand">{escape(brand)} (mock)</p><h1>{escape(title)}</h1>{body}'
        "</main></body></html>\n"
    )


def login_page(
    brand: str, action: str, transaction: str, *, error: str | None = None, username: str = ""
) -> str:
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _page(
        brand,
        "Sign In",
        f'{err}<form method="post" action="{escape(action)}" id="login">'
        f'<input type="hidden" name="transaction" value="{escape(transaction)}">'
        '<input type="hidden" name="step" value="login">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" '
        'autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>',
    )


def consent_page(
    brand: str, action: str, transaction: str, client_name: str, scopes: Iterable[str]
) -> str:
    items = "".join(f"<li><code>{escape(s)}</code></li>" for s in scopes)
    return _page(
        brand,
        "Allow access?",
        f"<p><strong>{escape(client_name)}</strong> would like to:</p><ul>{items}</ul>"
        f'<form method="post" action="{escape(action)}" id="consent">'
        f'<input type="hidden" name="transaction" value="{escape(transaction)}">'
        '<input type="hidden" name="step" value="consent">'
        '<button type="submit" name="decision" value="allow">Allow Access</button> '
        '<button type="submit" name="decision" value="deny">Don\'t Allow</button></form>',
    )


def device_page(brand: str, action: str, *, user_code: str = "", error: str | None = None) -> str:
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return _page(
        brand,
        "Activate your device",
        f'{err}<form method="post" action="{escape(action)}" id="device">'
        '<label for="user_code">Activation code</label>'
        f'<input type="text" id="user_code" name="user_code" value="{escape(user_code)}" '
        'required><button type="submit">Next</button></form>',
    )


def error_page(brand: str, error: str, description: str) -> str:
    return _page(
        brand,
        "Error",
        f'<p class="error" role="alert"><code id="error">{escape(error)}</code>: '
        f'<span id="error_description">{escape(description)}</span></p>',
    )


def message_page(brand: str, title: str, text: str) -> str:
    return _page(brand, title, f"<p>{escape(text)}</p>")
