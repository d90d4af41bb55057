"""The ``proctor`` command: parses arguments, wires the packages together, prints."""
