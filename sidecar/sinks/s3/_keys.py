"""Pure naming for the S3 sink: URLs, object keys, object metadata, spool names.

No I/O here: everything is a function of a `DumpName` and the sink's settings,
so the key a dump gets is deterministic. That is what makes a re-send after a
crash overwrite the same object instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from urllib.parse import quote

from sidecar.dump.naming import DumpName, safe_name
from sidecar.model.errors import UsageError

DEFAULT_KEY_TEMPLATE = "{cluster}/{namespace}/{pod}/{container}/{time}-{reason}-{id}.msgpack"
KEY_FIELDS = frozenset(
    {"cluster", "namespace", "pod", "container", "node", "time", "date", "reason", "id"}
)
# Parts a local run does not know (no pod, no cluster) become this, so keys keep
# their shape and `aws s3 ls` still shows one level per template part.
FILLER = "_"
CONTENT_TYPE = "application/vnd.msgpack"
ZSTD_SUFFIX = ".zst"
# S3 limits a key to 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
# S3's bucket naming rules (general purpose buckets): 3-63 characters of
# lowercase letters, digits, dots and hyphens, a letter or digit at each end,
# no two dots in a row, not an IP address.
_BUCKET_CHARS = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?")
_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")


@dataclass(frozen=True)
class S3Url:
    bucket: str
    prefix: str  # no leading slash; "" or ends without a slash

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def url_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def parse_s3_url(url: str, *, what: str = "s3 URL") -> S3Url:
    """`s3://BUCKET[/PREFIX]`; the prefix is kept without surrounding slashes."""
    if not url.startswith("s3://"):
        raise UsageError(f"{what} {url!r}: must start with s3://")
    rest = url[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise UsageError(f"{what} {url!r}: no bucket name (use s3://BUCKET/PREFIX)")
    # A typo caught here is clearer than a signature or DNS error from the store.
    problem = bucket_name_problem(bucket)
    if problem:
        raise UsageError(f"{what} {url!r}: {bucket!r} is not a valid bucket name ({problem})")
    return S3Url(bucket, prefix.strip("/"))


def bucket_name_problem(bucket: str) -> str | None:
    """Which of S3's bucket naming rules `bucket` breaks, or None."""
    if not 3 <= len(bucket) <= 63:
        return "3 to 63 characters"
    if not _BUCKET_CHARS.fullmatch(bucket):
        return (
            "only lowercase letters, digits, dots and hyphens, "
            "starting and ending with a letter or digit"
        )
    if ".." in bucket:
        return "no two dots in a row"
    if _IPV4.fullmatch(bucket):
        return "not an IP address"
    return None


def split_object_url(url: str) -> tuple[str, str]:
    """`s3://BUCKET/KEY` -> (bucket, key); the key must be present."""
    u = parse_s3_url(url)
    key = url[len("s3://") + len(u.bucket) + 1 :]
    if not key or key.endswith("/"):
        raise UsageError(f"{url}: names no object (use s3://BUCKET/KEY)")
    return u.bucket, key


def check_template(template: str) -> str:
    """Refuse a template that could not name every dump apart, or names unknown parts."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise UsageError(f"--s3-key-template {template!r}: {e}") from None
    unknown = sorted({f for f in fields if f not in KEY_FIELDS})
    if unknown:
        raise UsageError(
            f"--s3-key-template: unknown field(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KEY_FIELDS))})"
        )
    # Without the dump id two incidents could share a key and the second
    # upload would silently replace the first.
    if "id" not in fields:
        raise UsageError("--s3-key-template must contain {id}: keys must differ per dump")
    if template.startswith("/"):
        raise UsageError("--s3-key-template must not start with '/'")
    return template


def _part(value: str) -> str:
    return safe_name(value, default=FILLER) if value else FILLER


def time_stamp(time_iso: str) -> str:
    # Same stamp as local file names: sorts by time, no colons.
    return time_iso.replace(":", "").replace("-", "") or FILLER


def render_key(template: str, prefix: str, name: DumpName, compress: str | None) -> str:
    """The object key of the dump `name`: prefix + template, filled in."""
    values = {
        "cluster": _part(name.cluster),
        "namespace": _part(name.namespace),
        "pod": _part(name.pod),
        "container": _part(name.container),
        "node": _part(name.node),
        "time": _part(time_stamp(name.time)),
        "date": _part(name.time[:10]),
        "reason": _part(name.reason),
        "id": _part(name.id),
    }
    key = template.format(**values)
    if compress == "zstd" and not key.endswith(ZSTD_SUFFIX):
        key += ZSTD_SUFFIX
    if prefix:
        key = f"{prefix}/{key}"
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UsageError(f"object key longer than {MAX_KEY_BYTES} bytes: {key[:80]}...")
    return key


def _meta_value(value: str) -> str:
    # S3 user metadata travels in HTTP headers: ASCII only. Percent-encoding
    # keeps any odd character recoverable (`traceloop ls` decodes it).
    return quote(value, safe=" -_.:/@+=,")


def object_metadata(name: DumpName, sha256: str) -> dict[str, str]:
    """x-amz-meta-* of a dump: what `traceloop ls` shows without reading the dump."""
    meta = {
        "reason": name.reason,
        "node": name.node,
        "container": name.container,
        "namespace": name.namespace,
        "pod": name.pod,
        "cluster": name.cluster,
        "time": name.time,
        "dump-id": name.id,
        # Ours, so a HEAD can tell the object we spooled from an older one.
        "sha256": sha256,
    }
    return {k: _meta_value(v) for k, v in meta.items() if v}


def spool_dirname(url: S3Url) -> str:
    """One spool subdirectory per sink, so several S3 sinks can share --spool."""
    digest = hashlib.sha256(f"{url.bucket}/{url.prefix}".encode()).hexdigest()[:8]
    return f"{safe_name(url.bucket)}-{digest}"


def spool_basename(name: DumpName, key: str) -> str:
    """Spool file stem: readable, and unique per object key (same dump, same file)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    stem = name.filename.removesuffix(".msgpack")
    return f"{stem}-{digest}"
