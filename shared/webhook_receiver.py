"""`gmp-hub webhook-receiver`: a local endpoint to try any service's webhooks with (approvals',
scheduling's). It verifies each delivery's Standard Webhooks signature with the subscription's
secret and prints the event, with the status of what it is about (the approval, the booking...)."""

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


def status_of(event: dict[str, Any]) -> str | None:
    """The status of the object the event carries the state of (its approval, booking, agreement)."""
    parts = (event.get("data") or {}).values()
    return next((part["status"] for part in parts if isinstance(part, dict) and "status" in part), None)


def cmd_webhook_receiver(args: argparse.Namespace) -> int:
    webhook = Webhook(args.secret) if args.secret else None
    failures_left: list[int] = [args.fail_first]
    lock = threading.Lock()  # deliveries arrive in parallel: one line at a time, one count of failures

    def say(line: str) -> None:
        with lock:
            print(line, flush=True)

    def fail_this_one() -> bool:
        with lock:
            failures_left[0] -= 1
            return failures_left[0] >= 0

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if fail_this_one():
                say(f"answering 503 on purpose to {self.headers.get('webhook-id')} (retries follow)")
                return self._answer(503)
            verdict = "unverified (no --secret)"
            if webhook is not None:
                try:
                    webhook.verify(body, dict(self.headers.items()))
                    verdict = "signature ok"
                except WebhookVerificationError as exc:
                    say(f"REFUSED {self.headers.get('webhook-id')}: {exc}")
                    return self._answer(401)
            event = json.loads(body)
            say(f"{event['type']}  {event['subject']}  status={status_of(event)}  {verdict}")
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        # http.server's backlog of 5 can overflow when a hub's fan-out opens more at once.
        request_queue_size = 128

    server = Server((args.host, args.port), Handler)
    print(f"listening on http://{args.host}:{args.port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    receiver = sub.add_parser("webhook-receiver", help="a local endpoint that verifies and prints webhooks")
    receiver.add_argument("--port", type=int, default=9999)
    receiver.add_argument("--host", default="127.0.0.1")
    receiver.add_argument("--secret", help="the subscription's whsec_... secret, to verify signatures")
    receiver.add_argument("--fail-first", type=int, default=0, help="answer 503 to this many deliveries first")
    receiver.set_defaults(func=cmd_webhook_receiver)
