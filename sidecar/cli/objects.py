"""`traceloop ls` and `traceloop fetch`: dumps in S3."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sidecar.cli.argtypes import count
from sidecar.model.errors import SinkError, UsageError
from sidecar.model.text import escape
from sidecar.sinks.local import atomic_write

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from sidecar.sinks.s3 import Listed


def add_parser(sub: Any) -> None:
    from sidecar.cli.s3options import add_client_options

    p = sub.add_parser(
        "ls",
        help="list dumps in S3, newest first",
        description="List the dumps under s3://BUCKET/PREFIX, newest first, with the "
        "reason, node, pod and container from their metadata.",
    )
    p.add_argument("url", metavar="s3://BUCKET[/PREFIX]")
    p.add_argument(
        "-n",
        "--limit",
        type=count,
        default=100,
        help="show the newest N (default %(default)s; 0: all)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_client_options(p.add_argument_group("S3"))
    p.set_defaults(func=run_ls)

    f = sub.add_parser(
        "fetch",
        help="download a dump from S3",
        description="Download s3://BUCKET/KEY to a file (atomically, mode 0600), checking "
        "it against the sha256 in its metadata. Read it with `traceloop show FILE` "
        "(or show the URL directly).",
    )
    f.add_argument("url", metavar="s3://BUCKET/KEY")
    f.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file or existing directory to write to, or - for standard output "
        "(default: the key's last part, in the current directory)",
    )
    f.add_argument("--force", action="store_true", help="replace an existing file")
    add_client_options(f.add_argument_group("S3"))
    f.set_defaults(func=run_fetch)


def _client(args: argparse.Namespace) -> S3Client:
    from sidecar.cli.s3options import client_options_from
    from sidecar.sinks import s3

    return s3.make_client(client_options_from(args))


def run_ls(args: argparse.Namespace) -> int:
    if not args.url.startswith("s3://"):
        raise UsageError(f"ls: {args.url}: only s3:// URLs are listed (use ls(1) for files)")
    from sidecar.sinks import s3

    items = s3.list_dumps(_client(args), args.url, args.limit)
    if args.json:
        for i in items:
            # json escapes controls and non-ASCII but not DEL; the terminal gets none raw.
            sys.stdout.write(json.dumps(asdict(i)).replace("\x7f", "\\u007f") + "\n")
    elif items:
        _table(items, sys.stdout)
    else:
        print(f"traceloop: no objects under {args.url}", file=sys.stderr)
    return 0


def _destination(url: str, key: str, output: str | None) -> Path | None:
    if output == "-":
        return None
    name = key.rsplit("/", 1)[-1]
    if not output:
        return Path(name)
    p = Path(output)
    if p.is_dir() or output.endswith("/"):
        return p / name
    return p


def run_fetch(args: argparse.Namespace) -> int:
    from sidecar.sinks import s3

    bucket, key = s3.split_object_url(args.url)
    dest = _destination(args.url, key, args.output)
    if dest is not None and dest.exists() and not args.force:
        raise UsageError(f"fetch: {dest} exists (use --force to replace it)")
    client = _client(args)
    try:
        expected = client.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    except Exception:
        expected = None  # the GET below says what is wrong, if anything
    stream, _ = s3.get_object_stream(client, args.url)
    sha = hashlib.sha256()
    total = 0

    def copy(out: IO[bytes]) -> None:
        nonlocal total
        with stream:
            while chunk := stream.read(1 << 20):
                sha.update(chunk)
                out.write(chunk)
                total += len(chunk)
        if expected and sha.hexdigest() != expected:
            raise SinkError(f"{args.url}: downloaded data does not match its sha256; not kept")

    try:
        if dest is None:
            copy(sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            atomic_write(dest, copy)
    except OSError as e:
        raise SinkError(f"fetch {args.url}: {e}") from None
    if dest is not None:
        print(f"traceloop: fetched {args.url} to {dest} ({total} bytes)", file=sys.stderr)
    return 0


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"


def _table(items: Iterable[Listed], out: IO[str]) -> None:
    rows = [["TIME", "REASON", "NODE", "POD", "CONTAINER", "SIZE", "URL"]]
    for i in items:
        pod = f"{i.namespace}/{i.pod}" if i.pod else "-"
        # Keys and percent-decoded metadata are anyone's who can write to the
        # bucket: every cell is escaped (ESC, CR... cannot reach the terminal).
        cells = [i.time or i.last_modified, i.reason or "-", i.node or "-", pod,
                 i.container or "-", human_size(i.size), i.url]  # fmt: skip
        rows.append([escape(c, 300) for c in cells])
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [r[c].ljust(widths[c]) for c in range(len(widths))]
        out.write("  ".join([*cells, r[-1]]) + "\n")
