"""The API wiring: health, programmes, transaction status, error shape."""

from __future__ import annotations

import json

from chalicelib.chain.contracts import contract


def test_health_reports_chain_contracts_and_operator(api, w3, operator_deployment, kms_signer):
    response = api.http.get("/health")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["status"] == "ok"
    assert body["chain_id"] == w3.eth.chain_id
    assert body["contracts"] == {
        "jpyc": operator_deployment.jpyc,
        "rights": operator_deployment.rights,
        "distributor": operator_deployment.distributor,
        "anchor": operator_deployment.anchor,
    }
    assert body["operator"]["address"] == kms_signer.address
    assert int(body["operator"]["balance_wei"]) == w3.eth.get_balance(kms_signer.address)


def test_health_refuses_a_chain_it_is_not_configured_for(api, monkeypatch, w3):
    monkeypatch.setenv("MANABI_CHAIN_ID", str(w3.eth.chain_id + 1))
    response = api.http.get("/health")
    assert response.status_code == 502
    assert json.loads(response.body)["error"]["code"] == "wrong_chain"


def test_transaction_status_follows_the_ledger(api, w3, operator_deployment, operator_sender):
    anchor = contract(w3, "LearningRecordAnchor", operator_deployment.anchor)
    data = anchor.encode_abi("anchor", args=[b"\x01" * 32, 1, "ipfs://x"])
    record = operator_sender.send(purpose="anchor", to=operator_deployment.anchor, data=data)
    response = api.http.get(f"/transactions/{record.tx_id}")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert body["status"] == "confirmed"
    assert body["tx_hash"] == record.tx_hash
    assert body["block_number"] == w3.eth.get_transaction_receipt(record.tx_hash)["blockNumber"]


def test_unknown_transaction_is_a_structured_404(api):
    response = api.http.get("/transactions/tx_doesnotexist")
    assert response.status_code == 404
    assert json.loads(response.body) == {
        "error": {"code": "transaction_not_found", "message": "no such transaction"}
    }
    assert response.headers["Content-Type"].startswith("application/json")


def test_programs_come_from_the_catalogue(api):
    from chalicelib.programs import load_catalogue

    body = json.loads(api.http.get("/programs").body)
    catalogue = load_catalogue()
    assert [p["id"] for p in body["programs"]] == [p.id for p in catalogue.programs]
    first = body["programs"][0]
    assert first["capacity"] == catalogue.programs[0].capacity
    assert [s["id"] for s in first["sessions"]] == [s.id for s in catalogue.programs[0].sessions]


def test_scheduled_relayer_tick_finishes_open_transactions(api, w3, operator_deployment, operator_sender, tx_store):
    from chalicelib.chain.transactions import TxIntent

    anchor = contract(w3, "LearningRecordAnchor", operator_deployment.anchor)
    data = anchor.encode_abi("anchor", args=[b"\x02" * 32, 1, "ipfs://y"])
    gas = operator_sender.estimate_gas(to=operator_deployment.anchor, data=data)
    record = tx_store.record_intent(
        operator_sender.address, TxIntent(purpose="anchor", to=operator_deployment.anchor, data=data, gas=gas),
        chain_id=w3.eth.chain_id, chain_nonce=0,
    )
    result = api.lambda_.invoke("relayer-tick", api.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert result.payload["broadcast"] == 1 and result.payload["confirmed"] == 1
    assert result.payload["failed"] == 0 and result.payload["waiting"] == 0
    assert result.payload["gas_low"] is False  # the operator has 10 ETH, the floor is 5
    assert tx_store.get(record.tx_id).status == "confirmed"


def test_program_rights_read_the_chain(api, w3, operator_deployment, operator_sender):
    from chalicelib.programs import load_catalogue
    from manabi.demo import create_programs_on_chain

    program = load_catalogue().programs[0]
    missing = api.http.get(f"/programs/{program.id}/rights")
    assert missing.status_code == 404
    assert json.loads(missing.body)["error"]["code"] == "program_not_on_chain"

    create_programs_on_chain(w3, operator_deployment, w3.eth.accounts[1])
    body = json.loads(api.http.get(f"/programs/{program.id}/rights").body)
    assert body["price_base_units"] == str(program.price_base_units)
    assert body["minted"] == 0
    assert body["treasury"] == w3.eth.accounts[1]
    assert body["max_lending_seconds"] == program.lending_days * 86_400


def test_unknown_program_is_a_japanese_404(api):
    response = api.http.get("/programs/no-such-course/rights")
    assert response.status_code == 404
    assert json.loads(response.body)["error"] == {
        "code": "program_not_found", "message": "指定された講座は見つかりません。"
    }


def test_the_tick_warns_when_the_operator_runs_low_on_gas(api, monkeypatch):
    monkeypatch.setenv("MANABI_MIN_OPERATOR_BALANCE_WEI", str(1000 * 10**18))
    result = api.lambda_.invoke("relayer-tick", api.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    assert result.payload["gas_low"] is True
