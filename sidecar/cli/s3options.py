"""The S3 options of `record` and `daemon`, and of `ls` / `fetch`."""

from __future__ import annotations

import argparse
from typing import Any

from sidecar.cli.argtypes import seconds
from sidecar.sinks.s3 import (
    DEFAULT_KEY_TEMPLATE,
    POLICIES,
    REFUSE,
    SPOOL_DEFAULT,
    STORAGE_CLASSES,
    ClientOptions,
    S3Options,
    parse_size,
)


def size(text: str) -> int:
    """An argparse type: `512M`, `2G`, `64KiB` -> bytes."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_client_options(g: argparse._ActionsContainer) -> None:
    """The flags every S3 user needs (ls, fetch, and the sink)."""
    g.add_argument(
        "--s3-endpoint-url",
        metavar="URL",
        help="S3 endpoint (MinIO, Ceph, moto...); default: AWS_ENDPOINT_URL_S3, "
        "AWS_ENDPOINT_URL, the profile's, or AWS",
    )
    g.add_argument("--s3-region", metavar="REGION", help="default: AWS_REGION or the profile's")
    g.add_argument("--s3-profile", metavar="NAME", help="AWS profile (default: AWS_PROFILE)")
    g.add_argument(
        "--s3-path-style",
        action="store_true",
        help="path-style addressing (http://host/bucket/key), for S3-compatible stores",
    )
    g.add_argument(
        "--s3-timeout",
        type=seconds,
        default=ClientOptions.timeout,
        metavar="SECONDS",
        help="connect and read timeout of one request (default %(default)s)",
    )


def add_s3_options(
    parser: argparse.ArgumentParser,
    *,
    spool_default: str = SPOOL_DEFAULT,
    upload_timeout_default: float = S3Options.upload_timeout,
) -> None:
    """Add the S3 sink's flags to a command (`daemon`, `record`)."""
    g = parser.add_argument_group("S3 sinks (--sink s3://BUCKET/PREFIX)")
    add_client_options(g)
    g.add_argument(
        "--spool",
        default=spool_default,
        metavar="DIR",
        help="dumps wait here until the store confirms them (default %(default)s)",
    )
    g.add_argument(
        "--spool-max-bytes",
        type=size,
        default=S3Options.spool_max_bytes,
        metavar="SIZE",
        help="cap on the spool (e.g. 512M, 2G; 0: none; default 1G)",
    )
    g.add_argument(
        "--spool-full",
        choices=POLICIES,
        default=REFUSE,
        help="when a dump does not fit: refuse it, or drop the oldest spooled dumps; "
        "both are logged and counted (default %(default)s)",
    )
    g.add_argument(
        "--s3-key-template",
        default=DEFAULT_KEY_TEMPLATE,
        metavar="TEMPLATE",
        help="object key under the sink's prefix; fields: {cluster} {namespace} {pod} "
        "{container} {node} {time} {date} {reason} {id} (default %(default)s)",
    )
    g.add_argument(
        "--compress",
        choices=["none", "zstd"],
        default="none",
        help="compress dumps sent to S3 (zstd: key ends in .zst; `show` reads both)",
    )
    g.add_argument("--s3-sse", choices=["AES256", "aws:kms"], help="server-side encryption")
    g.add_argument("--s3-sse-kms-key-id", metavar="KEY", help="KMS key for --s3-sse aws:kms")
    g.add_argument("--s3-storage-class", choices=STORAGE_CLASSES, help="storage class of dumps")
    g.add_argument(
        "--s3-multipart-threshold",
        type=size,
        default=S3Options.multipart_threshold,
        metavar="SIZE",
        help="dumps this large go up in parts (default 16M)",
    )
    g.add_argument(
        "--s3-retry-max-wait",
        type=seconds,
        default=S3Options.retry_max_wait,
        metavar="SECONDS",
        help="cap of the exponential backoff between retries (default %(default)s)",
    )
    g.add_argument(
        "--upload-timeout",
        type=seconds,
        default=upload_timeout_default,
        metavar="SECONDS",
        help="at exit, wait this long for spooled dumps to reach the store; what is left "
        "stays in the spool for the next start (default %(default)s)",
    )


def client_options_from(args: argparse.Namespace) -> ClientOptions:
    return ClientOptions(
        endpoint_url=args.s3_endpoint_url or None,
        region=args.s3_region or None,
        profile=args.s3_profile or None,
        path_style=bool(args.s3_path_style),
        timeout=float(args.s3_timeout),
    )


def s3_options_from(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for `make_sink(url, **...)` from parsed S3 flags."""
    c = client_options_from(args)
    return {
        "endpoint_url": c.endpoint_url,
        "region": c.region,
        "profile": c.profile,
        "path_style": c.path_style,
        "timeout": c.timeout,
        "spool": args.spool,
        "spool_max_bytes": args.spool_max_bytes,
        "spool_full": args.spool_full,
        "key_template": args.s3_key_template,
        "compress": None if args.compress == "none" else args.compress,
        "sse": args.s3_sse,
        "sse_kms_key_id": args.s3_sse_kms_key_id,
        "storage_class": args.s3_storage_class,
        "multipart_threshold": args.s3_multipart_threshold,
        "retry_max_wait": args.s3_retry_max_wait,
        "upload_timeout": args.upload_timeout,
    }
