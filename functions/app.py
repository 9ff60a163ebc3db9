"""Manabi Relay API: routes and scheduled jobs, wired to ``chalicelib``.

Routes parse, make one call into the domain, and shape the response. Nothing
here imports web3: routes that touch the chain import it lazily through
``chalicelib.chain`` so that the rest start fast on a cold Lambda.
"""

from __future__ import annotations

from typing import Any

from chalice import Chalice, IAMAuthorizer, Rate

from chalicelib.config import Settings
from chalicelib.http import ANY_BODY, client_id, csv_response, handled, json_object, json_response
from chalicelib.logs import configure_logging

app = Chalice(app_name="manabi-relay")
app.log.setLevel("INFO")
configure_logging()
# City staff sign admin requests with their IAM credentials (SigV4); the local
# stack and chalice.test let them through without a signature.
staff = IAMAuthorizer()


def settings() -> Settings:
    return Settings.from_env()


@app.route("/health", methods=["GET"])
@handled
def health() -> Any:
    from chalicelib.health import chain_health

    return json_response(chain_health(settings()))


@app.route("/chain", methods=["GET"])
@handled
def chain_config() -> Any:
    """What a wallet needs: the chain to switch to (or add), and the contracts it signs for."""
    cfg = settings()
    return json_response({
        "chain_id": cfg.chain_id,
        "chain_id_hex": hex(cfg.chain_id),
        "chain_name": cfg.chain_name,
        "rpc_urls": [cfg.public_rpc_url] if cfg.public_rpc_url else [],
        "block_explorer_url": cfg.block_explorer_url,
        "native_currency": {"name": "POL", "symbol": "POL", "decimals": 18},
        "contracts": cfg.contracts.as_dict(),
        "jpyc": {"address": cfg.contracts.jpyc, "symbol": "JPYC", "decimals": 18},
        "site_domain": cfg.site_domain,
    })


@app.route("/programs", methods=["GET"])
@handled
def list_programs() -> Any:
    from chalicelib.programs import cached_catalogue, public_programs
    from chalicelib.services import capacity

    seats = capacity(settings())
    return json_response({"programs": public_programs(cached_catalogue(), seats.of)})


@app.route("/applications", methods=["POST"], content_types=ANY_BODY)
@handled
def submit_application() -> Any:
    from chalicelib.applications.form import parse_application
    from chalicelib.idempotency import run_once
    from chalicelib.services import application_rate_limiter, applications

    cfg, request = settings(), app.current_request
    body = json_object(request)
    application_rate_limiter(cfg).hit("applications", client_id(request))
    service = applications(cfg)
    form = parse_application(body, service.program_for(body))
    result = run_once(cfg, scope="applications", key=request.headers.get("idempotency-key"), payload=body,
                      work=lambda: service.submit(form), lambda_context=app.lambda_context)
    return json_response(result, 201)


@app.route("/programs/{program_id}/lottery", methods=["GET"])
@handled
def lottery_result(program_id: str) -> Any:
    from chalicelib.services import lottery

    return json_response(lottery(settings()).public_view(program_id))


@app.route("/admin/programs/{program_id}/applications", methods=["GET"], authorizer=staff)
@handled
def admin_list_applications(program_id: str) -> Any:
    from chalicelib.services import applications

    return json_response({"applications": applications(settings()).list(program_id)})


@app.route("/admin/programs/{program_id}/applications/export", methods=["GET"], authorizer=staff)
@handled
def admin_export_applications(program_id: str) -> Any:
    from chalicelib.applications.export import to_csv
    from chalicelib.services import applications

    return csv_response(to_csv(applications(settings()).list(program_id)), f"applications-{program_id}.csv")


