"""What every section of the SOP file's schema shares."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """A section that refuses fields it does not know, by name, and cannot be changed once
    loaded: a typo in an SOP file is an error, never a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: the name of an environment variable that holds a secret (secrets never sit in the file)
EnvName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
