"""A package served to children from a GResource bundle."""

from mitogen_respkg import inner


def answer():
    return inner.VALUE
