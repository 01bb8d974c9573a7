#!/bin/sh
# Stands in for a Python interpreter that fails at once.
echo 'no python here' >&2
exit 3
