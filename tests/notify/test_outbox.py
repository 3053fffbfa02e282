"""The outbox on its own: order kept, `drain` bounded, `close` turning what it could not
send into dead letters, a failing `done` not stopping the next message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ripcord.notify import Delivery, Notifier, RecordingChannel, WebhookChannel
from ripcord.notify.base import MessageKind, Notification
from ripcord.notify.outbox import SHUTDOWN_ERROR, Outbox
from tests.notify.holding import holding, wait_for


def message(n: int, recipient: str = "alice") -> Notification:
    return Notification(
        kind=MessageKind.PAGE,
        incident_id=n,
        model="credit-risk",
        severity="SEV-2",
        title=f"incident {n}",
        body="",
        recipient=recipient,
        team="ml-credit",
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


Done = list[tuple[int, list[Delivery]]]


def test_messages_go_out_in_order_and_done_runs_after_each() -> None:
    channel = RecordingChannel("console")
    outbox = Outbox(lambda: Notifier({"console": channel}))
    done: Done = []
    for n in range(1, 21):
        outbox.submit(message(n), ["console"], lambda m, ds: done.append((m.incident_id, ds)))
    assert outbox.drain(30.0)
    assert [m.incident_id for m in channel.messages] == list(range(1, 21))
    assert [n for n, _ in done] == list(range(1, 21))
    assert all(ds[0].ok for _, ds in done) and outbox.pending == 0
    outbox.close()


def test_a_failing_done_is_logged_and_the_next_message_goes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = RecordingChannel("console")
    outbox = Outbox(lambda: Notifier({"console": channel}))

    def broken(m: Notification, ds: list[Delivery]) -> None:
        raise RuntimeError("database is locked")

    outbox.submit(message(1), ["console"], broken)
    outbox.submit(message(2), ["console"], None)
    assert outbox.drain(30.0)
    assert [m.incident_id for m in channel.messages] == [1, 2]
    assert "recording a delivery failed" in caplog.text
    outbox.close()


def test_close_dead_letters_what_a_hanging_receiver_kept_queued() -> None:
    letters: list[tuple[int, str, str, int]] = []
    with holding() as rec:
        hook = WebhookChannel("hook", rec.url, retries=0, timeout_s=60.0)
        notifier = Notifier(
            {"hook": hook},
            on_dead_letter=lambda m, ch, err, n: letters.append((m.incident_id, ch, err, n)),
        )
        outbox = Outbox(lambda: notifier)
        done: Done = []
        outbox.submit(message(1), ["hook"], lambda m, ds: done.append((m.incident_id, ds)))
        outbox.submit(message(2), ["hook"], lambda m, ds: done.append((m.incident_id, ds)))
        wait_for(lambda: rec.count("received") == 1, "the first message")
        assert not outbox.drain(0.05)  # bounded: the receiver still holds the first
        assert outbox.pending == 2
        outbox.close(timeout=0.05)
        assert letters == [(2, "hook", SHUTDOWN_ERROR, 0)]
        assert [(n, ds[0].ok, ds[0].error) for n, ds in done] == [(2, False, SHUTDOWN_ERROR)]
        rec.release.set()  # the message in flight still completes on its thread
        wait_for(lambda: len(done) == 2, "the first message's done")
        assert done[1][0] == 1 and done[1][1][0].ok
        assert rec.count("received") == 1  # the abandoned one was never sent


def test_a_closed_outbox_starts_again_on_the_next_message() -> None:
    channel = RecordingChannel("console")
    outbox = Outbox(lambda: Notifier({"console": channel}))
    outbox.submit(message(1), ["console"], None)
    outbox.close()
    outbox.submit(message(2), ["console"], None)
    assert outbox.drain(30.0)
    assert [m.incident_id for m in channel.messages] == [1, 2]
    outbox.close()


def test_inline_sends_before_submit_returns_and_reads_the_notifier_in_use() -> None:
    first, second = RecordingChannel("console"), RecordingChannel("console")
    notifiers = [Notifier({"console": first})]
    outbox = Outbox(lambda: notifiers[-1], inline=True)
    outbox.submit(message(1), ["console"], None)
    notifiers.append(Notifier({"console": second}))  # a host swapping `rc.notifier`
    outbox.submit(message(2), ["console"], None)
    assert ([m.incident_id for m in first.messages], [m.incident_id for m in second.messages]) == (
        [1],
        [2],
    )
    assert outbox.pending == 0 and outbox.sent == 2
