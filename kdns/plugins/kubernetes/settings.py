"""Every timeout and backoff of the Kubernetes API source, in one frozen object (kopf style).

Defaults follow client-go's reflector where it has one, so kdns loads an apiserver the way CoreDNS
(client-go informers) does; tests pass a WatchSettings with short values instead of patching code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WatchSettings:
    # timeoutSeconds sent with each watch. client-go picks 5..10 min at random (minWatchTimeout
    # 5 min, times 1 + rand) so that many clients do not re-watch in lockstep; so do we.
    watch_timeout: float = 300.0
    watch_timeout_jitter: float = 1.0
    # A watch that sends nothing (not even a BOOKMARK, which kube-apiserver sends about once a
    # minute; see k8s-api/watch/*.idle90.*) for this long is treated as dead and re-opened.
    watch_idle_timeout: float = 150.0
    # Sync with a streaming list (KEP-3157 "watch-list": one watch with sendInitialEvents=true that
    # sends every object, then a BOOKMARK annotated k8s.io/initial-events-end, then goes on as a
    # watch) instead of paged LISTs, which make the apiserver hold whole pages in memory. A server
    # without the feature makes the watcher fall back to list + watch for its lifetime.
    watch_list: bool = True
    # Page size of a paginated list; client-go's pager default. Also how many initial events of a
    # streaming list are converted at once.
    list_page_size: int = 500
    # Total time for one list page (headers and body).
    list_timeout: float = 60.0
    connect_timeout: float = 10.0
    # Exponential backoff after errors: client-go's reflector uses 800 ms doubling to 30 s with
    # jitter 1.0 (each sleep is d .. 2d), reset after 2 minutes without trouble.
    backoff_base: float = 0.8
    backoff_factor: float = 2.0
    backoff_cap: float = 30.0
    backoff_jitter: float = 1.0
    backoff_reset_after: float = 120.0
    # A watch that ends cleanly sooner than this, having delivered nothing, counts as a failure
    # (a server closing every stream at once must not make us spin).
    min_watch_duration: float = 1.0
    # How long the server waits for the first sync before it listens anyway (CoreDNS 5 s).
    startup_timeout: float = 5.0
    # How long stop() waits for the watch tasks to finish after cancelling them.
    stop_timeout: float = 5.0
    # The `snapshot` file is written at most this often while the index changes. Encoding S2 with
    # 150k pods takes about 0.65 s of CPU, most of it holding the GIL the query path needs: in a
    # cluster that always changes, every 30 s costs ~2% of a core where every 5 s cost ~13%, and a
    # restart served from a file 30 s older answers the same names.
    snapshot_interval: float = 30.0


DEFAULT_SETTINGS = WatchSettings()
