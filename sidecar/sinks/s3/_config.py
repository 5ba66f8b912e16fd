"""S3 options (command line and programmatic) and the boto3 client they make.

Credentials and endpoint follow boto3's own chain: AWS_ENDPOINT_URL(_S3),
AWS_PROFILE and ~/.aws/config, web identity (IRSA), container and instance
roles. The flags only add to it (an explicit endpoint, path-style addressing).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sidecar import __version__
from sidecar.model.errors import UsageError
from sidecar.sinks.s3._keys import DEFAULT_KEY_TEMPLATE
from sidecar.sinks.s3._policy import POLICIES, REFUSE

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
# A number (`.5` and `1.` too), then optionally a unit: K, KB, KiB (and the
# same for M, G, T), or a bare B. `i` only between a unit and its `B`.
_SIZE = re.compile(r"^\s*(\d+\.?\d*|\.\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`1G`, `512MiB`, `64k`, `1000`: bytes (binary multiples)."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 512M, 2G)")
    unit = (m.group(2) or "").lower()
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
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
