"""A package with submodules, served from the master's search path."""

from mitogen_testpkg import shapes


def area(side):
    return shapes.square_area(side)
