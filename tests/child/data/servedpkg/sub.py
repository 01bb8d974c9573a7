from . import NAME


def value():
    return NAME + '.sub'
