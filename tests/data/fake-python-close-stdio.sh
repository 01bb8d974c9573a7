#!/bin/sh
# Stands in for a Python interpreter that closes its stdin and stdout (the
# master's only channel to it) before any marker and lingers: the master
# must fail the connection at once, not wait for the connect timeout.
echo "fake-python pid $$" >&2
exec 0<&- 1>&-
exec sleep 30
