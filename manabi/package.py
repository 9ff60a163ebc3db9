"""``manabi package OUT``: everything CloudFormation needs to deploy the API.

Writes the DynamoDB tables as a template to merge (from the same definitions
the app and the tests use), puts the compiled contract artifacts into the
Lambda package, and runs ``chalice package``. Nothing is deployed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = REPO_ROOT / "functions"
PACKAGED_ABI_DIR = FUNCTIONS_DIR / "chalicelib" / "contracts_abi"


def stage_environment(stage: str) -> dict[str, str]:
    config = json.loads((FUNCTIONS_DIR / ".chalice" / "config.json").read_text(encoding="utf-8"))
    if stage not in config["stages"]:
        raise SystemExit(f"no stage {stage!r} in functions/.chalice/config.json")
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def tables_template(stage: str) -> dict[str, object]:
    from chalicelib.config import Settings
    from chalicelib.tables import cloudformation_resources

    env = stage_environment(stage)
    settings = Settings(stage=stage, table_prefix=env["MANABI_TABLE_PREFIX"], rpc_url=env.get("MANABI_RPC_URL", ""))
    return {"Resources": cloudformation_resources(settings)}


def package(out: Path, stage: str = "prod") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    merge = out.parent / f"{out.name}-tables.json"
    merge.write_text(json.dumps(tables_template(stage), indent=2, ensure_ascii=False), encoding="utf-8")
    if PACKAGED_ABI_DIR.exists():
        shutil.rmtree(PACKAGED_ABI_DIR)
    shutil.copytree(REPO_ROOT / "contracts_abi", PACKAGED_ABI_DIR)
    try:
        subprocess.run(
            [str(Path(sys.executable).with_name("chalice")), "--project-dir", str(FUNCTIONS_DIR), "package",
             "--stage", stage, "--merge-template", str(merge), str(out)],
            check=True, env={**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "ap-northeast-1")},
        )
    finally:
        shutil.rmtree(PACKAGED_ABI_DIR, ignore_errors=True)
    return out
