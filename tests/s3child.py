"""A process that uses the S3 sink the way the daemon does, for kill tests.

    python tests/s3child.py URL ENDPOINT SPOOL [--store ID --records N --pad BYTES]
                            [--wait SECONDS] [--threshold BYTES] [--timeout SECONDS]

Makes the sink (which starts sending leftovers of an earlier run), optionally
stores one dump, prints `stored URL`, waits up to --wait for the spool to
drain, prints `drained` or `left N`, and exits.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from s3util import dump_writer, name

from sidecar.sinks.s3._sink import make_s3_sink


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("endpoint")
    p.add_argument("spool")
    p.add_argument("--store", type=int)
    p.add_argument("--records", type=int, default=100)
    p.add_argument("--pad", type=int, default=0)
    p.add_argument("--wait", type=float, default=60.0)
    p.add_argument("--threshold", type=int, default=16 << 20)
    p.add_argument("--timeout", type=float, default=5.0)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sink = make_s3_sink(
        args.url,
        endpoint_url=args.endpoint,
        spool=args.spool,
        multipart_threshold=args.threshold,
        multipart_chunksize=5 << 20,
        timeout=args.timeout,
        retry_initial=0.05,
        retry_max_wait=0.5,
    )
    if args.store is not None:
        url = sink.store(name(args.store), dump_writer(args.records, args.pad))
        print(f"stored {url}", flush=True)
    drained = sink.uploader.drain(args.wait)
    left = len(sink.spool.entries())
    sink.close(timeout=0)
    print("drained" if drained else f"left {left}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
