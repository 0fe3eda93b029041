"""Python's view of the running server at the paths of Go's net/http/pprof.

Go's profiles do not exist in Python, so each path serves its nearest Python equivalent, as text
for people (not Go's protobuf format: `go tool pprof` cannot read them):
- /debug/pprof/             an index of the paths below;
- /debug/pprof/profile      cProfile of the event loop's thread for ?seconds=N (default 30, as
                            Go), as pstats text sorted by cumulative time (one profile at a time);
- /debug/pprof/heap         the largest allocation sites by size, from tracemalloc (started
                            with the plugin; it makes allocations slower while it runs);
- /debug/pprof/goroutine    every asyncio task with its stack;
- /debug/pprof/cmdline      the command line, NUL-separated as Go's.
"""

from __future__ import annotations

import asyncio
import cProfile
import html
import io
import pstats
import sys
import tracemalloc
from typing import Any

from kdns.corefile.tokens import to_integer
from kdns.plugins.pprof.config import Config
from kdns.server.http import EndpointService, HttpEndpoint, HttpRequest, HttpResponse

PREFIX = "/debug/pprof/"
DEFAULT_SECONDS = 30  # Go's default for /debug/pprof/profile
HEAP_TOP = 50
PROFILE_LINES = 60

_PATHS = {
    "profile": "cProfile of the event loop for ?seconds=N (default 30), as pstats text",
    "heap": f"the {HEAP_TOP} largest allocation sites (tracemalloc)",
    "goroutine": "every asyncio task with its stack",
    "cmdline": "the command line",
}


class Service(EndpointService):
    def __init__(self, config: Config, app: Any) -> None:
        self.config = config
        self.started_tracing = False
        self.profiling = False
        self.endpoint = HttpEndpoint(*config.address, routes=[
            (PREFIX, self.index),
            (PREFIX + "profile", self.profile),
            (PREFIX + "heap", self.heap),
            (PREFIX + "goroutine", self.goroutine),
            (PREFIX + "cmdline", self.cmdline),
        ])

    async def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start()
            self.started_tracing = True
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self.started_tracing:
            tracemalloc.stop()
            self.started_tracing = False

    async def index(self, request: HttpRequest) -> HttpResponse:
        rows = "".join(
            f'<tr><td><a href="{name}?debug=1">{name}</a></td><td>{html.escape(text)}</td></tr>\n'
            for name, text in _PATHS.items()
        )
        body = (
            "<html><head><title>/debug/pprof/</title></head><body>\n"
            "<p>kdns: Python's view of the running server (text, not Go's pprof format).</p>\n"
            f"<table>\n{rows}</table>\n</body></html>\n"
        )
        return HttpResponse(body, content_type="text/html; charset=utf-8")

    async def profile(self, request: HttpRequest) -> HttpResponse:
        text = request.query.get("seconds", str(DEFAULT_SECONDS))
        # to_integer, not str.isdigit: that takes '²', which int() then refuses with a traceback.
        seconds = to_integer(text)
        if seconds is None or seconds < 1:
            return HttpResponse(f"invalid seconds '{text}': want a positive integer\n", 400)
        if self.profiling:
            # cProfile hooks the thread (sys.setprofile): a second one would replace the first.
            return HttpResponse("Could not enable CPU profiling: profiling already in use\n", 500)
        self.profiling = True
        profiler = cProfile.Profile()
        try:
            profiler.enable()
            try:
                await asyncio.sleep(seconds)
            finally:
                profiler.disable()
        finally:
            self.profiling = False
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(PROFILE_LINES)
        return HttpResponse(out.getvalue())

    async def heap(self, request: HttpRequest) -> HttpResponse:
        if not tracemalloc.is_tracing():
            return HttpResponse("tracemalloc is not tracing\n", 500)
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("lineno")
        total = sum(stat.size for stat in stats)
        lines = [f"heap profile: {len(stats)} sites, {total} bytes traced (tracemalloc)"]
        lines += [str(stat) for stat in stats[:HEAP_TOP]]
        return HttpResponse("\n".join(lines) + "\n")

    async def goroutine(self, request: HttpRequest) -> HttpResponse:
        tasks = sorted(asyncio.all_tasks(), key=lambda task: task.get_name())
        out = io.StringIO()
        out.write(f"asyncio tasks: total {len(tasks)}\n")
        for task in tasks:
            out.write("\n")
            task.print_stack(file=out)
        return HttpResponse(out.getvalue())

    async def cmdline(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("\x00".join(sys.argv))
