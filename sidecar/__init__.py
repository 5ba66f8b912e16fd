"""traceloop-sidecar: a crash flight recorder for containers."""

__version__ = "0.1.0"
