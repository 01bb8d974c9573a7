"""A package served by the fake master."""
NAME = 'servedpkg'
