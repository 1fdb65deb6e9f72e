"""``personal.http.form_encode`` encodes exactly as ``urllib.parse.urlencode``."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from zalogate.personal.http import form_encode

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(st.lists(st.tuples(_text, _text), max_size=5))
def test_form_encode_matches_urlencode_and_round_trips(pairs: list[tuple[str, str]]) -> None:
    encoded = form_encode(pairs)
    assert encoded == urlencode(pairs)
    assert parse_qsl(encoded, keep_blank_values=True) == pairs


def test_base64_params_are_escaped() -> None:
    assert form_encode([("params", "a+b/c=")]) == "params=a%2Bb%2Fc%3D"
