"""LearningRecordAnchor: anchoring Merkle roots of learning-record hashes."""

from __future__ import annotations

from eth_utils import keccak

from tests.fixtures.chain import events, next_timestamp, reverts, transact

ROOT = keccak(text="merkle-root-of-record-hashes-2024-07")
URI = "s3://manabi-records/manifests/2024-07.json"


def test_constructor_sets_roles(anchor, accounts):
    assert anchor.functions.RECORDER_ROLE().call() == keccak(text="RECORDER_ROLE")
    assert anchor.functions.hasRole(anchor.functions.DEFAULT_ADMIN_ROLE().call(), accounts.deployer).call()
    assert anchor.functions.hasRole(anchor.functions.RECORDER_ROLE().call(), accounts.operator).call()


def test_anchor_records_the_timestamp_and_emits_records_anchored(w3, anchor, accounts):
    assert anchor.functions.anchoredAt(ROOT).call() == 0
    now = next_timestamp(w3)
    receipt = transact(anchor.functions.anchor(ROOT, 36, URI), accounts.operator)
    assert anchor.functions.anchoredAt(ROOT).call() == now
    assert events(anchor, "RecordsAnchored", receipt) == [
        {"root": ROOT, "count": 36, "uri": URI, "anchoredAt": now}
    ]


def test_anchor_accepts_an_empty_uri(anchor, accounts):
    receipt = transact(anchor.functions.anchor(ROOT, 1, ""), accounts.operator)
    assert events(anchor, "RecordsAnchored", receipt)[0]["uri"] == ""


def test_anchor_rejects_a_root_anchored_before(w3, anchor, accounts):
    first = next_timestamp(w3)
    transact(anchor.functions.anchor(ROOT, 3, URI), accounts.operator)
    with reverts("LearningRecordAnchorAlreadyAnchored", ROOT, first):
        anchor.functions.anchor(ROOT, 4, "other").transact({"from": accounts.operator})
    assert anchor.functions.anchoredAt(ROOT).call() == first


def test_anchor_rejects_zero_root_and_zero_count(anchor, accounts):
    with reverts("LearningRecordAnchorInvalidRoot"):
        anchor.functions.anchor(b"\x00" * 32, 3, URI).transact({"from": accounts.operator})
    with reverts("LearningRecordAnchorInvalidCount"):
        anchor.functions.anchor(ROOT, 0, URI).transact({"from": accounts.operator})
    assert anchor.functions.anchoredAt(ROOT).call() == 0


def test_anchor_requires_recorder_role(anchor, accounts):
    role = anchor.functions.RECORDER_ROLE().call()
    for caller in (accounts.deployer, accounts.talent):
        with reverts("AccessControlUnauthorizedAccount", caller, role):
            anchor.functions.anchor(ROOT, 1, URI).transact({"from": caller})
