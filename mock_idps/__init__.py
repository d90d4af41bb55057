"""Emulators of Okta, Entra ID and Cognito, and mock third-party OAuth providers.

Stands alone: imports neither :mod:`proctor.reference` nor :mod:`proctor.conformance`.
"""
