"""Strategies that take a real message and break it the way senders do: fields dropped, nulled, of the
wrong type, huge, in unexpected scripts, or with characters databases refuse (NUL, lone surrogates)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"

HUGE = 20_000
awkward_text = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "null", "0", "-1", "1e309", "NaN", "\u202e", "𝕬"]),
    st.builds(lambda c: c * HUGE, st.sampled_from(["x", "é", "\u0000", "🙂"])),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    awkward_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def load_json(*parts: str) -> Any:
    return json.loads(EXAMPLES.joinpath(*parts).read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


@st.composite
def mutated_json(draw: st.DrawFn, document: Any, max_mutations: int = 4) -> Any:
    """``document`` with one to ``max_mutations`` edits at places drawn from its own tree."""
    result = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(_paths(result))
        if not paths:
            break
        *parent_path, key = draw(st.sampled_from(paths))
        parent = result
        for step in parent_path:
            parent = parent[step]
        action = draw(st.sampled_from(["drop", "null", "replace", "text", "wrap", "empty"]))
        if action == "drop":
            del parent[key]
        elif action == "null":
            parent[key] = None
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "text":
            parent[key] = draw(awkward_text)
        elif action == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else {"value": parent[key]}
        else:
            parent[key] = type(parent[key])() if isinstance(parent[key], (dict, list, str)) else 0
    return result


def json_bytes(document_strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """As a sender would put it on the wire: JSON escapes (lone surrogates stay ``\\udXXX`` escapes)."""
    return document_strategy.map(lambda document: json.dumps(document).encode())


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """Byte-level damage: truncated, a slice cut out, random bytes spliced in, or a wrong encoding."""
    action = draw(st.sampled_from(["truncate", "cut", "splice", "latin1", "bom"]))
    at = draw(st.integers(0, len(raw)))
    if action == "truncate":
        return raw[:at]
    if action == "cut":
        return raw[:at] + raw[at + draw(st.integers(1, 40)) :]
    if action == "splice":
        return raw[:at] + draw(st.binary(min_size=1, max_size=20)) + raw[at:]
    if action == "latin1":
        return raw.decode("utf-8").encode("latin-1", errors="replace")
    return b"\xef\xbb\xbf" + raw


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a parsed result (pydantic models dumped first), keys included."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from strings_in(key)
            yield from strings_in(child)
    elif isinstance(value, (list, tuple)):
        for child in value:
            yield from strings_in(child)
