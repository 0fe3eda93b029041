"""scripts/venv.sh, which the README's two commands source: what it does on a machine without the
venv module (a stock Debian 12 or Ubuntu 24.04, whose Python lacks ensurepip until python3.X-venv
is installed) or with a Python too old, with apt-get, dpkg-query, id and sudo stood in for by stubs."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VERSION = "%d.%d" % sys.version_info[:2]


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


class Machine:
    """A PATH of bash, basename, cat and rm, plus stubs: dpkg-query knows python3.X-venv as installed
    once the stub apt-get has installed it, which gives the stub python its ensurepip."""

    def __init__(self, tmp: Path, apt: bool = True, uid: int = 0, sudo: bool = False) -> None:
        self.bin = tmp / "bin"
        self.bin.mkdir()
        self.log = tmp / "commands.log"
        self.log.touch()
        blocked = tmp / "no-ensurepip"
        blocked.mkdir()
        # Shadows the standard library's ensurepip, as a Python without python3.X-venv lacks it.
        self.blocker = blocked / "ensurepip.py"
        self.blocker.write_text("raise ImportError(\"No module named 'ensurepip'\")\n")
        for tool in ("bash", "basename", "cat", "rm"):
            real = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
            (self.bin / tool).symlink_to(real)
        log = f'echo "$(basename "$0") $*" >>{self.log}\n'
        self.python = executable(tmp / "python3", f'#!/bin/sh\nPYTHONPATH={blocked} exec {sys.executable} "$@"\n')
        executable(self.bin / "id", f"#!/bin/sh\necho {uid}\n")
        # The venv package as dpkg-query reports it: installed, or removed with its configuration
        # files left, which `dpkg -s` would have taken for installed.
        executable(
            self.bin / "dpkg-query",
            f'#!/bin/sh\n{log}if [ -e {self.blocker} ]; then echo "deinstall ok config-files"; '
            'else echo "install ok installed"; fi\n',
        )
        if apt:
            install = f'case "$*" in *install*python{VERSION}-venv*) rm -f {self.blocker};; esac\n'
            executable(self.bin / "apt-get", f"#!/bin/sh\n{log}{install}")
        if sudo:
            executable(self.bin / "sudo", f'#!/bin/sh\n{log}exec "$@"\n')

    def run(self, command: str, python: Path | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "PYTHON": str(python or self.python), "HOME": os.environ.get("HOME", "/")}
        return subprocess.run(
            [str(self.bin / "bash"), "-c", f"set -euo pipefail; . scripts/venv.sh; {command}"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )

    def commands(self) -> list[str]:
        return self.log.read_text().splitlines()


def test_the_stub_python_lacks_ensurepip_until_the_package_is_installed(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    assert machine.run("$PYTHON -c 'import ensurepip'").returncode != 0
    machine.blocker.unlink()
    assert machine.run("$PYTHON -c 'import ensurepip'").returncode == 0


def test_as_root_the_venv_package_is_installed(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    done = machine.run(f"kdns_ensure_venv_module {VERSION}")
    assert done.returncode == 0, done.stderr
    assert f"installing Debian packages: python{VERSION}-venv" in done.stderr
    assert machine.commands()[-2:] == ["apt-get update -qq", f"apt-get install -y -qq python{VERSION}-venv"]
    # Once there, nothing is installed again.
    assert machine.run(f"kdns_ensure_venv_module {VERSION}").returncode == 0
    assert len(machine.commands()) == 3  # dpkg-query, apt-get update, apt-get install


def test_without_root_it_goes_through_sudo(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=1000, sudo=True)
    done = machine.run(f"kdns_ensure_venv_module {VERSION}")
    assert done.returncode == 0, done.stderr
    assert f"sudo apt-get install -y -qq python{VERSION}-venv" in machine.commands()


def test_without_root_or_sudo_it_names_the_package(tmp_path: Path) -> None:
    machine = Machine(tmp_path, uid=1000)
    done = machine.run(f"kdns_ensure_venv_module {VERSION}")
    assert done.returncode == 1
    assert done.stderr == (
        f"bash: needs the Debian packages python{VERSION}-venv: run as root, or apt-get install -y python{VERSION}-venv\n"
    )


def test_without_apt_it_names_the_package(tmp_path: Path) -> None:
    machine = Machine(tmp_path, apt=False)
    done = machine.run(f"kdns_ensure_venv_module {VERSION}")
    assert done.returncode == 1
    assert done.stderr == (
        f"bash: {machine.python} cannot make a virtualenv (no ensurepip): install its venv module"
        f" (Debian/Ubuntu: python{VERSION}-venv)\n"
    )


def test_a_python_older_than_3_11_is_refused(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    old = executable(tmp_path / "python3.10", '#!/bin/sh\ncase "$*" in -V) echo "Python 3.10.12";; *) exit 1;; esac\n')
    done = machine.run("kdns_python_version", python=old)
    assert done.returncode == 1
    assert done.stderr == f"bash: kdns needs Python 3.11 or newer; {old} is Python 3.10.12 (set PYTHON=/path/to/python3.11)\n"
    assert not machine.commands()


@pytest.mark.parametrize("gcc", [True, False])
def test_the_build_packages_are_those_missing(tmp_path: Path, gcc: bool) -> None:
    machine = Machine(tmp_path)
    if gcc:
        executable(machine.bin / "gcc", "#!/bin/sh\n")
    # An interpreter whose headers are there: only the compiler can be missing.
    with_headers = executable(tmp_path / "python3.12", "#!/bin/sh\nexit 0\n")
    done = machine.run("kdns_build_packages", python=with_headers)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ([] if gcc else ["gcc"])
