"""POST /applications: every answer the API gives a citizen's browser or another client."""

from __future__ import annotations

import json
import re
import threading

import boto3
import pytest

from chalicelib import services
from chalicelib.applications.form import parse_application
from chalicelib.errors import Conflict
from tests.factories import application_body
from tests.fixtures.app import sent_mails

JSON = {"Content-Type": "application/json"}


def post(api, body, headers=None):
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
    response = api.http.post("/applications", body=raw, headers={**JSON, **(headers or {})})
    return response.status_code, json.loads(response.body)


def stored_applications(settings, program_id="it-basics-2027-spring"):
    return services.application_store(settings).list_for_program(program_id)


def test_a_valid_application_is_stored_and_confirmed_by_mail(citizen_api, settings):
    status, body = post(citizen_api, application_body(email="hanako@example.jp"))
    assert status == 201
    assert set(body) == {"application_id", "receipt_number", "status"}
    assert body["status"] == "received"
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", body["receipt_number"])
    [stored] = stored_applications(settings)
    assert stored["application_id"] == body["application_id"]
    assert stored["name"] == "山田 花子"
    assert stored["phone"] == "09012345678"
    assert stored["children"] == [{"age": 3}, {"age": 6}]
    [mail] = sent_mails()
    assert mail["to"] == ["hanako@example.jp"]
    assert body["receipt_number"] in mail["subject"]
    assert "お申し込みを受け付けました" in mail["subject"]
    assert "山田 花子 様" in mail["body"]


def test_receipt_numbers_are_not_sequential(citizen_api):
    receipts = [post(citizen_api, application_body())[1]["receipt_number"] for _ in range(5)]
    assert len(set(receipts)) == 5
    assert len({r[:5] for r in receipts}) > 1


def test_full_width_digits_and_kana_are_normalised(citizen_api, settings):
    status, _ = post(citizen_api, application_body(
        phone="０９０－１２３４－５６７８", postal_code="〒６３０－０１０１", name_kana="ﾔﾏﾀﾞ　ハナコ"))
    assert status == 201
    [stored] = stored_applications(settings)
    assert (stored["phone"], stored["postal_code"], stored["name_kana"]) == ("09012345678", "630-0101", "ヤマダ ハナコ")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "氏名を入力してください"),
        ("name", "あ" * 51, "氏名は50文字以内で入力してください"),
        ("name_kana", "Yamada", "ふりがなは、ひらがなかカタカナで入力してください"),
        ("email", "hanako@", "メールアドレスの形式が正しくありません"),
        ("phone", "12345", "電話番号は0から始まる10桁か11桁の数字で入力してください"),
        ("postal_code", "630-01", "郵便番号は7桁の数字で入力してください"),
        ("address", "  ", "住所を入力してください"),
        ("lives_or_works_in_city", "yes", "市内にお住まいか、お勤めかを選んでください"),
        ("work_styles", [], "希望する働き方を1つ以上選んでください"),
        ("work_styles", ["office"], "希望する働き方を1つ以上選んでください"),
        ("pc_environment", "mac", "パソコンの環境を選んでください"),
        ("motivation", "あ" * 801, "志望動機は800文字以内で入力してください"),
        ("consent_privacy", False, "個人情報の取り扱いへの同意が必要です"),
        ("children", [{"age": 19}], "お子さんの年齢は0〜18の数字で入力してください"),
        ("children", [{"age": 1}] * 11, "お子さんの人数は10人までで入力してください"),
        ("childcare_requests", [{"session_id": "day9", "children": 1}], "この日程では託児を受け付けていません"),
        ("childcare_requests", [{"session_id": "day1", "children": 6}], "託児を希望するお子さんの人数を1〜5人で入力してください"),
        ("website", "http://spam.example", "送信できませんでした。ページを再読み込みして、もう一度お試しください"),
    ],
)
def test_each_invalid_field_gets_a_japanese_message(citizen_api, settings, field, value, message):
    status, body = post(citizen_api, application_body(**{field: value}))
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    fields = {e["field"].split(".")[0]: e["message"] for e in body["errors"]}
    assert fields == {field: message}
    assert stored_applications(settings) == []


def test_the_motivation_may_be_exactly_800_characters_counting_emoji_as_one(citizen_api):
    assert post(citizen_api, application_body(motivation="😀" * 800))[0] == 201


def test_missing_fields_are_all_reported(citizen_api):
    status, body = post(citizen_api, {"program_id": "it-basics-2027-spring"})
    assert status == 422
    assert {e["field"] for e in body["errors"]} >= {
        "name", "name_kana", "email", "phone", "postal_code", "address", "lives_or_works_in_city",
        "work_styles", "pc_environment", "motivation", "consent_privacy",
    }


