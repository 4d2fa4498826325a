"""Certificate actions are electronic signatures: each needs a sign-in at most
GMPHUB_SIGNATURE_MAX_AGE_SECONDS old (otherwise RFC 9470's challenge, and nothing changes), and
leaves an insert-only record of who, when, what it means, why and the hash of the state it signed."""

import time
from datetime import datetime

import pytest
from sqlalchemy.exc import DBAPIError

from services.registry.events import CertificateState
from shared.auth import Role
from shared.signatures import state_sha256
from tests.integration.registry.helpers import certificate, create_facility, issue_certificate

CHALLENGE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A signature needs an authentication at most 300 seconds old", max_age=300'
)


def pei(tokens, **claims):
    return tokens.headers(Role.REGULATOR, authority="DE-PEI", sub="inspector-1", **claims)


async def everything(registry) -> list:
    """The certificates, their signatures and the events: what a refused signature must leave as it was."""
    return [
        await registry.sql("SELECT * FROM certificate ORDER BY id"),
        await registry.sql("SELECT * FROM certificate_signature ORDER BY id"),
        await registry.sql("SELECT seq, envelope FROM outbox ORDER BY seq"),
    ]


def signed_state(record: dict) -> str:
    """The hash of a certificate as the API answers it, recomputed from its state's fields."""
    return state_sha256(CertificateState.model_validate(record))


@pytest.mark.parametrize("stale", ["ten minutes old", "without auth_time"])
async def test_a_signature_with_a_stale_sign_in_is_refused_with_the_rfc_9470_challenge_and_changes_nothing(
    registry, tokens, stale
):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    url = f"/v1/certificates/{cert['certificate_id']}"
    await registry.client.post(f"{url}/suspend", json={"reason": "Sterility failures"}, headers=pei(tokens))
    old = pei(tokens, auth_time=int(time.time()) - 600 if stale == "ten minutes old" else None)
    before = await everything(registry)

    for path, body in (
        (f"/v1/facilities/{fid}/certificates", certificate("DE-PEI-GMP-2", reason="Inspection of 2026-10-01")),
        (f"{url}/reinstate", {"reason": "CAPA closed"}),
        (f"{url}/revoke", {"reason": "Repeated critical findings"}),
    ):
        refused = await registry.client.post(path, json=body, headers=old)
        assert refused.status_code == 401, refused.text
        assert refused.headers["www-authenticate"] == CHALLENGE
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["max_age"] == 300 and "fresh sign-in" in refused.json()["detail"]
    assert await everything(registry) == before
    # a suspension too (the certificate was suspended above: only the valid one it came from may be)
    other = await issue_certificate(registry, tokens, fid, number="DE-PEI-GMP-3")
    before = await everything(registry)
    refused = await registry.client.post(
        f"/v1/certificates/{other['certificate_id']}/suspend", json={"reason": "Sterility failures"}, headers=old
    )
    assert (refused.status_code, refused.headers["www-authenticate"]) == (401, CHALLENGE)
    assert await everything(registry) == before
    # reading needs no fresh sign-in
    assert (await registry.client.get(url, headers=old)).status_code == 200


async def test_a_fresh_signature_is_recorded_with_signer_time_meaning_reason_and_the_hash_of_the_state(
    registry, tokens
):
    fid = (await create_facility(registry, tokens))["facility_id"]
    named = pei(tokens, name="Dr. Erika Muster")
    issued = await registry.client.post(
        f"/v1/facilities/{fid}/certificates", json=certificate(reason="Inspection of 2026-10-01"), headers=named
    )
    assert issued.status_code == 201, issued.text
    url = f"/v1/certificates/{issued.json()['certificate_id']}"
    before = time.time()
    stated = {"meaning": "Suspended by DE-PEI pending CAPA", "reason": "Sterility failures"}
    suspended = await registry.client.post(f"{url}/suspend", json=stated, headers=named)
    assert suspended.status_code == 200, suspended.text

    record = (await registry.client.get(url, headers=tokens.developer())).json()
    first, last = record["signatures"]
    assert (first["action"], first["meaning"], first["reason"]) == ("issued", "issued", "Inspection of 2026-10-01")
    assert (last["action"], last["meaning"], last["reason"]) == ("suspended", *stated.values())
    assert (last["signer"], last["signer_name"], last["authority"]) == (
        "regulator:inspector-1",
        "Dr. Erika Muster",
        "DE-PEI",
    )
    signed_at = datetime.fromisoformat(last["signed_at"])
    assert signed_at.utcoffset().total_seconds() == 0 and before - 1 <= signed_at.timestamp() <= time.time() + 1
    assert last["state_sha256"] == signed_state(record) == signed_state(suspended.json()) != first["state_sha256"]
    assert first["state_sha256"] == signed_state(issued.json())
    # the event carries the same signature, and the state it signed
    event = (await registry.outbox_events("gmphub.registry.certificate.suspended.v1"))[-1]
    assert event["data"]["signature"] == {k: v for k, v in last.items() if k in event["data"]["signature"]}
    assert state_sha256(event["data"]["certificate"]) == last["state_sha256"]
    history = (await registry.client.get(f"/v1/facilities/{fid}/history", headers=tokens.developer())).json()
    assert [e["data"]["signature"]["meaning"] for e in history[1:]] == ["issued", stated["meaning"]]


async def test_a_later_change_to_the_signed_state_is_detectable_and_a_signature_cannot_be_altered(registry, tokens):
    fid = (await create_facility(registry, tokens))["facility_id"]
    cert = await issue_certificate(registry, tokens, fid)
    url = f"/v1/certificates/{cert['certificate_id']}"
    await registry.sql("UPDATE certificate SET expires_on = expires_on + 365 WHERE id = :id", id=cert["certificate_id"])

    record = (await registry.client.get(url, headers=tokens.developer())).json()
    assert record["signatures"][-1]["state_sha256"] != signed_state(record)
    for statement in ("UPDATE certificate_signature SET reason = 'edited'", "DELETE FROM certificate_signature"):
        with pytest.raises(DBAPIError, match="certificate signatures are immutable"):
            await registry.sql(statement)
    assert [s["reason"] for s in (await registry.client.get(url, headers=tokens.developer())).json()["signatures"]] == [
        None
    ]
