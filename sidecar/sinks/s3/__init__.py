"""The S3 sink: dumps spooled on disk, uploaded, confirmed, then deleted.

The public face of the private modules beside it:

    _config    options (S3Options, ClientOptions), sizes, the boto3 client
    _keys      s3:// URLs, object keys from templates, metadata
    _policy    what a full spool does
    _spool     the spool directory
    _uploader  the upload loop (tenacity)
    _errors    boto3's errors, classified
    _metrics   the S3 metrics
    _sink      the sink, and reading dumps back from S3
    _objects   listing dumps

The light names (options, URLs, policies) are imported at once; the sink and
what it pulls in (boto3, the uploader, the S3 metrics) only when first used,
so command lines that only name S3 options stay quick and a daemon without an
S3 sink exports no S3 metrics.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sidecar.sinks.s3._config import (
    SPOOL_DEFAULT,
    STORAGE_CLASSES,
    ClientOptions,
    S3Options,
    parse_size,
)
from sidecar.sinks.s3._keys import DEFAULT_KEY_TEMPLATE, parse_s3_url, split_object_url
from sidecar.sinks.s3._policy import POLICIES, REFUSE

if TYPE_CHECKING:
    from sidecar.sinks.listing import Listed
    from sidecar.sinks.s3._config import make_client
    from sidecar.sinks.s3._objects import list_dumps
    from sidecar.sinks.s3._sink import (
        S3Sink,
        get_object_stream,
        make_s3_sink,
        open_s3_dump,
        settle,
    )

_LAZY = {
    "make_client": "_config",
    "Listed": "_objects",
    "list_dumps": "_objects",
    "S3Sink": "_sink",
    "get_object_stream": "_sink",
    "make_s3_sink": "_sink",
    "open_s3_dump": "_sink",
    "settle": "_sink",
}

__all__ = [
    "DEFAULT_KEY_TEMPLATE",
    "POLICIES",
    "REFUSE",
    "SPOOL_DEFAULT",
    "STORAGE_CLASSES",
    "ClientOptions",
    "Listed",
    "S3Options",
    "S3Sink",
    "get_object_stream",
    "list_dumps",
    "make_client",
    "make_s3_sink",
    "open_s3_dump",
    "parse_s3_url",
    "parse_size",
    "settle",
    "split_object_url",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
