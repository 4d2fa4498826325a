"""`gmp-hub import-materials FILE`: upload a catalogue CSV to the materials service, showing the
upload's progress, then what was imported and which lines were rejected and why."""

import argparse
import sys
import time
from pathlib import Path
from typing import BinaryIO

import httpx

from shared.errors import problem_detail

SHOWN_REJECTIONS = 20


class _Progress:
    """A file whose reads report how much of it has gone up the wire."""

    def __init__(self, file: BinaryIO, total: int, rows: int) -> None:
        self.file, self.total, self.rows, self.out = file, total, rows, sys.stderr
        self.sent = 0
        self.started = time.monotonic()

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if not chunk:  # the upload is complete
            print(file=self.out, flush=True)
            return chunk
        self.sent += len(chunk)
        share = self.sent / self.total if self.total else 1.0
        megabytes = f"{self.sent / 1e6:7.2f}/{self.total / 1e6:.2f} MB"
        rows = f"~{int(self.rows * share)}/{self.rows} rows"
        print(f"\rupload {megabytes}  {share:6.1%}  {rows}", end="", file=self.out, flush=True)
        return chunk


def cmd_import_materials(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"gmp-hub import-materials: no file {path}", file=sys.stderr)
        return 2
    size = path.stat().st_size
    with path.open("rb") as f:
        rows = max(sum(1 for _ in f) - 1, 0)  # data lines, for the progress estimate
    print(f"{path.name}: {rows} rows, {size / 1e6:.2f} MB -> {args.url}{' (dry run)' if args.dry_run else ''}",
          file=sys.stderr)  # fmt: skip
    started = time.monotonic()
    with path.open("rb") as f:
        progress = _Progress(f, size, rows)
        print("(the server validates every row, then writes the good ones in one transaction)", file=sys.stderr)
        try:
            response = httpx.post(
                f"{args.url.rstrip('/')}/v1/materials/import",
                params={"dry_run": str(args.dry_run).lower()},
                files={"file": (path.name, progress, "text/csv")},  # type: ignore[dict-item]
                headers={"Authorization": f"Bearer {args.token}"},
                timeout=args.timeout,
            )
        except httpx.HTTPError as exc:
            print(f"\ngmp-hub import-materials: {exc}", file=sys.stderr)
            return 1
    if not response.is_success:
        print(f"failed ({response.status_code}): {problem_detail(response)}", file=sys.stderr)
        return 1
    report = response.json()
    for rejected in report["rejected"][:SHOWN_REJECTIONS]:
        print(f"  line {rejected['line']}: {rejected['reason']}")
    if len(report["rejected"]) > SHOWN_REJECTIONS:
        print(f"  ... and {len(report['rejected']) - SHOWN_REJECTIONS} more rejected lines")
    verb = "would import" if report["dry_run"] else "imported"
    print(
        f"{report['rows']} rows: {verb} {report['imported']}, rejected {len(report['rejected'])}; "
        f"server {report['seconds']:.2f}s, total {time.monotonic() - started:.2f}s"
    )
    return 0 if not report["rejected"] else 3


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-materials",
        help="bulk-import catalogue materials from a CSV file (admin token)",
        description="Columns: see GET /v1/vocabularies (import_columns). Good rows are imported in one "
        "transaction; bad rows are reported by line. Exit code 3 when some lines were rejected.",
    )
    parser.add_argument("file", help="the CSV file (UTF-8, header row first)")
    parser.add_argument("--url", default="http://127.0.0.1:8002", help="the materials service")
    parser.add_argument("--token", required=True, help="an admin token: gmp-hub token --role admin")
    parser.add_argument("--dry-run", action="store_true", help="validate and report only")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the server")
    parser.set_defaults(func=cmd_import_materials)
