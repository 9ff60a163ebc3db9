"""The application form follows the Digital Agency / GOV.UK rules and sends what the API takes."""

from __future__ import annotations

import re

import pytest

from tests.site.conftest import REPO, BuiltSite
from tests.site.htmlscan import Element

CONTROLS = ("input", "select", "textarea")
APPLY_JS = (REPO / "site" / "javascripts" / "apply.js").read_text(encoding="utf-8")
FORM_CSS = (REPO / "site" / "stylesheets" / "form.css").read_text(encoding="utf-8")

# (field, kind) -> the exact message, as the brief and the API define it
MESSAGES = {
    ("program_id", "required"): "講座を選んでください",
    ("name", "required"): "氏名を入力してください",
    ("name", "too_long"): "氏名は50文字以内で入力してください",
    ("name_kana", "required"): "ふりがなを入力してください",
    ("name_kana", "invalid"): "ふりがなは、ひらがなかカタカナで入力してください",
    ("email", "required"): "メールアドレスを入力してください",
    ("email", "invalid"): "メールアドレスの形式が正しくありません",
    ("phone", "required"): "電話番号を入力してください",
    ("phone", "invalid"): "電話番号は0から始まる10桁か11桁の数字で入力してください",
    ("postal_code", "required"): "郵便番号を入力してください",
    ("postal_code", "invalid"): "郵便番号は7桁の数字で入力してください",
    ("address", "required"): "住所を入力してください",
    ("lives_or_works_in_city", "required"): "市内にお住まいか、お勤めかを選んでください",
    ("work_styles", "required"): "希望する働き方を1つ以上選んでください",
    ("pc_environment", "required"): "パソコンの環境を選んでください",
    ("motivation", "required"): "志望動機を入力してください",
    ("motivation", "too_long"): "志望動機は800文字以内で入力してください",
    ("consent_privacy", "required"): "個人情報の取り扱いへの同意が必要です",
}
EMAIL_MISMATCH = "確認用のメールアドレスが一致しません"  # client-only: the confirmation is never sent


@pytest.fixture(scope="module")
def page(site: BuiltSite) -> Element:
    return site.page("apply/")


@pytest.fixture(scope="module")
def form(page: Element) -> Element:
    found = page.by_id("apply-form")
    assert found is not None and found.tag == "form"
    return found


def controls(form: Element) -> list[Element]:
    return [c for c in form.find_all(*CONTROLS) if c.get("type") not in ("submit", "button", "hidden")]


def test_form_uses_its_own_messages(form: Element) -> None:
    assert "novalidate" in form.attrs
    assert (form.get("method") or "").lower() == "post"  # never put answers in a URL


def test_every_control_has_a_label(form: Element) -> None:
    labels = {label.get("for") for label in form.find_all("label")}
    for control in controls(form):
        assert control.get("id"), control.attrs
        assert control.get("id") in labels, f"no <label for> for #{control.get('id')}"


def test_radios_and_checkboxes_are_grouped_in_fieldsets_with_legends(form: Element) -> None:
    for control in form.find_all("input"):
        if control.get("type") not in ("radio", "checkbox"):
            continue
        fieldset = control.closest("fieldset")
        assert fieldset is not None, control.get("id")
        legend = fieldset.find("legend")
        assert legend is not None and legend.text.strip(), control.get("id")


def test_no_placeholder_disabled_or_readonly(page: Element) -> None:
    content = page.find("article")
    for element in content.iter():
        for attribute in ("placeholder", "disabled", "readonly"):
            assert attribute not in element.attrs, f"{element.tag}#{element.get('id')} has {attribute}"


def test_aria_describedby_points_at_existing_elements(page: Element) -> None:
    described = [e for e in page.iter() if e.get("aria-describedby")]
    assert len(described) > 20
    for element in described:
        for target in (element.get("aria-describedby") or "").split():
            assert page.by_id(target) is not None, f"{element.get('id')}: missing #{target}"


def test_each_field_has_one_inline_error_linked_to_its_control(form: Element) -> None:
    fields = form.find_all(class_="apply-field")
    assert len(fields) > 10
    for field in fields:
        own_errors = [e for e in field.find_all(class_="apply-error") if e.closest(class_="apply-field") is field]
        assert len(own_errors) == 1, field.get("data-field")
        error = own_errors[0]
        assert "hidden" in error.attrs and error.get("id")
        # described by the error: the group's fieldset, or the field's own control
        describers = [field.find("fieldset")] + [
            c for c in field.find_all(*CONTROLS) if c.closest(class_="apply-field") is field
        ]
        assert any(
            d is not None and error.get("id") in (d.get("aria-describedby") or "").split() for d in describers
        ), field.get("data-field")


