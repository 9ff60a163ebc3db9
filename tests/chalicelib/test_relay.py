"""A call the contract would refuse is a 409 naming the contract's error, and nothing is sent."""

from __future__ import annotations

import pytest

from chalicelib.chain.contracts import contract
from chalicelib.errors import Conflict
from chalicelib.relay import send_checked


def test_a_refused_call_names_the_contract_error(w3, operator_deployment, operator_sender, tx_store):
    anchor = contract(w3, "LearningRecordAnchor", operator_deployment.anchor)
    data = anchor.encode_abi("anchor", args=[b"\x42" * 32, 1, "x"])
    assert operator_sender.wait(send_checked(operator_sender, purpose="a", to=anchor.address, data=data).tx_id)
    before = tx_store.next_nonce(operator_sender.address)
    with pytest.raises(Conflict) as caught:
        send_checked(operator_sender, purpose="again", to=anchor.address, data=data)
    assert caught.value.code == "contract_refused"
    assert caught.value.details["reason"] == "LearningRecordAnchorAlreadyAnchored"
    assert tx_store.next_nonce(operator_sender.address) == before
