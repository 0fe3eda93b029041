"""The Dockerfile, checked without building it (no container engine here): its instructions, the
files it copies, the user it runs as, and that what `pip install .` puts in the image provides the
`kdns` command it starts."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import pytest
from deploy_render import KUSTOMIZATIONS, REPO, build, find

DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), self
        return value


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (Dockerfile reference:
    `\\` at line end continues; `#` starts a comment only at the start of a line)."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    (hit,) = [i for i in instructions if i.keyword == keyword]
    return hit


def deployment() -> dict[str, Any]:
    found: dict[str, Any] = find(build(KUSTOMIZATIONS["base"]), "Deployment", "coredns")
    return found


def test_parser_joins_continuations_and_drops_comments() -> None:
    parsed = parse_dockerfile("# c\nFROM a\nRUN x \\\n    && y\n\nUSER 1\n")
    assert parsed == [Instruction("FROM", "a", 2), Instruction("RUN", "x && y", 3), Instruction("USER", "1", 6)]


def test_known_instructions_only(instructions: list[Instruction]) -> None:
    known = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL", "ARG"}
    assert {i.keyword for i in instructions} <= known


def test_base_image_is_slim_python_that_pyproject_accepts(instructions: list[Instruction]) -> None:
    (image,) = only(instructions, "FROM").args.split()[:1]
    match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(-\w+)?", image)
    assert match, image
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert minimum
    assert (int(match[1]), int(match[2])) >= (int(minimum[1]), int(minimum[2]))


def test_user_is_numeric_non_root_and_matches_the_deployment(instructions: list[Instruction]) -> None:
    uid, _, gid = only(instructions, "USER").args.partition(":")
    # Numeric, or the kubelet cannot verify runAsNonRoot for an image whose user is a name.
    assert uid.isdigit() and gid.isdigit() and int(uid) > 0 and int(gid) > 0
    pod = deployment()["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))
    # The account exists in the image with that uid and gid (/etc/passwd, for tools that look it up).
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    assert f"groupadd --system --gid {gid} " in runs
    assert re.search(rf"useradd .*--uid {uid} --gid {gid}\b", runs)


def test_entrypoint_and_cmd_are_the_deployments(instructions: list[Instruction]) -> None:
    assert only(instructions, "ENTRYPOINT").exec_form() == ["kdns"]
    cmd = only(instructions, "CMD").exec_form()
    assert cmd == ["-conf", "/etc/coredns/Corefile"]
    container = deployment()["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == cmd
    assert "command" not in container  # the image's ENTRYPOINT is what runs


def test_exposes_every_port_the_deployment_declares(instructions: list[Instruction]) -> None:
    exposed = {p if "/" in p else f"{p}/tcp" for p in only(instructions, "EXPOSE").args.split()}
    container = deployment()["spec"]["template"]["spec"]["containers"][0]
    declared = {f"{p['containerPort']}/{p['protocol'].lower()}" for p in container["ports"]}
    assert declared == exposed


def dockerignore_excludes(path: str) -> bool:
    """Whether .dockerignore keeps path out of the build context. Docker's rules as deploy uses
    them: a pattern matches the path or a parent directory of it, `**/` matches any depth, the
    last matching line wins, `!` re-includes."""
    excluded = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        if pattern.startswith("**/"):
            rest = pattern[3:]
            hit = any(fnmatch.fnmatchcase(c.rsplit("/", 1)[-1], rest) or fnmatch.fnmatchcase(c, rest) for c in candidates)
        else:
            hit = any(fnmatch.fnmatchcase(c, pattern) for c in candidates)
        if hit:
            excluded = not negate
    return excluded


def test_dockerignore_matcher() -> None:
    assert dockerignore_excludes("tests/deploy/test_dockerfile.py")
    assert dockerignore_excludes("kdns/plugins/__pycache__/x.pyc")
    assert not dockerignore_excludes("kdns/plugins/__init__.py")
    # The scripts' virtualenv (scripts/venv.sh) and the recordings under tests/ stay out.
    assert dockerignore_excludes(".venv/bin/python")
    assert dockerignore_excludes("tests/fakeapi/recordings/README.md")


def copies(instructions: list[Instruction]) -> list[tuple[list[str], str]]:
    result = []
    for i in instructions:
        if i.keyword == "COPY":
            words = [w for w in shlex.split(i.args) if not w.startswith("--")]
            result.append((words[:-1], words[-1]))
    return result


def test_copied_paths_exist_and_are_in_the_build_context(instructions: list[Instruction]) -> None:
    sources = [s for srcs, _ in copies(instructions) for s in srcs]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        assert not dockerignore_excludes(source.rstrip("/")), f"COPY {source}: excluded by .dockerignore"
    for py in (REPO / "kdns").rglob("*.py"):
        assert not dockerignore_excludes(str(py.relative_to(REPO))), py


def test_pip_installs_from_the_copied_project(instructions: list[Instruction]) -> None:
    """`pip install .` runs in the directory holding pyproject.toml, the readme it names (setuptools
    fails without it) and the kdns package."""
    workdir = "/"
    copied: set[str] = set()
    for i in instructions:
        if i.keyword == "WORKDIR":
            workdir = i.args
        elif i.keyword == "COPY":
            ((srcs, dest),) = copies([i])
            into = PurePosixPath(workdir) / dest
            for src in srcs:
                copied.add(str(into / PurePosixPath(src).name) if dest.endswith("/") and len(srcs) > 1 else str(into))
        elif i.keyword == "RUN" and "pip install" in i.args:
            assert re.search(r"pip install --no-cache-dir \.(\s|$)", i.args), i.args
            break
    else:
        pytest.fail("no RUN pip install")
    readme = PYPROJECT["project"]["readme"]
    assert {f"{workdir}/pyproject.toml", f"{workdir}/setup.py", f"{workdir}/{readme}", f"{workdir}/kdns"} <= copied
    assert (REPO / readme).is_file(), f"pyproject.toml names readme {readme}, which is missing"


def test_the_c_module_is_compiled_into_the_image(instructions: list[Instruction]) -> None:
    """setup.py's extension is optional: the image installs a compiler before `pip install` and
    imports the module afterwards, outside the sources, so a failed build fails the image."""
    (run,) = [i.args for i in instructions if i.keyword == "RUN" and "pip install" in i.args]
    steps = [step.strip() for step in run.split("&&")]
    pip = next(n for n, step in enumerate(steps) if step.startswith("pip install"))
    assert any(step.startswith("apt-get install") and " gcc" in step for step in steps[:pip])
    setup = ast.parse((REPO / "setup.py").read_text())
    (extension,) = [n for n in ast.walk(setup) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Extension"]
    name = ast.literal_eval(extension.args[0])
    assert steps[pip + 1 :][-2:] == ["cd /", f'python -c "import {name}"']


def test_console_script_kdns_is_what_pip_installs() -> None:
    """`pip install .` writes the `kdns` command from [project.scripts]; its target must exist."""
    target = PYPROJECT["project"]["scripts"]["kdns"]
    module, _, function = target.partition(":")
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["kdns*"]
    source = REPO / (module.replace(".", "/") + ".py")
    tree = ast.parse(source.read_text())
    assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    try:
        installed = importlib.metadata.distribution("kdns")
    except importlib.metadata.PackageNotFoundError:
        return  # not installed here: pyproject.toml above is what pip reads
    (entry,) = [e for e in installed.entry_points if e.group == "console_scripts" and e.name == "kdns"]
    assert entry.value == target


def test_default_corefile_is_where_cmd_points(instructions: list[Instruction]) -> None:
    conf = only(instructions, "CMD").exec_form()[1]
    assert (["deploy/image/Corefile"], conf) in copies(instructions)


def test_iproute2_is_there_for_the_nodelocal_init_container(instructions: list[Instruction]) -> None:
    daemonset = find(build(KUSTOMIZATIONS["nodelocal"]), "DaemonSet", "node-local-dns")
    (init,) = daemonset["spec"]["template"]["spec"]["initContainers"]
    script = init["command"][-1]
    assert init["command"][:2] == ["/bin/sh", "-c"] and re.search(r"(^|;|&&)\s*ip ", script)
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends .*\biproute2\b", runs)


def test_runtime_environment(instructions: list[Instruction]) -> None:
    env = " ".join(i.args for i in instructions if i.keyword == "ENV")
    # Logs reach `kubectl logs` at once; no .pyc writes on the read-only root filesystem.
    assert "PYTHONUNBUFFERED=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert only(instructions, "USER").line > max(i.line for i in instructions if i.keyword == "RUN")
