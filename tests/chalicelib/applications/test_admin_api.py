"""Staff routes: the list, the Excel export, status changes, capacity and talent profiles."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.factories import application_body

JSON = {"Content-Type": "application/json"}
PROGRAM = "it-basics-2027-spring"


def submit(api, **overrides):
    response = api.http.post("/applications", body=json.dumps(application_body(**overrides)), headers=JSON)
    assert response.status_code == 201, response.body
    return json.loads(response.body)


def test_the_export_opens_in_excel_with_japanese_headers_and_no_formulas(citizen_api):
    receipt = submit(citizen_api, name="=HYPERLINK(\"http://evil\")", motivation="+1 電話してください\n2行目")[
        "receipt_number"]
    response = citizen_api.http.get(f"/admin/programs/{PROGRAM}/applications/export")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.body if isinstance(response.body, str) else response.body.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0][:4] == ["受付番号", "受付日時", "状態", "補欠順位"]
    [row] = [r for r in rows[1:] if r[0] == receipt]
    assert row[2] == "受付済み"
    assert row[4] == "'=HYPERLINK(\"http://evil\")"
    assert row[16].startswith("'+1 電話してください")
    assert "received:送信済み" in row[17]


def test_staff_change_a_status_and_bad_changes_are_refused(citizen_api):
    application_id = submit(citizen_api)["application_id"]

    def patch(status):
        response = citizen_api.http.patch(f"/admin/applications/{application_id}", body=json.dumps({"status": status}),
                                          headers=JSON)
        return response.status_code, json.loads(response.body)

    assert patch("selected")[1]["error"]["code"] == "invalid_status"  # only the lottery selects
    assert patch("withdrawn") == (200, {"application_id": application_id, "status": "withdrawn"})
    status, body = patch("ineligible")
    assert (status, body["error"]["code"]) == (409, "status_conflict")
    response = citizen_api.http.patch("/admin/applications/app_nope", body=json.dumps({"status": "withdrawn"}),
                                      headers=JSON)
    assert response.status_code == 404


@pytest.mark.parametrize("capacity", [0, -3, "36", 1.5, True, None])
def test_capacity_must_be_a_positive_integer(citizen_api, capacity):
    response = citizen_api.http.put(f"/admin/programs/{PROGRAM}/capacity", body=json.dumps({"capacity": capacity}),
                                    headers=JSON)
    assert response.status_code == 422
    assert json.loads(response.body)["errors"] == [{"field": "capacity", "message": "定員は1以上の整数で入力してください"}]


def test_raised_capacity_shows_in_the_programme_list(citizen_api):
    response = citizen_api.http.put(f"/admin/programs/{PROGRAM}/capacity", body=json.dumps({"capacity": 36}),
                                    headers=JSON)
    assert response.status_code == 200
    programs = json.loads(citizen_api.http.get("/programs").body)["programs"]
    assert [p["capacity"] for p in programs if p["id"] == PROGRAM] == [36]


def test_a_talent_profile_shares_only_a_nickname_and_introduction(citizen_api):
    application_id = submit(citizen_api)["application_id"]

    def put(body):
        response = citizen_api.http.put(f"/admin/applications/{application_id}/profile", body=json.dumps(body),
                                        headers=JSON)
        return response.status_code, json.loads(response.body)

    assert put({"nickname": "はなこ", "introduction": "よろしくお願いします", "share": True})[0] == 200
    status, body = put({"nickname": "", "share": True, "email": "x@example.jp"})
    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"nickname", "email"}


def test_the_list_hides_guard_items(citizen_api):
    submit(citizen_api)
    applications = json.loads(citizen_api.http.get(f"/admin/programs/{PROGRAM}/applications").body)["applications"]
    assert len(applications) == 1
    assert not any(a["application_id"].startswith("guard#") for a in applications)


def test_a_talent_may_give_their_own_wallet_for_the_lending(citizen_api, settings):
    from chalicelib import services

    application_id = submit(citizen_api)["application_id"]
    wallet = "0x" + "ab" * 20
    response = citizen_api.http.put(f"/admin/applications/{application_id}/profile", headers=JSON,
                                    body=json.dumps({"nickname": "ゆう", "share": True, "wallet_address": wallet}))
    assert response.status_code == 200
    stored = services.application_store(settings).get(application_id)
    assert stored["talent_address"] == "0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB"
    assert "wallet_address" not in stored["talent_profile"]
    bad = citizen_api.http.put(f"/admin/applications/{application_id}/profile", headers=JSON,
                               body=json.dumps({"nickname": "ゆう", "share": True, "wallet_address": "0x12"}))
    assert bad.status_code == 422
