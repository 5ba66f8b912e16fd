"""`traceloop ls s3://BUCKET/PREFIX` and `traceloop fetch s3://BUCKET/KEY`.

`ls` lists dumps newest first with what their object metadata says (reason,
node, pod, container) and their size; `fetch` downloads one, atomically, and
checks it against the sha256 the uploader put in its metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote

from .argtypes import count
from .errors import SinkError, UsageError
from .localsink import atomic_write

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def add_parser(sub: Any) -> None:
    from .s3config import add_client_options

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
    from .s3config import client_options_from, make_client

    return make_client(client_options_from(args))


@dataclass
class Listed:
    url: str
    key: str
    size: int
    last_modified: str
    time: str = ""
    reason: str = ""
    node: str = ""
    cluster: str = ""
    namespace: str = ""
    pod: str = ""
    container: str = ""
    id: str = ""


def _describe(client: S3Client, bucket: str, obj: dict[str, Any]) -> Listed:
    lm: datetime = obj["LastModified"]
    item = Listed(
        url=f"s3://{bucket}/{obj['Key']}",
        key=obj["Key"],
        size=int(obj["Size"]),
        last_modified=lm.isoformat(timespec="seconds").replace("+00:00", "Z"),
    )
    try:
        meta = client.head_object(Bucket=bucket, Key=obj["Key"]).get("Metadata", {})
    except Exception:
        # Listing still helps without metadata (no s3:GetObject, or deleted since).
        return item
    for name in ("time", "reason", "node", "cluster", "namespace", "pod", "container"):
        setattr(item, name, unquote(meta.get(name, "")))
    item.id = unquote(meta.get("dump-id", ""))
    return item


def list_dumps(client: S3Client, url: str, limit: int) -> list[Listed]:
    from .s3errors import classify
    from .s3keys import parse_s3_url

    u = parse_s3_url(url)
    # The prefix as typed: `s3://b/team/web-` lists keys starting with that.
    prefix = url[len("s3://") + len(u.bucket) + 1 :]
    objs: list[dict[str, Any]] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=u.bucket, Prefix=prefix
        ):
            objs.extend(dict(o) for o in page.get("Contents", []))
    except Exception as e:
        raise SinkError(classify(e, str(u)).message) from None
    objs.sort(key=lambda o: o["LastModified"], reverse=True)
    if limit > 0:
        objs = objs[:limit]
    with ThreadPoolExecutor(max_workers=8) as pool:
        items = list(pool.map(lambda o: _describe(client, u.bucket, o), objs))
    # Newest incident first; an upload delayed by an outage does not make an
    # old crash look new.
    items.sort(key=lambda i: i.time or i.last_modified, reverse=True)
    return items


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
        rows.append(
            [
                i.time or i.last_modified,
                i.reason or "-",
                i.node or "-",
                pod,
                i.container or "-",
                human_size(i.size),
                i.url,
            ]
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for r in rows:
        cells = [r[c].ljust(widths[c]) for c in range(len(widths))]
        out.write("  ".join([*cells, r[-1]]) + "\n")


def run_ls(args: argparse.Namespace) -> int:
    if not args.url.startswith("s3://"):
        raise UsageError(f"ls: {args.url}: only s3:// URLs are listed (use ls(1) for files)")
    items = list_dumps(_client(args), args.url, args.limit)
    if args.json:
        for i in items:
            sys.stdout.write(json.dumps(asdict(i)) + "\n")
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
    from .s3 import get_object_stream
    from .s3keys import split_object_url

    bucket, key = split_object_url(args.url)
    dest = _destination(args.url, key, args.output)
    if dest is not None and dest.exists() and not args.force:
        raise UsageError(f"fetch: {dest} exists (use --force to replace it)")
    client = _client(args)
    try:
        expected = client.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
    except Exception:
        expected = None  # the GET below says what is wrong, if anything
    stream, _ = get_object_stream(client, args.url)
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
