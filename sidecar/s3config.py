"""S3 options (command line and programmatic) and the boto3 client they make.

Credentials and endpoint follow boto3's own chain: AWS_ENDPOINT_URL(_S3),
AWS_PROFILE and ~/.aws/config, web identity (IRSA), container and instance
roles. The flags only add to it (an explicit endpoint, path-style addressing).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from . import __version__
from .argtypes import seconds
from .errors import UsageError
from .s3keys import DEFAULT_KEY_TEMPLATE
from .spoolpolicy import POLICIES, REFUSE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SPOOL_DEFAULT = "/var/lib/traceloop/spool"
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`1G`, `512MiB`, `64k`, `1000`: bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512M, 2G)")
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


@dataclass(frozen=True)
class ClientOptions:
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    path_style: bool = False
    timeout: float = 30.0
    # botocore's own retries of one request: they keep a multipart upload alive
    # through a single failed part (s3transfer aborts the whole upload when a
    # part fails). The uploader's tenacity loop retries around them.
    request_attempts: int = 3


@dataclass(frozen=True)
class S3Options(ClientOptions):
    spool: str = SPOOL_DEFAULT
    spool_max_bytes: int = 1 << 30
    spool_full: str = REFUSE
    sse: str | None = None
    sse_kms_key_id: str | None = None
    storage_class: str | None = None
    key_template: str = DEFAULT_KEY_TEMPLATE
    compress: str | None = None
    multipart_threshold: int = 16 << 20
    multipart_chunksize: int = 8 << 20
    retry_initial: float = 0.5
    retry_max_wait: float = 30.0
    retry_attempts: int = 6
    upload_timeout: float = 10.0
    # How often an idle uploader looks for dumps another process spooled.
    idle_rescan: float = 5.0
    # Tests inject a recording sleep to check the backoff schedule without waiting.
    sleep: Callable[[float], None] | None = None

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> S3Options:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown S3 sink option(s): {', '.join(unknown)}")
        opts = cls(**options)
        if opts.spool_full not in POLICIES:
            raise UsageError(f"--spool-full must be one of {', '.join(POLICIES)}")
        if opts.compress not in (None, "none", "zstd"):
            raise UsageError("--compress must be none or zstd")
        if opts.sse_kms_key_id and opts.sse != "aws:kms":
            raise UsageError("--s3-sse-kms-key-id needs --s3-sse aws:kms")
        return opts


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
    """Add the S3 sink's flags to a command (`daemon`, `record`).

    Also sets `args.sink_options` to `s3_options_from`, the hook the daemon
    uses to pass them to `make_sink`.
    """
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
        type=parse_size,
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
        type=parse_size,
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
    parser.set_defaults(sink_options=s3_options_from)


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


def make_client(opts: ClientOptions) -> S3Client:
    """A boto3 S3 client; boto3 clients are thread-safe, sessions are not."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    cfg = Config(
        connect_timeout=opts.timeout,
        read_timeout=opts.timeout,
        retries={"mode": "standard", "total_max_attempts": max(1, opts.request_attempts)},
        s3={"addressing_style": "path"} if opts.path_style else None,
        user_agent_extra=f"traceloop-sidecar/{__version__}",
    )
    try:
        session = boto3.session.Session(profile_name=opts.profile, region_name=opts.region)
        return session.client("s3", endpoint_url=opts.endpoint_url, config=cfg)
    except BotoCoreError as e:
        raise UsageError(f"S3 client: {e}") from None
    except ValueError as e:  # e.g. a malformed endpoint URL
        raise UsageError(f"S3 client: {e}") from None