@app.route("/admin/applications/{application_id}", methods=["PATCH"], authorizer=staff, content_types=ANY_BODY)
@handled
def admin_change_application(application_id: str) -> Any:
    from chalicelib.programs import cached_catalogue, require_program
    from chalicelib.services import applications, lottery

    cfg = settings()
    changed = applications(cfg).change_status(application_id, json_object(app.current_request).get("status"))
    if changed["previous_status"] == "selected":
        lottery(cfg).promote(require_program(cached_catalogue(), changed["program_id"]))
    return json_response({"application_id": application_id, "status": changed["status"]})


@app.route("/admin/programs/{program_id}/capacity", methods=["PUT"], authorizer=staff, content_types=ANY_BODY)
@handled
def admin_set_capacity(program_id: str) -> Any:
    from chalicelib.programs import cached_catalogue, require_program
    from chalicelib.services import capacity, lottery

    cfg = settings()
    program = require_program(cached_catalogue(), program_id)
    seats = capacity(cfg).set(program, json_object(app.current_request).get("capacity"))
    moved_up = lottery(cfg).promote(program)
    return json_response({"program_id": program_id, "capacity": seats, "moved_up": moved_up})


@app.route("/admin/programs/{program_id}/lottery/{step}", methods=["POST"], authorizer=staff,
           content_types=ANY_BODY)
@handled
def admin_lottery_step(program_id: str, step: str) -> Any:
    from chalicelib.errors import NotFound
    from chalicelib.services import lottery

    draw = lottery(settings())
    body = json_object(app.current_request) if app.current_request.raw_body else {}
    if step == "commit":
        return json_response(draw.commit(program_id, body.get("seed_sha256")), 201)
    if step == "draw":
        return json_response(draw.draw(program_id, body.get("seed")))
    if step == "publish":
        return json_response(draw.publish(program_id))
    raise NotFound("unknown lottery step", code="not_found")


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


def signed_in_sponsor() -> str:
    from chalicelib.services import sign_in

    return sign_in(settings()).address_for(app.current_request.headers.get("authorization"))


@app.route("/auth/nonce", methods=["POST"], content_types=ANY_BODY)
@handled
def auth_nonce() -> Any:
    from chalicelib.services import sign_in

    return json_response({"nonce": sign_in(settings()).issue_nonce()}, 201)


@app.route("/auth/login", methods=["POST"], content_types=ANY_BODY)
@handled
def auth_login() -> Any:
    from chalicelib.services import sign_in

    body = json_object(app.current_request)
    return json_response(sign_in(settings()).login(body.get("message"), body.get("signature")))


@app.route("/auth/logout", methods=["POST"], content_types=ANY_BODY)
@handled
def auth_logout() -> Any:
    from chalicelib.services import sign_in

    sign_in(settings()).logout(app.current_request.headers.get("authorization"))
    return json_response({"signed_out": True})


@app.route("/sponsor/me", methods=["GET"])
@handled
def sponsor_me() -> Any:
    from chalicelib.services import Chain

    return json_response(Chain(settings()).dashboard().overview(signed_in_sponsor()))


@app.route("/talents", methods=["GET"])
@handled
def waiting_talents() -> Any:
    from chalicelib.services import Chain

    program_id = (app.current_request.query_params or {}).get("program_id", "")
    return json_response({"talents": Chain(settings()).lending().waiting_talents(program_id)})


@app.route("/purchases/quote", methods=["POST"], content_types=ANY_BODY)
@handled
def purchase_quote() -> Any:
    from chalicelib.services import Chain

    sponsor, body = signed_in_sponsor(), json_object(app.current_request)
    return json_response(Chain(settings()).purchases().quote(sponsor, body.get("program_id"), body.get("quantity")))


@app.route("/purchases", methods=["POST"], content_types=ANY_BODY)
@handled
def purchase() -> Any:
    from chalicelib.idempotency import run_once
    from chalicelib.services import Chain

    cfg, sponsor, body = settings(), signed_in_sponsor(), json_object(app.current_request)
    purchases = Chain(cfg).purchases()
    result = run_once(cfg, scope=f"purchases:{sponsor}", key=app.current_request.headers.get("idempotency-key"),
                      payload=body, lambda_context=app.lambda_context, work=lambda: purchases.submit(
                          sponsor, body.get("program_id"), body.get("quantity"), body.get("deadline"),
                          body.get("signature")))
    return json_response(result, 202)


