"""Command line as CoreDNS's, so the same container args work: kdns -conf FILE -dns.port N ...

kdns -validate -conf FILE (a kdns extension) checks a Corefile without serving it: parsed, every
plugin built through the server's own code (App.check), nothing bound, the API not contacted.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from kdns import plugins
from kdns.config import Config, config_from_text, load_config
from kdns.errors import ConfigError
from kdns.server.process import banner
from kdns.server.workers import run

# CoreDNS's default when no Corefile is given or found: answer whoami on every name.
DEFAULT_COREFILE = ". {\n    whoami\n    log\n}\n"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kdns", description="Kubernetes cluster DNS server (CoreDNS-compatible).")
    p.add_argument("-conf", "--conf", metavar="FILE", help="Corefile to load (default: ./Corefile)")
    p.add_argument("-dns.port", "--dns.port", dest="port", type=int, default=53,
                   help="default port for server keys that name none (default 53)")
    p.add_argument("-plugins", "--plugins", action="store_true", help="list installed plugins")
    p.add_argument("-version", "--version", action="store_true", help="show version")
    p.add_argument("-quiet", "--quiet", action="store_true", help="quiet mode (no initialization output)")
    p.add_argument("-workers", "--workers", type=int, default=0,
                   help="kdns extension: SO_REUSEPORT worker processes (default: the Corefile's `workers`, else 1)")
    p.add_argument("-validate", "--validate", action="store_true",
                   help="kdns extension: check the Corefile (parse it, build every plugin, read the files "
                   "they read) without serving, print its warnings and errors, exit 0 or 1")
    return p


class Tally(logging.Handler):
    """Counts the warnings and the errors logged: -validate's verdict."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.warnings = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors += 1
        else:
            self.warnings += 1


class KdnsFormatter(logging.Formatter):
    """CoreDNS's log shape: `[LEVEL] plugin/NAME: message` (the log plugin prints bare lines)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        parts = record.name.split(".")
        if len(parts) >= 3 and parts[1] == "plugins" and parts[2] != "log":
            message = f"plugin/{parts[2]}: {message}"
        line = f"[{record.levelname.replace('WARNING', 'WARN')}] {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(KdnsFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # kubernetes_asyncio's kubeconfig loader is chatty at INFO.
    logging.getLogger("kubernetes_asyncio").setLevel(logging.WARNING)


def corefile_path(given: str | None) -> str | None:
    """The Corefile to read: -conf, else ./Corefile if there is one, else None (the default)."""
    if given is None and os.path.exists("Corefile"):
        return "Corefile"
    return given


def read_config(path: str | None, port: int, errors: list[ConfigError] | None = None) -> Config:
    if path is None:
        return config_from_text(DEFAULT_COREFILE, "<default>", port, errors)
    return load_config(path, port, errors)


def validate(path: str | None, port: int) -> int:
    """kdns -validate: load the Corefile as the server would, without serving it. Every plugin line
    that does not parse is printed (not only the first), then, if all did, what building them finds
    (App.check: files read, nothing bound). Warnings (legacy forms) do not fail it; an error logged
    while it was built (a plugin giving up on something) does."""
    from kdns.server.app import App

    tally = Tally()
    logging.getLogger().addHandler(tally)
    found: list[ConfigError] = []
    try:
        config = read_config(path, port, found)
        if not found:
            App(path or "", config, port).check()
    except ConfigError as e:
        found.append(e)
    finally:
        logging.getLogger().removeHandler(tally)
    for error in found:
        print(f"kdns: {error}", file=sys.stderr)
    errors = len(found) + tally.errors
    verdict = "not valid" if errors else "valid"
    print(f"{path or '<default>'}: {verdict} ({tally.warnings} warnings, {errors} errors)")
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["explain"]:
        # kdns extension: which Kubernetes objects made an answer (kubernetes/explain.py).
        from kdns.plugins.kubernetes.explain_cli import main as explain

        setup_logging()
        return explain(argv[1:])
    args = build_parser().parse_args(argv)
    if args.version:
        print(banner())
        return 0
    if args.plugins:
        print("Server types:\n  dns\n\nOther plugins:")
        for name in plugins.available():
            print(f"  dns.{name}")
        return 0
    # Before the Corefile is read, so that what a plugin logs while parsing it (hosts: a missing
    # file) gets the same `[LEVEL] plugin/NAME: ` shape as every later line.
    setup_logging()
    # No cyclic collection while start-up builds the plugins, their imports and the index: tens to
    # hundreds of thousands of objects that all stay, which every collection on the way walked again
    # (7% of an S2 sync from the API). serve() freezes them and turns the collector on once the
    # server answers.
    gc.disable()
    try:
        return load_and_run(corefile_path(args.conf), args)
    finally:
        gc.enable()


def load_and_run(path: str | None, args: argparse.Namespace) -> int:
    try:
        if args.validate:
            return validate(path, args.port)
        config = read_config(path, args.port)
    except ConfigError as e:
        print(f"kdns: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # Not the Corefile itself (that is a ConfigError), but the system refusing a plugin while
        # it is set up (an interface lookup, a vanished working directory): one line, no traceback.
        print(f"kdns: {path or '<default>'}: {e}", file=sys.stderr)
        return 1
    # The youngest generation is collected every 20,000 net allocations instead of 700: every
    # first query leaves a fast-path entry behind, and at the default a stream of them paid for
    # young and middle collections all along (~3% of their CPU in a perf profile). What kdns makes
    # is nearly all acyclic, freed by reference counts, so little garbage waits for the collector.
    gc.set_threshold(20_000, 10, 10)
    return run(path or "", config, args.port, quiet=args.quiet, workers=args.workers)
