"""Odd input never crashes the form: it is either a valid application or a Japanese 422."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.applications.form import MESSAGES, UNKNOWN_FIELD, ApplicationForm, field_errors
from pydantic import ValidationError

from tests.factories import application_body

KNOWN_MESSAGES = {m for messages in MESSAGES.values() for m in messages.values()} | {UNKNOWN_FIELD}
TEXT_FIELDS = ("name", "name_kana", "email", "phone", "postal_code", "address", "motivation")
INJECTIONS = [
    "' OR 1=1 --", "<script>alert(1)</script>", "=HYPERLINK(\"http://x\")", "{{7*7}}", "${jndi:ldap://x}",
    "\u202eevil", "a\x00b", "🙂" * 5, "👩‍👧‍👦", "ｱｲｳｴｵ", "０１２３", "\ufeff", " \u3000 ", "𠮷野家",
]


def validate(body: dict) -> ApplicationForm | list[dict[str, str]]:
    try:
        return ApplicationForm.model_validate(body)
    except ValidationError as exc:
        return field_errors(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(TEXT_FIELDS),
       value=st.one_of(st.text(max_size=900), st.sampled_from(INJECTIONS), st.integers(), st.none(),
                       st.lists(st.text(max_size=3), max_size=2)))
def test_any_value_gives_a_valid_form_or_japanese_field_errors(field, value):
    result = validate(application_body(**{field: value}))
    if isinstance(result, ApplicationForm):
        stored = getattr(result, field)
        assert isinstance(stored, str) and stored == stored.strip() and stored
        assert "\x00" not in stored and "\u202e" not in stored
        json.dumps(result.model_dump(), ensure_ascii=False)  # storable
    else:
        assert result, "a rejection names at least one field"
        assert all(error["message"] in KNOWN_MESSAGES for error in result)
        assert {error["field"].split(".")[0] for error in result} == {field}


@settings(max_examples=200, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=7, max_size=7),
       style=st.sampled_from(["plain", "hyphen", "fullwidth", "fullwidth-hyphen", "mark"]))
def test_postal_codes_in_any_common_style_normalise_to_nnn_nnnn(digits, style):
    raw = {"plain": digits, "hyphen": f"{digits[:3]}-{digits[3:]}",
           "fullwidth": unicodedata.normalize("NFKC", digits).translate(str.maketrans("0123456789", "０１２３４５６７８９")),
           "fullwidth-hyphen": f"{digits[:3]}－{digits[3:]}".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
           "mark": f"〒{digits[:3]}-{digits[3:]}"}[style]
    result = validate(application_body(postal_code=raw))
    assert isinstance(result, ApplicationForm)
    assert result.postal_code == f"{digits[:3]}-{digits[3:]}"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=1000))
def test_motivation_length_is_counted_in_code_points(text):
    result = validate(application_body(motivation=text))
    if isinstance(result, ApplicationForm):
        assert 0 < len(result.motivation) <= 800
    else:
        [error] = result
        assert error["field"] == "motivation"
        if len(unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()) <= 800:
            assert error["message"] == MESSAGES["motivation"]["required"]  # only blanks or invisible marks
        else:
            assert error["message"] in (MESSAGES["motivation"]["too_long"], MESSAGES["motivation"]["required"])


@settings(max_examples=100, deadline=None)
@given(extra=st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda k: k not in application_body()),
                             st.text(max_size=5), min_size=1, max_size=3))
def test_unknown_fields_are_always_refused(extra):
    result = validate({**application_body(), **extra})
    assert isinstance(result, list)
    assert {e["field"] for e in result} == set(extra)
    assert {e["message"] for e in result} == {UNKNOWN_FIELD}
