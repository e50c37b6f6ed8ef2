"""Progress bars on stderr, only where a person watches: on a terminal, once a job has run for a
second; never in piped or redirected output."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

import click

Item = TypeVar("Item")
DELAY = 1.0  # seconds before a bar appears: shorter jobs stay quiet


def watched(items: Iterable[Item], length: int, label: str, show: bool = True) -> Iterator[Item]:
    """The items, with a bar of `length` steps drawn on stderr while they are consumed (unless
    `show` is false: say, when stdout is the same terminal)."""
    if not (show and sys.stderr.isatty()):
        yield from items
        return
    started, bar = time.monotonic(), None
    try:
        for done, item in enumerate(items, start=1):
            yield item
            if bar is not None:
                bar.update(1)
            elif time.monotonic() - started > DELAY:
                bar = click.progressbar(length=length, label=label, file=sys.stderr)
                bar.__enter__()
                bar.update(done)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
