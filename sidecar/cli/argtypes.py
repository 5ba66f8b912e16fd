"""argparse types for numbers, so a bad value is argparse's one-line usage
error (exit 2) and never reaches the code as a negative timeout or limit."""

from __future__ import annotations

import argparse


def seconds(text: str) -> float:
    """A duration in seconds, >= 0."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not v >= 0:  # also turns away nan
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return v


def count(text: str) -> int:
    """A whole number, >= 0."""
    return _whole(text, 0)


def positive(text: str) -> int:
    """A whole number, >= 1."""
    return _whole(text, 1)


def _whole(text: str, least: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if v < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}: {text}")
    return v
