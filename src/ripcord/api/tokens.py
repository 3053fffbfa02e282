"""API tokens (admin only): list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from ripcord import access
from ripcord.api.deps import Admin, State
from ripcord.api.errors import NOT_FOUND, RESPONSES
from ripcord.api.models import NewToken, TokenIn, TokenOut

router = APIRouter(prefix="/v1/tokens", tags=["access"])


@router.get("", responses=RESPONSES)
def list_tokens(state: State, who: Admin) -> list[TokenOut]:
    """Every token with its role and state; never the token or its hash."""
    with state.runtime() as rc, rc.db.session() as session:
        return [TokenOut.of(t) for t in access.tokens(session)]


@router.post("", status_code=201, responses=RESPONSES)
def create_token(body: TokenIn, state: State, who: Admin) -> NewToken:
    """Make a token; the answer is the only place the token itself ever appears."""
    with state.runtime() as rc, rc.db.session() as session:
        row, token = access.create(session, body.name, body.role, at=rc.clock.now(), actor=who.name)
        return NewToken(**TokenOut.of(row).model_dump(), token=token)


@router.delete("/{name}", responses={**RESPONSES, **NOT_FOUND})
def revoke_token(
    name: Annotated[str, Path(min_length=1, max_length=100)], state: State, who: Admin
) -> TokenOut:
    """Revoke a token at once; revoking it again changes nothing."""
    with state.runtime() as rc, rc.db.session() as session:
        return TokenOut.of(access.revoke(session, name, at=rc.clock.now(), actor=who.name))
