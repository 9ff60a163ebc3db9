"""Routes that don't touch the chain must not pay web3's import cost on a cold Lambda."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"


def test_importing_the_api_handler_loads_no_chain_library():
    probe = "import sys, app; print(','.join(m for m in ('web3', 'eth_account', 'eth_abi', 'eth_tester', 'moto') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=FUNCTIONS_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_citizen_routes_need_no_chain_library():
    probe = (
        "import os, sys, json, app\n"
        "os.environ.update(AWS_ACCESS_KEY_ID='x', AWS_SECRET_ACCESS_KEY='x', AWS_DEFAULT_REGION='ap-northeast-1')\n"
        "from chalice.test import Client; from moto import mock_aws\n"
        "from chalicelib import tables; from chalicelib.config import Settings\n"
        "with mock_aws():\n"
        "    tables.create_all(Settings.from_env())\n"
        "    with Client(app.app) as c:\n"
        "        assert c.http.get('/programs').status_code == 200\n"
        "        r = c.http.post('/applications', body='{}', headers={'Content-Type': 'application/json'})\n"
        "        assert r.status_code == 422, r.status_code\n"
        "print(','.join(m for m in ('web3', 'eth_account') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=FUNCTIONS_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
