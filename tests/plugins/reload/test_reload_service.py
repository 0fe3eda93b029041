"""The reload plugin's poll: a changed Corefile asks the app for one reload, at jittered intervals."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from kdns.plugins.reload.config import Config
from kdns.plugins.reload.service import Service
from kdns.server import poller
from kdns.server.poller import Poller


class FakeApp:
    def __init__(self, files: list[str]) -> None:
        self.files = files
        self.reloads = 0

    def watched_files(self) -> list[str]:
        return self.files

    def request_reload(self) -> None:
        self.reloads += 1


async def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_new_contents_ask_for_one_reload_a_touch_none(tmp_path: Path) -> None:
    corefile = tmp_path / "Corefile"
    corefile.write_text(". {\n    whoami\n}\n")
    app = FakeApp([str(corefile)])
    service = Service(Config(interval=0.01, jitter=0.01), app)
    await service.start()
    try:
        os.utime(corefile, (1, 1))
        await asyncio.sleep(0.1)
        assert app.reloads == 0
        corefile.write_text(". {\n    whoami\n    log\n}\n")
        await wait_for(lambda: app.reloads == 1)
        await asyncio.sleep(0.1)
        assert app.reloads == 1
    finally:
        await service.stop()


async def test_stop_waits_for_the_poll_to_end(tmp_path: Path) -> None:
    service = Service(Config(interval=0.01, jitter=0.01), FakeApp([str(tmp_path / "Corefile")]))
    await service.start()
    task = service.poller.task
    assert task is not None and not task.done()
    await service.stop()
    assert task.done() and service.poller.task is None


async def test_each_round_waits_interval_plus_up_to_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    draws: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    monkeypatch.setattr(poller, "random", SimpleNamespace(uniform=uniform))
    rounds = asyncio.Event()
    p = Poller(0.01, rounds.set, "test", jitter=0.02)
    await p.start()
    try:
        await asyncio.wait_for(rounds.wait(), 2)
    finally:
        await p.stop()
    assert draws and set(draws) == {(0, 0.02)}
    assert Service(Config(30.0, 7.0), FakeApp([])).poller.jitter == 7.0