def test_unknown_fields_are_refused(citizen_api):
    status, body = post(citizen_api, application_body(role="admin"))
    assert status == 422
    assert body["errors"] == [{"field": "role", "message": "この項目は受け付けていません"}]


def test_same_email_twice_for_one_program_is_a_conflict(citizen_api, settings):
    assert post(citizen_api, application_body(email="twice@example.jp"))[0] == 201
    status, body = post(citizen_api, application_body(email="Twice@Example.JP"))
    assert status == 409
    assert body["error"]["code"] == "duplicate_application"
    assert len(stored_applications(settings)) == 1


def test_unknown_program_is_404(citizen_api):
    status, body = post(citizen_api, application_body(program_id="no-such-course"))
    assert status == 404
    assert body["error"]["code"] == "program_not_found"


def test_a_closed_window_is_a_conflict(citizen_api, catalogue_file, settings, monkeypatch):
    data = json.loads(catalogue_file.read_text(encoding="utf-8"))
    data["programs"][0]["application_opens_at"] = "2020-01-01T00:00:00+09:00"
    data["programs"][0]["application_closes_at"] = "2020-02-01T00:00:00+09:00"
    closed = catalogue_file.with_name("closed.json")
    closed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("MANABI_PROGRAMS_FILE", str(closed))
    status, body = post(citizen_api, application_body())
    assert status == 409
    assert body["error"] == {"code": "application_window_closed", "message": "この講座の募集期間は終了しました。"}
    assert stored_applications(settings) == []


def test_a_body_over_16_kib_is_413(citizen_api):
    status, body = post(citizen_api, application_body(motivation="あ" * 6000))
    assert status == 413
    assert body["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(citizen_api, content_type):
    response = citizen_api.http.post("/applications", body="name=x", headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert json.loads(response.body)["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", b"\xff\xfe"])
def test_unreadable_bodies_get_a_clear_error(citizen_api, raw):
    status, body = post(citizen_api, raw)
    assert status in (400, 422)
    assert body["error"]["message"] == "送信内容を読み取れませんでした。"


def test_too_many_applications_from_one_client_are_429(citizen_api, monkeypatch):
    monkeypatch.setenv("MANABI_APPLY_RATE_LIMIT", "3")
    assert [post(citizen_api, application_body())[0] for _ in range(3)] == [201, 201, 201]
    response = citizen_api.http.post("/applications", body=json.dumps(application_body()), headers=JSON)
    assert response.status_code == 429
    assert json.loads(response.body)["error"]["code"] == "too_many_requests"
    assert int(response.headers["Retry-After"]) >= 1


def test_a_repeated_idempotency_key_returns_the_first_result(citizen_api, settings):
    body = application_body()
    first = post(citizen_api, body, {"Idempotency-Key": "form-0001-abcdef"})
    second = post(citizen_api, body, {"Idempotency-Key": "form-0001-abcdef"})
    assert first == second
    assert first[0] == 201
    assert len(stored_applications(settings)) == 1
    assert len(sent_mails()) == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(citizen_api, settings):
    assert post(citizen_api, application_body(), {"Idempotency-Key": "form-0002-abcdef"})[0] == 201
    status, body = post(citizen_api, application_body(), {"Idempotency-Key": "form-0002-abcdef"})
    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"
    assert len(stored_applications(settings)) == 1


def test_two_identical_submits_at_once_store_exactly_one(citizen_api, settings):
    body = application_body(email="race@example.jp")
    service = services.applications(settings)
    form = parse_application(body, service.program_for(body))
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def submit() -> None:
        barrier.wait()
        try:
            service.submit(form)
            outcomes.append("stored")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["duplicate_application"] * 5 + ["stored"]
    assert len(stored_applications(settings)) == 1


def test_a_failed_mail_never_loses_the_application_and_is_retried(citizen_api, settings):
    ses = boto3.client("ses")
    ses.delete_identity(Identity=settings.mail_sender)  # SES now rejects our sender
    status, body = post(citizen_api, application_body(email="later@example.jp"))
    assert status == 201
    assert sent_mails() == []
    listing = json.loads(citizen_api.http.get("/admin/programs/it-basics-2027-spring/applications").body)
    [application] = listing["applications"]
    assert application["receipt_number"] == body["receipt_number"]
    assert application["mail"] == [{"template": "received", "status": "pending", "attempts": 1,
                                    "last_error": "MessageRejected"}]

    ses.verify_email_identity(EmailAddress=settings.mail_sender)
    outbox = services.outbox(settings)
    outbox._clock = lambda: 10**10  # the retry is due
    assert outbox.deliver_due() == {"sent": 1, "pending": 0, "failed": 0, "claimed_elsewhere": 0}
    assert [m["to"] for m in sent_mails()] == [["later@example.jp"]]
    assert outbox.deliver_due()["sent"] == 0  # sent once only
