"""One settings class for every service, read from `GMPHUB_*` environment variables.

Unset means the embedded development defaults that `gmp-hub up` starts.
"""

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("registry", "materials", "scheduling", "approvals")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GMPHUB_", extra="ignore")

    data_dir: Path = Path(".gmphub")
    host: str = "127.0.0.1"
    port_base: int = 8000  # registry 8001, materials 8002, scheduling 8003, approvals 8004
    # Processes `gmp-hub up` runs of a service, sharing its port (`gmp-hub serve --reuse-port`), e.g.
    # GMPHUB_REPLICAS='{"registry": 2}'; unnamed services run their default: scheduling one per core
    # (up to four; devtools/cli.py says why), the others one, and approvals one only (its event
    # stream and webhook sender are woken by commits within their process).
    replicas: dict[str, int] = {}

    embedded_postgres_port: int = 54329
    embedded_kafka_port: int = 9092

    # Per-service DSNs; unset means the service's database on the embedded server.
    registry_database_url: str | None = None
    materials_database_url: str | None = None
    scheduling_database_url: str | None = None
    approvals_database_url: str | None = None
    database_pool_size: int = 20  # connections a process keeps open at most
    # Searches a process runs at once, each on a connection of its own search pool (why 8:
    # shared/database.py's SEARCH_CONNECTIONS). Replicas on one database share what it can search
    # at once: `gmp-hub up` gives each of n replicas this ÷ n, and deploy/ sets it beside the
    # replica count.
    search_connections: int = 8

    kafka_bootstrap_servers: str | None = None
    # How long the broker may hold a fetch that finds nothing. Tansu holds it this long even when a
    # record arrives meanwhile (at 500 ms a hop took 250 ms), so keep hops short here; Apache Kafka
    # answers at once when one arrives, so deploy/ sets 500 (fewer empty polls, no slower hops).
    kafka_fetch_max_wait_ms: int = 20
    kafka_session_timeout_ms: int = 3000  # Tansu holds a new member's join about half of this
    kafka_topic_partitions: int = 3
    kafka_replication_factor: int = 1  # for topics the services create; 3 on a production cluster
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    kafka_sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: Path | None = None  # CA bundle that signed the brokers' certificates
    kafka_request_timeout_seconds: float = 10.0  # every broker call and offset commit gives up after this
    kafka_metadata_max_age_ms: int = 5000  # consumers notice a topic's new partitions this soon
    consumer_max_attempts: int = 3

    outbox_poll_seconds: float = 0.5
    outbox_batch_size: int = 200
    # After a broker change, rows published to the lost broker are published again; none older than this.
    outbox_replay_horizon_hours: float = 168.0

    jwt_issuer: str = "gmp-hub-dev"
    jwt_audience: str = "gmp-hub"
    jwt_public_key_file: Path | None = None  # development key; unset means data_dir/keys
    jwt_jwks_url: str | None = None  # production: the OIDC provider's JWKS
    jwt_algorithms: list[str] = ["RS256"]
    # A signature (a decision, a suspension, a certificate action) needs a sign-in (the token's
    # `auth_time`) at most this old: Part 11 §11.200 asks the signer to authenticate for it.
    signature_max_age_seconds: int = 300

    # How often each service publishes its event history's chain head (`gmphub.<service>.audit.anchored.v1`).
    audit_anchor_interval_seconds: float = 3600.0

    job_interval_seconds: float = 5.0  # how often background jobs (expiries, deliveries) look for work

    # OTLP/HTTP collector for traces (e.g. http://otel-collector:4318); unset (and no OTEL_* variable): no tracing.
    otel_exporter_otlp_endpoint: str | None = None

    # Requests (shared/guards.py): a body past this many bytes is refused (413) before it is read;
    # a route may declare its own limit (materials' CSV import).
    max_body_bytes: int = 1024 * 1024
    # Rate limits in the `limits` notation ("3000/minute", "50/second;3000/minute"), counted by each
    # replica in its memory; with several replicas the ingress holds the hub-wide ones.
    rate_limit_enabled: bool = True
    rate_limit_per_principal: str = "3000/minute"  # per token subject
    rate_limit_per_address: str = "3000/minute"  # per client address, for requests without a valid token
    rate_limit_failed_authentication: str = "30/minute"  # refused tokens per client address; more get 429
    # The operations pages (/metrics, /docs, /openapi.json) only to these networks (CIDRs, comma
    # separated), never through a proxy; empty: to anyone (development).
    internal_networks: str = ""

    log_level: str = "INFO"
    log_json: bool = True

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def database_url(self, service: str) -> str:
        configured: str | None = getattr(self, f"{service}_database_url")
        if configured:
            return configured
        return f"postgresql+asyncpg://gmphub@127.0.0.1:{self.embedded_postgres_port}/{service}"

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.embedded_kafka_port}"

    def service_port(self, service: str) -> int:
        return self.port_base + SERVICES.index(service) + 1

    def service_url(self, service: str) -> str:
        return f"http://{self.host}:{self.service_port(service)}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
