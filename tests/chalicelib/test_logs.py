"""Logs carry codes and ids, never the personal data of an application."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from chalicelib.logs import configure_logging
from tests.factories import application_body


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        self.lines.append(LambdaPowertoolsFormatter(service="test").format(record))


@pytest.fixture
def logs():
    configure_logging()
    handler = Collect()
    logging.getLogger("manabi").addHandler(handler)
    yield handler.lines
    logging.getLogger("manabi").removeHandler(handler)


def test_failures_are_logged_without_personal_data(citizen_api, settings, logs, monkeypatch):
    body = application_body(name="秘密 花子", email="secret.person@example.jp", phone="090-9999-8888",
                            address="奈良県ひみつ町9-9-9")
    boto3.client("ses").delete_identity(Identity=settings.mail_sender)  # the mail fails: a warning is logged
    response = citizen_api.http.post("/applications", body=json.dumps(body, ensure_ascii=False),
                                     headers={"Content-Type": "application/json"})
    assert response.status_code == 201

    def explode(*args, **kwargs):
        raise KeyError(body["email"])  # an unexpected error whose message holds data

    from chalicelib import services

    monkeypatch.setattr(services.ApplicationService, "list", explode)
    assert citizen_api.http.get("/admin/programs/it-basics-2027-spring/applications").status_code == 500

    text = "\n".join(logs)
    assert "mail not sent" in text and "unexpected error" in text and "KeyError" in text
    for secret in ("秘密", "secret.person", "09099998888", "090-9999-8888", "ひみつ町"):
        assert secret not in text
    assert all(json.loads(line)["level"] for line in logs)  # structured JSON lines