@app.route("/lendings/quote", methods=["POST"], content_types=ANY_BODY)
@handled
def lending_quote() -> Any:
    from chalicelib.services import Chain

    sponsor, body = signed_in_sponsor(), json_object(app.current_request)
    return json_response(Chain(settings()).lending().quote(sponsor, body.get("token_id"), body.get("talent_id")))


@app.route("/lendings", methods=["POST"], content_types=ANY_BODY)
@handled
def lend() -> Any:
    from chalicelib.idempotency import run_once
    from chalicelib.services import Chain

    cfg, sponsor, body = settings(), signed_in_sponsor(), json_object(app.current_request)
    lending = Chain(cfg).lending()
    result = run_once(cfg, scope=f"lendings:{sponsor}", key=app.current_request.headers.get("idempotency-key"),
                      payload=body, lambda_context=app.lambda_context, work=lambda: lending.submit(
                          sponsor, body.get("token_id"), body.get("talent_id"), body.get("expires"),
                          body.get("deadline"), body.get("signature")))
    return json_response(result, 202)


@app.route("/admin/applications/{application_id}/profile", methods=["PUT"], authorizer=staff,
           content_types=ANY_BODY)
@handled
def admin_talent_profile(application_id: str) -> Any:
    from chalicelib.applications.profile import TalentProfile
    from chalicelib.services import application_store

    profile = TalentProfile.parse(json_object(app.current_request))
    fields = {"talent_profile": profile.model_dump(exclude={"wallet_address"})}
    if profile.wallet_address:
        fields["talent_address"] = profile.checksummed_wallet()
    application_store(settings()).set_fields(application_id, fields)
    return json_response({"application_id": application_id, **fields})


@app.route("/admin/programs/{program_id}/sponsor-remaining", methods=["POST"], authorizer=staff,
           content_types=ANY_BODY)
@handled
def admin_sponsor_remaining(program_id: str) -> Any:
    from chalicelib.city_sponsor import CitySponsor
    from chalicelib.errors import InvalidInput
    from chalicelib.programs import JPYC_DECIMALS, cached_catalogue, require_program
    from chalicelib.services import Chain, application_store

    cfg, body = settings(), json_object(app.current_request)
    budget = body.get("budget_jpyc")
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise InvalidInput("budget_jpyc must be a non-negative integer (whole JPYC)", code="invalid_budget")
    chain = Chain(cfg)
    city = CitySponsor(chain.lending(), application_store(cfg), chain.rights, chain.sender)
    program = require_program(cached_catalogue(), program_id)
    return json_response(city.sponsor_remaining(program, budget * 10**JPYC_DECIMALS))


@app.route("/transactions/{tx_id}", methods=["GET"])
@handled
def get_transaction(tx_id: str) -> Any:
    from chalicelib.chain.operator import operator_sender

    cfg = settings()
    record = operator_sender(cfg).refresh(tx_id)
    return json_response(record.to_public(cfg.block_explorer_url))


@app.schedule(Rate(5, unit=Rate.MINUTES), name="mail-retry")
def mail_retry(event: Any) -> dict[str, int]:
    """Send e-mails whose earlier attempt failed (SES outage, throttling)."""
    from chalicelib.services import outbox

    return outbox(settings()).deliver_due()


@app.schedule(Rate(1, unit=Rate.MINUTES), name="relayer-tick")
def relayer_tick(event: Any) -> dict[str, Any]:
    """Resume every unfinished operator transaction (crashed or timed-out invocations)."""
    from chalicelib.jobs import run_relayer_tick

    return run_relayer_tick(settings())
