"""proctor's black-box conformance kit.

It speaks HTTP to a target and never imports :mod:`proctor.reference`.
"""
