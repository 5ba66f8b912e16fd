"""The `traceloop` command line: the only user of argparse, and the composition root."""

from sidecar.cli.main import main

__all__ = ["main"]
