"""proctor's reference agent identity service.

The protocol core (authorizer, directory, workload tokens, vault, token exchange,
consent, audit) is framework-free; ``proctor.reference.http`` maps HTTP onto it.
"""
