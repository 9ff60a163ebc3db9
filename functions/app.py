"""Manabi Relay API: routes and scheduled jobs, wired to ``chalicelib``.

Routes parse, make one call into the domain, and shape the response. Nothing
here imports web3: routes that touch the chain import it lazily through
``chalicelib.chain`` so that the rest start fast on a cold Lambda.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, Rate

from chalicelib.config import Settings
from chalicelib.http import handled, json_response

app = Chalice(app_name="manabi-relay")
app.log.setLevel("INFO")


def settings() -> Settings:
    return Settings.from_env()


@app.route("/health", methods=["GET"])
@handled
def health() -> Any:
    from chalicelib.health import chain_health

    return json_response(chain_health(settings()))


@app.route("/programs", methods=["GET"])
@handled
def list_programs() -> Any:
    from chalicelib.programs import cached_catalogue, public_programs

    return json_response({"programs": public_programs(cached_catalogue())})


@app.route("/programs/{program_id}/rights", methods=["GET"])
@handled
def program_rights(program_id: str) -> Any:
    from chalicelib.chain.contracts import contract
    from chalicelib.chain.provider import web3_for
    from chalicelib.programs import cached_catalogue, require_program
    from chalicelib.rights import RightsRegistry

    cfg = settings()
    program = require_program(cached_catalogue(), program_id)
    rights = contract(web3_for(cfg), "ReskillingRights", cfg.contracts.rights)
    return json_response(RightsRegistry(rights).program_state(program))


@app.route("/transactions/{tx_id}", methods=["GET"])
@handled
def get_transaction(tx_id: str) -> Any:
    from chalicelib.chain.operator import operator_sender

    cfg = settings()
    record = operator_sender(cfg).refresh(tx_id)
    return json_response(record.to_public(cfg.block_explorer_url))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="relayer-tick")
def relayer_tick(event: Any) -> dict[str, Any]:
    """Resume every unfinished operator transaction (crashed or timed-out invocations)."""
    from chalicelib.jobs import run_relayer_tick

    return run_relayer_tick(settings())
