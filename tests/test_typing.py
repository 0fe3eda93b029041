"""mypy is clean on kdns/ (style.md): checked by the test run, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_mypy_is_clean_on_the_package() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"], cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_index_records_are_read_only_to_the_type_checker(tmp_path: Path) -> None:
    # Not frozen at run time (objects.record says why): mypy is what keeps them unchanged.
    snippet = tmp_path / "mutate.py"
    snippet.write_text(
        "from kdns.plugins.kubernetes.index import EndpointAddress, ServiceEndpoints\n"
        "from kdns.plugins.kubernetes.objects import Endpoint, EndpointSlice, Namespace, Pod, Port, Service\n"
        "Port('http', 80, 'TCP').port = 81\n"
        "Namespace('a').name = 'b'\n"
        "Service('ns', 'a', 'ClusterIP', (), False, '', (), ()).name = 'b'\n"
        "Endpoint(('10.0.0.1',)).ready = False\n"
        "EndpointSlice('ns', 'a', 'svc', (), ()).service = 'b'\n"
        "Pod('ns', 'a', (), 'Running').phase = 'Failed'\n"
        "EndpointAddress('10.0.0.1', 'x', ()).label = 'y'\n"
        "ServiceEndpoints().addresses = ()\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", str(snippet)], cwd=REPO, capture_output=True, text=True,
        timeout=600,
    )
    assert [line.split(":")[1] for line in result.stdout.splitlines() if "is read-only" in line] == [
        str(n) for n in range(3, 11)
    ], result.stdout
