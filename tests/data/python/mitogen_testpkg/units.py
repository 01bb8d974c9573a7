FACTOR = 1


def scale(value):
    return value * FACTOR
