"""The stdout sink: one readable line per alert on standard output."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from tracker.alerts.sinks import Delivery, RetryPolicy
from tracker.core.model import StoredAlert


class StdoutSink:
    """Prints each alert as it is committed: coloured on a terminal, plain when piped.

    Like every sink but the alert log, it does not get a silenced alert. Its lines are
    kept nowhere (the outbox records no delivery of it: nothing to retry or redeliver,
    and ``tracker alerts`` lists none); a failed write raises what the write raised.
    """

    name = "stdout"
    batch_size = 500
    local = True
    retry = RetryPolicy(max_attempts=1)  # a line is shown as its alert happens, or never

    def __init__(self, color: bool | None = None) -> None:
        self.color = color  # None: only on a terminal

    def deliver(self, batch: Sequence[Delivery]) -> None:
        """Print a line for each alert of the batch that is not silenced."""
        for delivery in batch:
            if not delivery.alert.silenced:
                print_alert(delivery.alert, self.color)

    def close(self) -> None:
        """Nothing to release."""


def print_alert(alert: StoredAlert, color: bool | None = None) -> None:
    """An alert's line: ``ALERT <ts> <rule> [flags]: <message>``, in the tone of its direction."""
    record = json.loads(alert.record)
    flags = [name for name in ("gap", "inferred", "late", "silenced") if record.get(name)]
    flag = f" [{', '.join(flags)}]" if flags else ""
    if record.get("kind") == "source":
        tone = "yellow"
    else:
        tone = "red" if record.get("direction") == "down" else "green"
    head = click.style("ALERT", bold=True, fg=tone)
    rule = click.style(record["rule"], fg=tone)
    click.echo(f"{head} {record['ts']} {rule}{flag}: {record['message']}", color=color)
