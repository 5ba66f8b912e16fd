"""`traceloop daemon`: its options, and the composition of a running daemon."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any

from sidecar.cli.argtypes import count, seconds
from sidecar.cli.kube_options import add_kube_options, kube_settings_from
from sidecar.cli.options import add_recorder_options, settings_from
from sidecar.cli.s3options import add_s3_options, s3_options_from
from sidecar.daemon import metrics
from sidecar.daemon.control import DEFAULT_SOCKET, ControlServer
from sidecar.daemon.engine import Daemon
from sidecar.daemon.enrichment import Nothing
from sidecar.daemon.logs import setup as setup_logging
from sidecar.daemon.settings import DaemonSettings
from sidecar.host import cgroups
from sidecar.kernel.loader import Kernel, KernelConfig
from sidecar.kernel.syscalls import load_table
from sidecar.model.errors import UsageError
from sidecar.model.incidents import Incidents
from sidecar.sinks.local import LocalSink, clean_partials
from sidecar.sinks.registry import make_sink
from triggers.kernel import parse_trigger_names

log = logging.getLogger("traceloop.daemon")

DEFAULT_TRIGGERS = "nonzero-exit:main,fatal-signal:main,oom-kill,container-exit"


def _listen_addr(text: str) -> str:
    try:
        metrics.listen_addr(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "daemon",
        help="record every container on this host; dump on crash",
        description="Record the system calls of every container cgroup under --cgroup-root "
        "in overwriting kernel buffers, and write the last window to --sink when a "
        "container crashes. Prints 'ready' once recording has started.",
    )
    p.add_argument(
        "--sink",
        action="append",
        default=None,
        metavar="URL",
        help="where dumps go: a directory, file://DIR or s3://BUCKET/PREFIX; repeat for "
        "several (default ./traceloop-dumps)",
    )
    p.add_argument(
        "--cgroup-root",
        default="/sys/fs/cgroup",
        help="record containers below this cgroup (default %(default)s; on a hybrid host "
        "the cgroup v2 hierarchy under it)",
    )
    p.add_argument(
        "--triggers",
        default=DEFAULT_TRIGGERS,
        help="kernel triggers, comma-separated, each optionally ':main' (the container's "
        "main process only) or ':any' (default %(default)s)",
    )
    p.add_argument(
        "--dump-on-exit",
        action="store_true",
        help="container-exit dumps on every exit, not only a nonzero one",
    )
    p.add_argument(
        "--grace",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="keep recording this long after a trigger before freezing (default 0: freeze "
        "in the kernel at once)",
    )
    p.add_argument(
        "--window",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="only the last SECONDS before the trigger go into a dump (default: all kept)",
    )
    p.add_argument(
        "--coalesce",
        type=seconds,
        default=0.25,
        metavar="SECONDS",
        help="triggers this close together are one incident (default %(default)s)",
    )
    p.add_argument(
        "--rate-limit",
        type=count,
        default=5,
        metavar="N",
        help="dumps per container per --rate-period (a container is its namespace/pod/"
        "container in Kubernetes, so restarts count together); more are counted, not "
        "written (default %(default)s)",
    )
    p.add_argument(
        "--node-rate-limit",
        type=count,
        default=100,
        metavar="N",
        help="dumps of all containers together per --rate-period, so that a flood of "
        "crashing containers cannot fill the disk (default %(default)s)",
    )
    p.add_argument(
        "--rate-period",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="the period of --rate-limit and --node-rate-limit (default %(default)s)",
    )
    p.add_argument(
        "--keep-dead",
        type=seconds,
        default=600.0,
        metavar="SECONDS",
        help="keep a dead container's window this long for late triggers such as a pod "
        "restart (default %(default)s; reclaimed sooner when slabs run out)",
    )
    p.add_argument(
        "--metrics-addr",
        default=None,
        type=_listen_addr,
        metavar="HOST:PORT",
        help="serve /metrics, /healthz, /readyz",
    )
    p.add_argument(
        "--control-socket",
        default=DEFAULT_SOCKET,
        metavar="PATH",
        help="Unix socket (root only) for 'traceloop dump' (default %(default)s)",
    )
    p.add_argument(
        "--node-name",
        default=os.environ.get("NODE_NAME") or socket.gethostname(),
        help="this node's name in dumps and keys (default: $NODE_NAME, else the host name)",
    )
    p.add_argument(
        "--cluster",
        default=os.environ.get("TRACELOOP_CLUSTER", ""),
        help="cluster name, the {cluster} of S3 object keys (default: $TRACELOOP_CLUSTER)",
    )
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="log lines on stderr as text or one JSON object each (default %(default)s)",
    )
    p.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="info",
        help="(default %(default)s)",
    )  # fmt: skip
    add_recorder_options(p)
    add_s3_options(p)
    add_kube_options(p)  # pod-restart triggers, pod names in dumps, Events
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_format, args.log_level)
    enabled, main_only = parse_trigger_names(args.triggers)
    settings = settings_from(args)
    if args.window is not None and args.window <= 0:
        raise UsageError("--window must be positive")
    kube_settings = kube_settings_from(args)
    sink_urls = args.sink or ["./traceloop-dumps"]
    # Whatever was started is stopped in reverse order, however the start-up
    # or the run ends (a refused control socket, a kernel that fails to load).
    with contextlib.ExitStack() as started:
        sinks = []
        for url in sink_urls:
            s = make_sink(url, **s3_options_from(args))
            started.callback(s.close)
            sinks.append(s)
            # A store that is down or misconfigured is reported once; dumps
            # wait in the spool until it works.
            s.check()
            if isinstance(s, LocalSink) and (n := clean_partials(s.root)):
                log.warning("removed partial files of an earlier crash", extra={"fields": {"n": n}})
        kube = None
        if kube_settings is not None:
            from sidecar.daemon.kube import connect

            kube = connect(kube_settings)
        table = load_table()
        root = cgroups.resolve_root(args.cgroup_root)
        kernel = Kernel(
            KernelConfig(
                settings,
                root_id=root.id,
                root_level=root.level,
                triggers=enabled,
                main_only=main_only,
                freeze_on_trigger=args.grace <= 0,
            ),
            table,
        )
        started.callback(kernel.close)
        d = Daemon(
            kernel,
            root,
            sinks,
            DaemonSettings(
                node_name=args.node_name,
                cluster=args.cluster,
                window=args.window,
                grace=args.grace,
                dump_on_exit=args.dump_on_exit,
                keep_dead=args.keep_dead,
            ),
            Incidents(args.coalesce, args.rate_limit, args.rate_period, args.node_rate_limit),
            enrichment=kube if kube is not None else Nothing(),
        )
        started.callback(d.watch.close)
        started.callback(d.shutdown)
        kernel.on_event(d.on_event)
        started.callback(ControlServer(args.control_socket, d.control).close)
        if args.metrics_addr:
            server = metrics.serve(
                args.metrics_addr, d.health, lambda: d.call(d.refresh_metrics, 5.0)
            )
            started.callback(server.shutdown)
        if kube is not None:
            kube.start(d)
            started.callback(kube.stop)
        started.callback(log.info, "stopping: finishing dumps in flight")
        # Once every listener is up (a start-up that fails takes in nothing):
        # host cgroups ignored, running containers given their slots.
        ignored = d.ignore_host_cgroups()

        def on_term(*_: object) -> None:
            d.stopping.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGUSR1, lambda *_: d.calls.put(d.dump_all))
        d.health.ready = True
        log.info(
            "recording",
            extra={
                "fields": {
                    "cgroup_root": str(root.path),
                    "sinks": ",".join(sink_urls),
                    "host_cgroups_ignored": ignored,
                    "slots": settings.slots,
                    "max_containers": settings.containers,
                }
            },
        )
        # One write: a log line from another thread, on stderr shared with
        # stdout (a pipe, journald), cannot fall between "ready" and its newline.
        sys.stdout.flush()
        os.write(sys.stdout.fileno(), b"ready\n")
        d.run()
    return 0
