from mitogen_testpkg.units import scale


def square_area(side):
    return scale(side * side)
