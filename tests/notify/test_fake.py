"""RecordingChannel: the fake that tests and drills use instead of a network."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ripcord.notify import DeliveryError, MessageKind, Notification, RecordingChannel


def test_records_messages_in_order(message: Notification) -> None:
    fake = RecordingChannel()
    resolved = replace(message, kind=MessageKind.RESOLVED)
    fake.send(message)
    fake.send(resolved)
    fake.send(replace(message, incident_id=7))
    assert fake.name == "fake"
    assert fake.messages[:2] == [message, resolved]
    assert fake.kinds() == [MessageKind.PAGE, MessageKind.RESOLVED, MessageKind.PAGE]
    assert fake.for_incident(42) == [message, resolved]


def test_fails_the_first_n_sends(message: Notification) -> None:
    fake = RecordingChannel("pager", fail_times=2)
    for n in (1, 2):
        with pytest.raises(DeliveryError, match=f"injected failure {n} of 2"):
            fake.send(message)
    fake.send(message)
    assert fake.calls == 3
    assert fake.messages == [message]
    fake.clear()
    assert (fake.calls, fake.messages) == (0, [])


def test_refuses_a_negative_failure_count() -> None:
    with pytest.raises(ValueError, match="fail_times"):
        RecordingChannel(fail_times=-1)
