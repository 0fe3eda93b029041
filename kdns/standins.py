"""Importing some modules of a package without running the package's __init__.

A library's __init__ may import far more than kdns uses: kubernetes_asyncio's, its ~900 generated
API and model modules (~37 MB of RSS); prometheus_client's, its exposition (HTTP servers, WSGI,
push gateways: ~15 ms of a start-up that is over in 150). While the block of package_stand_ins()
runs, each named package not imported yet is an empty package of the same path, so importing its
submodules runs only theirs. The stand-ins are taken out of sys.modules again at the end: a later
ordinary import of the package (by anyone) runs the real __init__, which finds the submodules
already imported and uses the same module objects.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def package_stand_ins(*packages: str) -> Iterator[dict[str, types.ModuleType]]:
    """Stand-ins for the packages not yet imported (parents before children), by name."""
    stand_ins: dict[str, types.ModuleType] = {}
    try:
        for name in packages:
            if name in sys.modules:
                continue
            parent, _, child = name.rpartition(".")
            if parent and parent in stand_ins:
                location = f"{next(iter(stand_ins[parent].__path__))}/{child}"
            else:
                spec = importlib.util.find_spec(name)
                if spec is None or not spec.submodule_search_locations:
                    raise ModuleNotFoundError(f"no package {name}", name=name)
                location = next(iter(spec.submodule_search_locations))
            module = types.ModuleType(name)
            module.__path__ = [location]
            stand_ins[name] = sys.modules[name] = module
        yield stand_ins
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
