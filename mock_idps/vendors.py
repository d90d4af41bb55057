"""The vendor registry: which emulators exist, by name.

Adding a vendor is one line here plus its module, which defines ``PROFILE`` (a
:class:`~proctor.mock_idps.profile.VendorProfile`); ``"module:NAME"`` names another
attribute, so one module can hold several profiles (the third-party providers). Names
whose module does not exist yet are left out of :func:`available`, so the CLI and the
pytest plugin only offer what is built.
"""

from __future__ import annotations

import importlib
import importlib.util

from proctor.mock_idps.profile import VendorProfile

__all__ = ["VENDORS", "available", "profile"]

VENDORS: dict[str, str] = {
    "okta": "proctor.mock_idps.okta",
    "entra": "proctor.mock_idps.entra",
    "cognito": "proctor.mock_idps.cognito",
    # Third-party OAuth providers ("tools") with their resource APIs.
    "crm": "proctor.mock_idps.providers:CRM",
    "finance": "proctor.mock_idps.providers:FINANCE",
    "documents": "proctor.mock_idps.providers:DOCUMENTS",
    "google": "proctor.mock_idps.google",
    "github": "proctor.mock_idps.github",
}


def _target(name: str) -> tuple[str, str]:
    module, _, attribute = VENDORS[name].partition(":")
    return module, attribute or "PROFILE"


def available() -> list[str]:
    """The vendor names whose emulator module is installed."""
    return [name for name in VENDORS if importlib.util.find_spec(_target(name)[0])]


def profile(name: str) -> VendorProfile:
    """The profile of vendor ``name``; ``ValueError`` if there is no such emulator."""
    if name not in available():
        raise ValueError(f"no emulator for {name!r}; available: {', '.join(available())}")
    module, attribute = _target(name)
    found = getattr(importlib.import_module(module), attribute, None)
    if not isinstance(found, VendorProfile):
        raise TypeError(f"{module}.{attribute} is not a VendorProfile")
    return found
