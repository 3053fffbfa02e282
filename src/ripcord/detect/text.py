"""Text helpers shared by the LLM-output families: which text an event carries, content
tokens, a groundedness score, refusal phrases, and the base class of the text families.

An LLM app's reply is the event's `prediction` when it is a string. Only replies the model
itself served (the `champion` route) are judged: a fallback's or a guardrail's replacement
text is not the model's. The output guardrails' hits are on `guarded` events' violations
(`guardrail:NAME: matched '...'`), which the safety families also read, because a reply a
guardrail caught is still a reply the model produced (SPEC scenario 6).
"""

from __future__ import annotations

import re
from typing import ClassVar, TypeVar

from ripcord.detect.windows import WindowedDetector
from ripcord.events import InferenceEvent, Route

T = TypeVar("T")

#: Refusal openings and stock phrases, matched case-insensitively after curly quotes are
#: straightened; specific enough that "I can't wait to help" is not one.
DEFAULT_REFUSALS = (
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
    "i won't be able to",
    "i must decline",
    "as an ai language model",
)

_WORD = re.compile(r"\w+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
#: Function words carry no claim, so they neither support nor undermine groundedness.
_STOPWORDS = """a about above after again all also am an and any are as at be because been before
    being below both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself
    just me more most my no nor not now of off on once only or other our ours out over own
    please same she should so some such than that the their theirs them then there these
    they this those through to too under until up us very was we were what when where
    which while who whom why will with would you your yours"""
STOPWORDS = frozenset(_STOPWORDS.split())


def reply_text(event: InferenceEvent) -> str | None:
    """The model's own reply on a champion event, or None (not text, or not the model's)."""
    if event.route is not Route.CHAMPION or not isinstance(event.prediction, str):
        return None
    return event.prediction


def guardrail_hits(event: InferenceEvent) -> list[tuple[str, str]]:
    """(guardrail name, what it saw) for each output guardrail hit on a guarded event."""
    if event.route is not Route.GUARDED:
        return []
    hits = []
    for violation in event.violations:
        if violation.startswith("guardrail:"):
            name, _, seen = violation.removeprefix("guardrail:").partition(": ")
            hits.append((name, seen))
    return hits


def normalise(text: str) -> str:
    """Lower case, straight quotes, single spaces: what phrase lists are matched against."""
    return " ".join(text.translate(_QUOTES).lower().split())


def content_tokens(text: str) -> list[str]:
    """Lower-cased words that carry content: no stopwords, no single characters; a plural
    `s` is dropped from words over three letters, so "ships" meets "ship"."""
    tokens = []
    for word in _WORD.findall(text.lower()):
        if len(word) < 2 or word in STOPWORDS:
            continue
        tokens.append(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return tokens


def groundedness(reply: str, context: str) -> float | None:
    """Share of the reply's content tokens that occur in the context (1.0: every content
    word of the reply is in the context); None when the reply has no content words.

    A lexical proxy, not entailment: it cannot tell "ships in 3 days" from "never ships in 3
    days", but it drops sharply when a reply talks about what the context does not hold,
    which is what a hallucinating RAG app does, and it costs microseconds."""
    tokens = content_tokens(reply)
    if not tokens:
        return None
    supported = set(content_tokens(context))
    return sum(1 for t in tokens if t in supported) / len(tokens)


def word_count(text: str) -> int:
    return len(text.split())


class TextDetector(WindowedDetector[T]):
    """Base of the families that read LLM replies (string predictions)."""

    #: the traffic the family watches, for the contract suite's seeded streams
    traffic: ClassVar[str] = "text"
