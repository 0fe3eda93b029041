"""fastpath.Entry's base without the compiled module: where setup.py could not build _mmsg.c, entries
are PlainEntryFields and the ctypes loop serves them. The batched loop's own tests and the cache's
fast-path tests run again in a fresh interpreter that cannot import kdns.server._mmsg."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

WITHOUT_COMPILED = """
import sys
sys.modules["kdns.server._mmsg"] = None  # as if never built: importing it raises ImportError
from kdns.server import entryfields, fastpath, mmsg
assert mmsg.CompiledBatch is None
assert fastpath.Entry.__mro__[1] is entryfields.EntryFields is entryfields.PlainEntryFields
import pytest
sys.exit(pytest.main(sys.argv[1:]))
"""


def test_without_the_compiled_module_entries_are_plain_and_served_alike() -> None:
    tests = ["tests/server/test_mmsg.py", "tests/server/test_udp.py", "tests/plugins/cache/test_cache_fastpath.py"]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_COMPILED, "-q", "-p", "no:cacheprovider", *tests,
         "--deselect", "tests/server/test_mmsg.py::test_the_compiled_loop_is_built_where_a_compiler_is"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
