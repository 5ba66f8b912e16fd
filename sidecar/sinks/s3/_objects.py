"""`traceloop ls s3://BUCKET/PREFIX` and `traceloop fetch s3://BUCKET/KEY`.

`ls` lists dumps newest first with what their object metadata says (reason,
node, pod, container) and their size; `fetch` downloads one, atomically, and
checks it against the sha256 the uploader put in its metadata.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sidecar.model.clock import utc_text
from sidecar.model.errors import SinkError
from sidecar.sinks.listing import Listed, newest_first
from sidecar.sinks.s3._errors import classify
from sidecar.sinks.s3._keys import parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


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
    # The limit comes after the sort: the crash time is in each object's
    # metadata, and the upload order is not the crash order.
    return newest_first(items, limit)
