"""The one compiled part of kdns: the UDP datagram loop (kdns/server/_mmsg.c).

Optional: where it cannot be built (no compiler, not Linux), kdns reads UDP through the same loop
written with ctypes (kdns/server/mmsg_ctypes.py), slower but the same answers. `pip install -e .` (which
scripts/test.sh runs) builds it into the source tree; run it again after changing the C file.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kdns.server._mmsg", ["kdns/server/_mmsg.c"], optional=True)])
