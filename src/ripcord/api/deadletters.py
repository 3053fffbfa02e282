"""Dead letters: messages a channel gave up on after its last retry, listed and replayed
(the API's side of `ripcord notify dead-letters|replay`).

A replay sends through the running service's own channels. The letter is read and its
outcome written under the runtime's lock, but the send itself happens outside it: a
channel retrying a receiver that is still down (Retry-After up to 30 s a try) must not
hold up ingestion, containment or anyone else's request meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from ripcord.api.deps import ApiState, Responder, State, Viewer
from ripcord.api.errors import NOT_FOUND, RESPONSES
from ripcord.errors import InputError
from ripcord.notify import deadletter
from ripcord.store.tables import DeadLetter

router = APIRouter(prefix="/v1/dead-letters", tags=["notifications"])
LetterId = Annotated[int, Path(ge=1, le=2**62, description="the dead letter's id", examples=[1])]


class DeadLetterOut(BaseModel):
    id: int
    incident_id: int | None
    channel: str
    kind: str | None
    recipient: str | None
    title: str | None
    error: str
    attempts: int
    created_at: datetime
    replayed_at: datetime | None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        return cls.model_validate(deadletter.as_dict(letter))


class ReplayOut(BaseModel):
    """How one replay went; `error` is null exactly when `ok`."""

    letter_id: int
    channel: str
    ok: bool
    attempts: int
    error: str | None


@router.get("", responses=RESPONSES)
def list_dead_letters(
    state: State,
    who: Viewer,
    include_replayed: bool = False,
    incident_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[DeadLetterOut]:
    """Dead letters, oldest first: those still to replay, or all with `include_replayed`."""
    with state.runtime() as rc, rc.db.session() as session:
        letters = deadletter.dead_letters(
            session, include_replayed=include_replayed, incident_id=incident_id
        )
        return [DeadLetterOut.of(letter) for letter in letters]


@router.post("/{letter_id}/replay", responses={**RESPONSES, **NOT_FOUND})
def replay_one(letter_id: LetterId, state: State, who: Responder) -> ReplayOut:
    """Send one letter again through its channel. A failed send is answered (200, `ok`
    false, the error recorded on the letter), not raised; 422 once it was replayed."""
    return _replay(state, letter_id, who.name)


@router.post("/replay", responses=RESPONSES)
def replay_all(state: State, who: Responder) -> list[ReplayOut]:
    """Send every letter not yet replayed, oldest first; one result per letter."""
    with state.runtime() as rc, rc.db.session() as session:
        ids = [letter.id for letter in deadletter.dead_letters(session)]
    results = []
    for letter_id in ids:
        try:
            results.append(_replay(state, letter_id, who.name))
        except InputError:  # another caller replayed it meanwhile
            continue
    return results


def _replay(state: ApiState, letter_id: int, actor: str) -> ReplayOut:
    with state.runtime() as rc, rc.db.session() as session:
        letter = deadletter.pending(session, letter_id)
    attempts, error = deadletter.send(letter, state.rc.notifier.channels)
    with state.runtime() as rc, rc.db.session() as session:
        result = deadletter.record(session, letter_id, attempts, error, actor=actor, clock=rc.clock)
    return ReplayOut(**vars(result))
