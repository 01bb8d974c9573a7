VALUE = 'from a thread'
