import reldep


def value():
    return 'relmod+' + reldep.VALUE
