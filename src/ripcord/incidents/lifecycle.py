"""The incident lifecycle as an explicit transition table (pure: no database here)."""

from __future__ import annotations

import enum

from ripcord.errors import TransitionError


class Status(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CONTAINED = "contained"
    RECOVERING = "recovering"
    RESOLVED = "resolved"
    REVIEWED = "reviewed"


S = Status
#: status -> the statuses it may move to. Automatic containment may come before any human
#: ack (an ack then only stamps `acknowledged_at`); a failed verification sends a recovering
#: incident back to contained; a resolved incident can be reopened until it is reviewed.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.OPEN: frozenset({S.ACKNOWLEDGED, S.CONTAINED, S.RECOVERING, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.CONTAINED, S.RECOVERING, S.RESOLVED}),
    S.CONTAINED: frozenset({S.RECOVERING, S.RESOLVED}),
    S.RECOVERING: frozenset({S.CONTAINED, S.RESOLVED}),
    S.RESOLVED: frozenset({S.REVIEWED, S.OPEN}),
    S.REVIEWED: frozenset(),
}

#: the timestamp column each status stamps the first time it is reached
STAMPS: dict[Status, str] = {
    S.ACKNOWLEDGED: "acknowledged_at",
    S.CONTAINED: "contained_at",
    S.RECOVERING: "recovering_at",
    S.RESOLVED: "resolved_at",
    S.REVIEWED: "reviewed_at",
}

ACTIVE = frozenset({S.OPEN, S.ACKNOWLEDGED, S.CONTAINED, S.RECOVERING})


def check(current: Status, target: Status) -> None:
    """Raise TransitionError unless the table allows current -> target."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
        raise TransitionError(
            f"status: {current.value} -> {target.value} is not allowed (allowed: {allowed})"
        )
