VALUE = 'reldep'
