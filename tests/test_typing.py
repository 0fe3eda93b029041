"""mypy is clean on kdns/ (style.md): checked by the test run, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO


def test_mypy_is_clean_on_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
