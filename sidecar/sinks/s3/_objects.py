"""`traceloop ls s3://BUCKET/PREFIX` and `traceloop fetch s3://BUCKET/KEY`.

`ls` lists dumps newest first with what their object metadata says (reason,
node, pod, container) and their size; `fetch` downloads one, atomically, and
checks it against the sha256 the uploader put in its metadata.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sidecar.model.clock import utc_text
from sidecar.model.errors import SinkError
from sidecar.sinks.s3._errors import classify
from sidecar.sinks.s3._keys import parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
        last_modified=utc_text(lm),
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
    with ThreadPoolExecutor(max_workers=8) as pool:
        items = list(pool.map(lambda o: _describe(client, u.bucket, o), objs))
    # Newest incident first; an upload delayed by an outage does not make an
    # old crash look new. The limit comes after this sort: the crash time is
    # in each object's metadata, and the upload order is not the crash order.
    # Metadata is anyone's who can write to the bucket: a `time` that is not an
    # ISO 8601 time sorts after every real one (by its upload time), never first.
    items.sort(key=_newest_first, reverse=True)
    return items[:limit] if limit > 0 else items


_EPOCH = datetime.fromtimestamp(0, UTC)


def _parse_time(text: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _newest_first(i: Listed) -> tuple[bool, datetime]:
    """Sort key: (the time is valid, when), the crash time if the metadata has one."""
    lm = _parse_time(i.last_modified) or _EPOCH
    if not i.time:
        return True, lm
    t = _parse_time(i.time)
    return (True, t) if t is not None else (False, lm)
