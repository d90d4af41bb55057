"""The reference service's thin HTTP layer (Starlette).

Each module maps one area's requests onto the framework-free core and its typed errors
onto responses; nothing here decides protocol questions.
"""