def test_error_summary_is_ready_at_the_top(page: Element, form: Element) -> None:
    summary = page.by_id("apply-summary")
    assert summary is not None
    assert summary.get("role") == "alert" and summary.get("tabindex") == "-1" and "hidden" in summary.attrs
    heading = page.by_id(summary.get("aria-labelledby"))
    assert heading.tag == "h2" and heading.text.strip() == "入力内容を確認してください"
    assert summary.find("ul") is not None
    elements = list(page.iter())
    assert elements.index(summary) < elements.index(form)


def test_honeypot_is_hidden_from_people_and_assistive_technology(form: Element) -> None:
    trap = form.by_id("website")
    assert trap is not None and trap.get("name") == "website" and trap.get("type") == "text"
    assert trap.get("tabindex") == "-1" and trap.get("autocomplete") == "off"
    wrapper = trap.closest(class_="apply-hp")
    assert wrapper is not None and wrapper.get("aria-hidden") == "true"
    assert re.search(r"\.apply-hp\s*\{[^}]*left:\s*-10000px", FORM_CSS)


def test_autocomplete_and_input_types(form: Element) -> None:
    expected = {
        "name": ("text", "name"),
        "email": ("email", "email"),
        "phone": ("tel", "tel"),
        "postal-code": ("text", "postal-code"),
    }
    for control_id, (kind, autocomplete) in expected.items():
        control = form.by_id(control_id)
        assert (control.get("type"), control.get("autocomplete")) == (kind, autocomplete), control_id
    assert form.by_id("postal-code").get("inputmode") == "numeric"
    address = form.by_id("address")
    assert address.tag == "textarea" and address.get("autocomplete") == "street-address"


def test_controls_carry_the_api_field_names(form: Element) -> None:
    names = {c.get("name") for c in controls(form)}
    api_fields = {
        "program_id", "name", "name_kana", "email", "phone", "postal_code", "address",
        "lives_or_works_in_city", "work_styles", "pc_environment", "motivation", "consent_privacy", "website",
    }  # fmt: skip
    assert api_fields <= names

    def values(name: str) -> set[str]:
        return {c.get("value") for c in form.find_all("input", name=name)}

    assert values("work_styles") == {"in_city", "near_city", "telework"}
    assert values("pc_environment") == {"own", "shared", "none"}
    assert values("lives_or_works_in_city") == {"true", "false"}


def test_children_are_asked_as_a_count_then_one_age_each(form: Element) -> None:
    count = form.by_id("children-count")
    assert [o.get("value") for o in count.find_all("option")] == [""] + [str(n) for n in range(1, 11)]
    for n in range(1, 11):
        age = form.by_id(f"child-age-{n}")
        assert [o.get("value") for o in age.find_all("option")] == [""] + [str(a) for a in range(19)]
        assert "hidden" in age.closest(class_="apply-field").attrs


def test_childcare_is_asked_for_each_session_that_offers_it(form: Element, catalogue_data) -> None:
    program = catalogue_data["programs"][0]
    for session in program["sessions"]:
        select = form.by_id(f"childcare-{program['id']}-{session['id']}")
        if not session["childcare"]:
            assert select is None
            continue
        assert select.get("data-session") == session["id"]
        assert [o.get("value") for o in select.find_all("option")] == ["", "1", "2", "3", "4", "5"]


def test_consent_links_to_the_privacy_page(form: Element) -> None:
    hint = form.by_id("consent-privacy-hint")
    link = hint.find("a")
    assert link.get("href") == "../privacy/" and link.get("target") == "_blank"
    assert "新しいタブ" in link.text


def test_success_panel_is_ready(page: Element) -> None:
    done = page.by_id("apply-done")
    assert "hidden" in done.attrs and done.get("tabindex") == "-1"
    assert page.by_id("apply-receipt-number") is not None
    assert page.by_id("apply-copy").tag == "button"


@pytest.mark.parametrize("message", [*MESSAGES.values(), EMAIL_MISMATCH])
def test_script_uses_the_exact_messages(message: str) -> None:
    assert f'"{message}"' in APPLY_JS


def test_messages_agree_with_the_api() -> None:
    from chalicelib.applications.form import MESSAGES as API_MESSAGES

    for (field, kind), message in MESSAGES.items():
        assert API_MESSAGES[field][kind] == message, (field, kind)
    # messages the script adds beyond the brief's list must be the API's too
    for field, kind in (("name_kana", "too_long"), ("address", "too_long")):
        assert f'"{API_MESSAGES[field][kind]}"' in APPLY_JS


def test_script_sends_json_with_an_idempotency_key() -> None:
    assert '"/applications"' in APPLY_JS
    assert '"Idempotency-Key": key' in APPLY_JS
    assert '"Content-Type": "application/json"' in APPLY_JS
    assert 'meta[name="manabi-api-base"]' in APPLY_JS
    assert ".disabled" not in APPLY_JS and "setAttribute(\"disabled\"" not in APPLY_JS
