#!/bin/sh
# Stands in for a Python interpreter that never starts the runtime.
exec sleep 30
