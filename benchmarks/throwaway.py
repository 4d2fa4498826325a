"""A throw-away embedded PostgreSQL holding one service's schema, for benchmarks to seed and time."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devtools.stack import EmbeddedPostgres, free_port
from shared.migrations import upgrade


@contextmanager
def service_database(service: str) -> Iterator[str]:
    """Start PostgreSQL in a temporary folder, migrate `service`'s database, yield its URL, stop."""
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg", free_port())
    pg.start()
    try:
        pg.create_databases(["bench"])
        upgrade(service, pg.url("bench"))
        yield pg.url("bench")
    finally:
        pg.stop()
