"""Deployment packaging: the SAM template and Lambda zip CloudFormation deploys."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from chalicelib.tables import ALL_TABLES

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "prod"
    subprocess.run([str(Path(sys.executable).with_name("manabi")), "package", str(out)], check=True, cwd=REPO_ROOT,
                   capture_output=True)
    return out


def test_the_template_has_every_table_and_schedule(packaged: Path) -> None:
    resources = json.loads((packaged / "sam.json").read_text())["Resources"]
    tables = {r["Properties"]["TableName"]: r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert set(tables) == {f"manabi-prod-{spec.logical_name}" for spec in ALL_TABLES}
    for table in tables.values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    schedules = {name for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {"MailRetry", "RelayerTick", "APIHandler"} <= schedules


def test_the_zip_carries_the_contract_artifacts_and_the_catalogue(packaged: Path) -> None:
    with zipfile.ZipFile(packaged / "deployment.zip") as archive:
        names = set(archive.namelist())
        for artifact in (REPO_ROOT / "contracts_abi").glob("*.json"):
            assert archive.read(f"chalicelib/contracts_abi/{artifact.name}") == artifact.read_bytes()
        assert "chalicelib/data/programs.json" in names
        assert "app.py" in names
        # boto3 comes with the Lambda runtime; the Chalice CLI is not needed there.
        assert not any(name.startswith(("botocore/", "pip/", "chalice/cli/")) for name in names)
    assert not (REPO_ROOT / "functions/chalicelib/contracts_abi").exists()


def test_lambda_requirements_match_the_project_dependencies() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lambda_reqs = [line for line in (REPO_ROOT / "functions/requirements.txt").read_text().splitlines()
                   if line and not line.startswith("#")]

    def name(requirement: str) -> str:
        return re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0].lower()

    expected = {re.sub(r"\s*#.*", "", r).replace(" ", "") for r in project if name(r) not in ("boto3", "chalice")}
    assert set(lambda_reqs) == expected
