"""`gmp-hub webhook-receiver`, the regulator's try-out endpoint: with deliveries arriving in
parallel it fails exactly the first N on purpose, refuses bad signatures, and prints whole lines."""

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from devtools.stack import free_port
from shared.webhooks import new_secret


def delivery(webhook: Webhook, n: int) -> tuple[bytes, dict[str, str]]:
    event_id, now = str(uuid.uuid4()), datetime.now(UTC)
    body = json.dumps({"type": "gmphub.approvals.approval.approved.v1", "subject": f"approval-{n}",
                       "data": {"approval": {"status": "approved"}}})  # fmt: skip
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": webhook.sign(event_id, now, body), "content-type": "application/json"}  # fmt: skip
    return body.encode(), headers


async def test_parallel_deliveries_fail_first_n_refuse_forgeries_and_print_whole_lines():
    secret, port = new_secret(), free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "webhook-receiver", "--port", str(port), "--secret", secret, "--fail-first", "2"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "listening" in receiver.stdout.readline()
        signed = [delivery(Webhook(secret), n) for n in range(12)]
        forged = delivery(Webhook(new_secret()), 99)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answers = await asyncio.gather(*(client.post("/", content=b, headers=h) for b, h in [*signed, forged]))
    finally:
        receiver.terminate()
        output, _ = receiver.communicate(timeout=10)
    codes = sorted(a.status_code for a in answers)
    assert codes.count(503) == 2 and codes.count(401) == 1 and codes.count(204) == 10, codes
    lines = output.splitlines()
    assert sum("answering 503 on purpose" in line for line in lines) == 2
    assert sum(line.endswith("status=approved  signature ok") for line in lines) == 10
    assert sum(line.startswith("REFUSED") for line in lines) == 1
    assert len(lines) == 13  # one whole line per delivery, none run together
