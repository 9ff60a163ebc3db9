"""The city as sponsor of last resort: every waiting talent gets a right, within the budget, once."""

from __future__ import annotations

import json

from eth_account import Account

from chalicelib import services
from chalicelib.applications.form import parse_application
from chalicelib.chain.contracts import contract
from chalicelib.programs import cached_catalogue
from tests.factories import application_body

PROGRAM_ID = "it-basics-2027-spring"


def selected_talents(settings, count):
    service = services.applications(settings)
    store = services.application_store(settings)
    talents = []
    for _ in range(count):
        body = application_body()
        application_id = service.submit(parse_application(body, service.program_for(body)))["application_id"]
        store.update_status(application_id, expected=("received",), status="selected",
                            fields={"talent_address": Account.create().address})
        talents.append(store.get(application_id))
    return talents


def sponsor_remaining(api, budget_jpyc):
    response = api.http.post(f"/admin/programs/{PROGRAM_ID}/sponsor-remaining",
                             body=json.dumps({"budget_jpyc": budget_jpyc}), headers={"Content-Type": "application/json"})
    return response.status_code, json.loads(response.body)


def test_the_city_sponsors_waiting_talents_within_its_budget_and_only_once(sponsor_api, settings, w3,
                                                                          operator_deployment, operator_sender):
    talents = selected_talents(settings, 3)
    price_jpyc = cached_catalogue().program(PROGRAM_ID).price_yen
    status, report = sponsor_remaining(sponsor_api, 2 * price_jpyc + 1)
    assert status == 200, report
    assert len(report["sponsored"]) == 2
    assert report["still_waiting"] == 1
    assert report["spent_base_units"] == str(2 * price_jpyc * 10**18)
    rights = contract(w3, "ReskillingRights", operator_deployment.rights)
    for entry in report["sponsored"]:
        assert operator_sender.wait(entry["tx_id"]).status == "confirmed"
        assert rights.functions.userOf(entry["token_id"]).call() == entry["talent_id"]
        assert rights.functions.ownerOf(entry["token_id"]).call() == operator_sender.address

    # Running it again with more budget sponsors only the one still waiting, and mints once.
    status, again = sponsor_remaining(sponsor_api, 10 * price_jpyc)
    assert [e["talent_id"] for e in again["sponsored"]] == [
        t["talent_address"] for t in talents if t["talent_address"] not in {e["talent_id"] for e in report["sponsored"]}]
    assert again["spent_base_units"] == str(price_jpyc * 10**18)
    assert again["still_waiting"] == 0
    status, third = sponsor_remaining(sponsor_api, 10 * price_jpyc)
    assert third["sponsored"] == [] and third["spent_base_units"] == "0"
    assert rights.functions.program(1).call()[2] == 3  # minted


def test_a_negative_budget_is_refused(sponsor_api):
    status, body = sponsor_remaining(sponsor_api, -1)
    assert (status, body["error"]["code"]) == (422, "invalid_budget")
