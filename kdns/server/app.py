"""The running server: build blocks from a Config, open listeners, swap on reload, stop gracefully."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from kdns.config import BlockConfig, Config, PluginUse, load_config, provider_of
from kdns.errors import ConfigError, KdnsError
from kdns.metric_types import REGISTRY
from kdns.metrics import DNS
from kdns.server.chain import build_chain
from kdns.server.mux import Block, Listener
from kdns.server.settings import DEFAULT, ServerSettings
from kdns.server.tcp import TcpProtocol, TcpState, tcp_socket
from kdns.server.udp import UdpServer, serve_udp, udp_socket

log = logging.getLogger(__name__)

# Plugins that must see every query of their block, so its repeats are never answered from the
# fast-path table: log (a line per query) and acl (a decision per client address; a table shared
# by all clients would hand one client's allowed answer to another it blocks). Other blocks on the
# same listener keep the fast path: an entry is only ever stored by the block its name routes to.
SLOW_PATH_PLUGINS = frozenset(("log", "acl"))


class Generation:
    """What one config built: its blocks, routes per listen address, and lifecycle services."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.routes: dict[tuple[str, int], list[tuple[str, Block]]] = {}
        self.services: dict[Hashable, Any] = {}
        self.started: list[Any] = []


class Sockets:
    """The open UDP and TCP endpoints of one listen address."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.servers: list[asyncio.AbstractServer] = []
        self.tcp_states: list[TcpState] = []
        self.udp: list[UdpServer] = []


class App:
    def __init__(
        self, corefile: str, config: Config, default_port: int = 53,
        settings: ServerSettings = DEFAULT, reuse_port: bool = False, services: bool = True,
        default_host: str = "",
    ) -> None:
        self.corefile = corefile
        self.registry = REGISTRY
        self.config = config
        self.default_port = default_port
        self.settings = settings
        self.reuse_port = reuse_port
        # False in worker processes other than the first: one process owns the HTTP endpoints.
        self.listening_services = services
        # Where blocks without `bind` listen: "" is every address (IPv4 and IPv6).
        self.default_host = default_host
        self.generation: Generation | None = None
        self.sockets: dict[tuple[str, int], Sockets] = {}
        self._lameduck = False
        self._reload_wanted = asyncio.Event()
        self._reloader: asyncio.Task[None] | None = None
        # Set by fail(): a plugin found the server cannot run (loop detected).
        self.failed = asyncio.Event()
        self.exit_code = 0
        # True once the DNS sockets are open: /ready must not say 200 before queries can arrive.
        self.serving = False
        # The generation being started (the kubernetes plugin waits for its first sync): /ready names it.
        self.building: Generation | None = None

    # --- AppContext -------------------------------------------------------------------------

    def readiness(self) -> list[tuple[str, bool]]:
        out = [] if self.serving else [("server", False)]
        gen = self.generation or self.building
        for block in gen.blocks if gen else ():
            for handler in block.handlers:
                ready = getattr(handler, "ready", None)
                if ready is not None:
                    out.append((_plugin_name(handler), bool(ready())))
        return out

    def lameduck_started(self) -> bool:
        return self._lameduck

    def request_reload(self) -> None:
        self._reload_wanted.set()

    def watched_files(self) -> list[str]:
        return list(self.config.files)

    def fail(self, message: str) -> None:
        """Stop the server with exit code 1 (CoreDNS's log.Fatal from a plugin)."""
        log.critical("%s", message)
        self.exit_code = 1
        self.failed.set()

    def addresses(self) -> list[tuple[str, int]]:
        """The (host, port) actually bound, in config order (port 0 resolved)."""
        return [(s.listener.host, s.listener.port) for s in self.sockets.values()]

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        gen = await self._build(self.config, previous=None)
        try:
            await self._open(gen)
        except BaseException:
            await self._retire(gen, keep=None)
            raise
        self.serving = True
        self.generation = gen
        self.building = None
        self._publish_enabled(gen)
        await self._serving(gen)
        self._reloader = asyncio.get_running_loop().create_task(self._reload_loop())

    async def reload(self) -> bool:
        """Re-read the Corefile and swap the new config in; a broken one leaves the old serving."""
        try:
            config = load_config(self.corefile, self.default_port)
        except ConfigError as e:
            log.error("reload failed, keeping the running config: %s", e)
            return False
        except OSError as e:
            log.error("reload failed, keeping the running config: %s: %s", self.corefile, e.strerror)
            return False
        old = self.generation
        try:
            gen = await self._build(config, previous=old)
        except (KdnsError, OSError) as e:
            log.error("reload failed, keeping the running config: %s", e)
            return False
        try:
            await self._open(gen)
        except OSError as e:
            log.error("reload failed, keeping the running config: %s", e)
            await self._retire(gen, keep=old)
            return False
        self.config = config
        self.generation = gen
        self._publish_enabled(gen)
        if old is not None:
            await self._retire(old, keep=gen)
            # serve() froze start-up's objects out of the collector's walks (process.py); the
            # generation just retired was among them, and its reference cycles (a kubernetes handler
            # and its index) would never be freed.
            gc.unfreeze()
        await self._serving(gen)
        log.info("Reloaded configuration %s", self.corefile)
        return True

    async def _reload_loop(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            await self.reload()

    async def stop(self, lameduck: float = 0.0) -> None:
        """Keep answering for the lameduck period (health still OK), then close and drain."""
        if lameduck > 0:
            self._lameduck = True
            log.info("lameduck: going on for %.1fs", lameduck)
            await asyncio.sleep(lameduck)
        if self._reloader is not None:
            self._reloader.cancel()
        pending: list[asyncio.Task[None]] = []
        for sockets in self.sockets.values():
            pending.extend(self._close_sockets(sockets))
        self.sockets.clear()
        if pending:
            await asyncio.wait(pending, timeout=self.settings.drain_timeout)
        if self.generation is not None:
            await self._retire(self.generation, keep=None)

    def lameduck_seconds(self) -> float:
        gen = self.generation
        if gen is None:
            return 0.0
        return max((getattr(s, "lameduck", 0.0) for s in gen.services.values()), default=0.0)

    # --- building ---------------------------------------------------------------------------

    def assemble(self, config: Config, previous: Generation | None = None) -> Generation:
        """What config builds before anything starts: each block's chain and routes, the lifecycle
        services (the previous generation's where unchanged), every handler attached to its block
        (a zone file named by the block's keys is read then). No socket is opened and no start
        hook runs, so `kdns -validate` checks a Corefile through this same code."""
        gen = Generation()
        for bc in config.blocks:
            head, handlers = build_chain(bc.plugins)
            _connect(bc.plugins, handlers)
            names = {use.name for use in bc.plugins}
            fast = not names & SLOW_PATH_PLUGINS
            block = Block([key.zone for key in bc.keys], head, handlers, fast, self)
            block.plugin_names = [use.name for use in bc.plugins]
            block.shuffle = "loadbalance" in names
            block.debug = "debug" in names
            block.udp_size_cap = _bufsize(bc) or block.udp_size_cap
            hosts = _bind_hosts(bc) or [self.default_host]
            seen: set[tuple[str, int]] = set()
            for key in bc.keys:
                port = key.port if key.port is not None else self.default_port
                for host in hosts:
                    gen.routes.setdefault((host, port), []).append((key.zone, block))
                    if (host, port) not in seen:
                        seen.add((host, port))
                        block.addresses.append((host, port))
            gen.blocks.append(block)
            for use in bc.plugins:
                if use.spec.service is None or (use.spec.listens and not self.listening_services):
                    continue
                service_key = (use.name, use.spec.service_key(use.config) if use.spec.service_key else id(use))
                if service_key in gen.services:
                    continue
                reused = previous.services.get(service_key) if previous else None
                if reused is not None and getattr(reused, "config", None) == use.config:
                    gen.services[service_key] = reused
                    # Now this generation's to stop (at the next reload unless kept again, or at
                    # exit): without it a service kept across a reload was never stopped.
                    gen.started.append(reused)
                else:
                    gen.services[service_key] = use.spec.service(use.config, self)
        for bc, block in zip(config.blocks, gen.blocks):
            for use, handler in _handler_uses(bc, block):
                attach = getattr(handler, "attach", None)
                if attach is not None:
                    _located(use, attach, block)
            _follow_changes(block.handlers)
        return gen

    def check(self) -> None:
        """kdns -validate: assemble the config, then run each handler's check(), which reads what
        its start() would read (without the network); a ConfigError names the directive."""
        gen = self.assemble(self.config)
        for bc, block in zip(self.config.blocks, gen.blocks):
            for use, handler in _handler_uses(bc, block):
                check = getattr(handler, "check", None)
                if check is not None:
                    _located(use, check)

    async def _build(self, config: Config, previous: Generation | None) -> Generation:
        gen = self.assemble(config, previous)
        if previous is None:
            self.building = gen
        try:
            for started_key, service in gen.services.items():
                if previous is not None and previous.services.get(started_key) is service:
                    continue
                if previous is not None and started_key in previous.services:
                    # Same kind and address, new config: the old one must free the port first.
                    await _call(previous.services.pop(started_key), "stop")
                await _call(service, "start")
                gen.started.append(service)
            for block in gen.blocks:
                for handler in block.handlers:
                    await _call(handler, "start")
                    gen.started.append(handler)
        except BaseException:
            await self._retire(gen, keep=previous)
            raise
        return gen

    async def _open(self, gen: Generation) -> None:
        """Point listeners at gen's routes: reuse sockets whose address stays, open new ones."""
        opened: list[tuple[str, int]] = []
        try:
            for address in gen.routes:
                sockets = self.sockets.get(address)
                if sockets is None:
                    sockets = await self._listen(*address)
                    self.sockets[address] = sockets
                    opened.append(address)
        except OSError:
            for address in opened:
                for task in self._close_sockets(self.sockets.pop(address)):
                    task.cancel()
            raise
        for address, sockets in list(self.sockets.items()):
            if address not in gen.routes:
                self._close_sockets(self.sockets.pop(address))
                continue
            routes = gen.routes[address]
            sockets.listener.set_routes(routes)
            _feed_invalidations(routes, sockets.listener.table.invalidate)
        for block in gen.blocks:
            # Port 0 in the config: tell the block (loop probes, resolve) the port actually bound.
            block.addresses = [
                (host, self.sockets[(host, port)].listener.port) if (host, port) in self.sockets else (host, port)
                for host, port in block.addresses
            ]

    async def _listen(self, host: str, port: int) -> Sockets:
        for attempt in range(5 if port == 0 else 1):
            try:
                return await self._listen_once(host, port)
            except OSError as e:
                # Port 0: the free UDP port picked may be taken for TCP; pick another pair.
                if port != 0 or e.errno != errno.EADDRINUSE or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def _listen_once(self, host: str, port: int) -> Sockets:
        loop = asyncio.get_running_loop()
        hosts = [host] if host else ["0.0.0.0", "::"]
        sockets: Sockets | None = None
        try:
            for bind_host in hosts:
                bound = port if sockets is None else sockets.listener.port
                try:
                    udp = udp_socket(bind_host, bound, self.settings, self.reuse_port)
                except OSError:
                    if sockets is not None and bind_host == "::":
                        log.warning("IPv6 unavailable, listening on IPv4 only")
                        break
                    raise
                if sockets is None:
                    sockets = Sockets(Listener(host, udp.getsockname()[1], self.settings.fast_path_capacity))
                listener = sockets.listener
                family = "2" if ":" in bind_host else "1"
                sockets.udp.append(await serve_udp(udp, listener, family, self.settings))
                tcp = tcp_socket(bind_host, listener.port, self.reuse_port)
                state = TcpState()
                server = await loop.create_server(
                    lambda: TcpProtocol(listener, family, self.settings, state), sock=tcp
                )
                sockets.servers.append(server)
                sockets.tcp_states.append(state)
        except OSError:
            if sockets is not None:
                self._close_sockets(sockets)
            raise
        assert sockets is not None
        log.info("%s", sockets.listener.server)
        return sockets

    def _close_sockets(self, sockets: Sockets) -> list[asyncio.Task[None]]:
        pending: list[asyncio.Task[None]] = []
        for udp in sockets.udp:
            udp.close()
        for server in sockets.servers:
            server.close()
        for state in sockets.tcp_states:
            for conn in list(state.connections):
                pending.extend(conn.tasks)
                if conn.transport is not None:
                    conn.transport.close()
        for udp in sockets.udp:
            pending.extend(udp.tasks)
        return pending

    async def _serving(self, gen: Generation) -> None:
        for block in gen.blocks:
            for handler in block.handlers:
                await _call(handler, "serving")

    async def _retire(self, gen: Generation, keep: Generation | None) -> None:
        kept = set(id(s) for s in keep.services.values()) if keep else set()
        for item in reversed(gen.started):
            if id(item) in kept:
                continue
            try:
                await _call(item, "stop")
            except Exception:
                log.exception("stopping %s failed", _plugin_name(item))

    def _publish_enabled(self, gen: Generation) -> None:
        enabled: set[tuple[str, str, str]] = set()
        for (host, port), routes in gen.routes.items():
            sockets = self.sockets.get((host, port))
            server = sockets.listener.server if sockets else f"dns://{host}:{port}"
            for zone, block in routes:
                enabled.update((server, zone, name) for name in block.plugin_names)
        DNS.set_enabled(enabled)


def _feed_invalidations(routes: list[tuple[str, Block]], invalidate: Any) -> None:
    """Let every handler that tags answers (kubernetes) drop them from this listener's table."""
    for _zone, block in routes:
        for handler in block.handlers:
            invalidators = getattr(handler, "invalidators", None)
            if invalidators is not None and invalidate not in invalidators:
                invalidators.append(invalidate)


def _follow_changes(handlers: list[Any]) -> None:
    """A handler that keeps answers (cache) follows the index changes of the handlers that report
    them (kubernetes) in its block, as the fast-path tables do (_feed_invalidations)."""
    # A follower is no source: the cache's own invalidators are the fast-path tables (its leases).
    sources = [h for h in handlers if getattr(h, "invalidators", None) is not None and not hasattr(h, "follow")]
    for handler in handlers:
        follow = getattr(handler, "follow", None)
        if follow is not None:
            for source in sources:
                follow(source)


def _handler_uses(bc: BlockConfig, block: Block) -> list[tuple[PluginUse, Any]]:
    """The block's handlers, each with the Corefile line it was built from."""
    return list(zip([use for use in bc.plugins if use.spec.handler is not None], block.handlers))


def _located(use: PluginUse, hook: Callable[..., None], *args: Any) -> None:
    """hook(*args); a KdnsError it raises without a place names the plugin's Corefile line."""
    try:
        hook(*args)
    except ConfigError as e:
        if e.file:
            raise
        raise use.directive.error(e.message) from None
    except KdnsError as e:
        raise use.directive.error(str(e)) from None


def _bufsize(bc: BlockConfig) -> int | None:
    for use in bc.plugins:
        if use.name == "bufsize":
            return int(use.config.size)
    return None


def _connect(uses: Sequence[PluginUse], handlers: list[Any]) -> None:
    """Hand each handler that needs another plugin of its block (PluginSpec.needs) that plugin's
    handler; the config check has made sure it implements the interface asked for."""
    by_use = dict(zip((id(u) for u in uses if u.spec.handler is not None), handlers))
    for use in uses:
        provider = provider_of(use, uses)
        if provider is not None:
            by_use[id(use)].connect(by_use[id(provider)])


def _bind_hosts(bc: Any) -> list[str]:
    for use in bc.plugins:
        if use.name == "bind":
            return list(use.config.hosts())
    return []


def _plugin_name(item: Any) -> str:
    module = type(item).__module__
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "plugins" else module


async def _call(item: Any, hook: str) -> None:
    fn = getattr(item, hook, None)
    if fn is not None:
        await fn()

