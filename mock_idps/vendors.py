"""The vendor registry: which emulators exist, by name.

Adding a vendor is one line here plus its module, which defines ``PROFILE`` (a
:class:`~proctor.mock_idps.profile.VendorProfile`). Names whose module does not exist yet
are left out of :func:`available`, so the CLI and the pytest plugin only offer what is
built.
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
}


def available() -> list[str]:
    """The vendor names whose emulator module is installed."""
    return [name for name, module in VENDORS.items() if importlib.util.find_spec(module)]


def profile(name: str) -> VendorProfile:
    """The profile of vendor ``name``; ``ValueError`` if there is no such emulator."""
    if name not in available():
        raise ValueError(f"no emulator for {name!r}; available: {', '.join(available())}")
    found = getattr(importlib.import_module(VENDORS[name]), "PROFILE", None)
    if not isinstance(found, VendorProfile):
        raise TypeError(f"{VENDORS[name]}.PROFILE is not a VendorProfile")
    return found
