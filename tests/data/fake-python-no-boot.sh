#!/bin/sh
# Stands in for a Python interpreter that starts (MITO000), takes in the
# runtime the master sends and then reads stdin forever without ever
# reporting the runtime up (no MITO002): the connect timeout must end it.
echo "fake-python pid $$" >&2
exec "${MITOGEN_TEST_PYTHON:-python3}" -c '
import os, time
os.write(1, b"MITO000\n")
while os.read(0, 65536):
    pass
time.sleep(60)
'
