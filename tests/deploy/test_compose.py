"""The single-host deployment: every service with its own database, the broker, JWKS, its
migration first, topics created, secrets from the environment, Prometheus scraping it."""

import re

import pytest

from shared.events import topic_of
from shared.kafka import dlq_of
from shared.observability import CONSUMER_LAG, DLQ_MESSAGES, OUTBOX_BACKLOG
from shared.settings import SERVICES
from tests.deploy.deployment import (
    DEPLOY,
    compose,
    database_url_var,
    default_port,
    dsn_parts,
    image_command,
    realm,
    setting_names,
)

INTERPOLATED = re.compile(r"^\$\{(\w+)(:[?-][^}]*)?\}$")


def services() -> dict:
    return compose()["services"]


def env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in services()[name]["environment"].items()}


def interpolated_name(value: str) -> str | None:
    match = INTERPOLATED.match(value)
    return match.group(1) if match else None


def test_every_gmphub_variable_in_compose_is_a_setting_the_code_reads():
    for name, service in services().items():
        for key in service.get("environment") or {}:
            if key.startswith("GMPHUB_"):
                assert key in setting_names(), f"{name}: {key} is read by nothing"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_the_image_with_its_command_and_port(service):
    spec = services()[service]
    entrypoint, _ = image_command()
    assert spec["image"] == compose()["services"]["registry"]["image"]
    assert "entrypoint" not in spec, f"the image's ENTRYPOINT {entrypoint} runs the command"
    assert spec["command"] == ["serve", service]
    published = [p.rsplit(":", 2)[-2:] for p in spec["ports"]]
    assert published == [[str(default_port(service)), str(default_port(service))]]
    assert "GMPHUB_PORT_BASE" not in env(service)
    assert spec.get("healthcheck") is None, "the image's HEALTHCHECK (/healthz on its port) applies"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_its_own_database_broker_and_jwks(service):
    settings = env(service)
    user, host, database = dsn_parts(settings[database_url_var(service)])
    assert (user, host, database) == (service, "postgres", service)
    assert [k for k in settings if k.endswith("_DATABASE_URL")] == [database_url_var(service)]
    assert interpolated_name(settings["PGPASSWORD"]) == f"{service.upper()}_DB_PASSWORD"
    assert settings["GMPHUB_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert interpolated_name(settings["GMPHUB_JWT_JWKS_URL"]) == "GMPHUB_JWT_JWKS_URL"
    assert "GMPHUB_JWT_PUBLIC_KEY_FILE" not in settings, "not the development key"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_starts_after_its_migration_and_the_topics(service):
    migrate = services()[f"{service}-migrate"]
    assert migrate["command"] == ["migrate", service]
    assert migrate["image"] == services()[service]["image"]
    assert migrate["restart"] == "no"
    assert migrate["environment"] == services()[service]["environment"], "migrates the database it serves"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    depends = services()[service]["depends_on"]
    assert depends[f"{service}-migrate"]["condition"] == "service_completed_successfully"
    assert depends["topics"]["condition"] == "service_completed_successfully"


def test_kafka_runs_in_kraft_mode_on_the_official_image_and_advertises_what_services_use():
    kafka = env("kafka")
    assert services()["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "broker" in kafka["KAFKA_PROCESS_ROLES"]
    assert not any("ZOOKEEPER" in k for k in kafka)
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_topics_one_shot_creates_every_services_topic_and_dead_letter_topic():
    topics = services()["topics"]
    mount = next(v for v in topics["volumes"] if v.endswith(":ro"))
    source, target = mount.split(":")[:2]
    assert topics["entrypoint"] == ["/bin/bash", target]
    script = (DEPLOY / source).read_text()
    listed = re.search(r"for service in ([\w ]+); do", script).group(1).split()
    assert tuple(listed) == SERVICES
    created = {template.replace("$service", s) for s in listed for template in re.findall(r'create "([^"]+)"', script)}
    assert created == {t for s in SERVICES for t in (topic_of(s), dlq_of(topic_of(s)))}
    settings = env("topics")
    partitions = {env(s)["GMPHUB_KAFKA_TOPIC_PARTITIONS"] for s in SERVICES}
    assert partitions == {settings["EVENT_PARTITIONS"]}, "services would create missing topics alike"
    assert int(settings["EVENT_PARTITIONS"]) >= 2
    for key in ("EVENT_RETENTION_MS", "DLQ_RETENTION_MS", "REPLICATION_FACTOR", "MIN_INSYNC_REPLICAS"):
        assert f'"${{{key}}}"' in script or f"${key}" in script, f"{key} is set but not used"
        assert settings[key]


def test_postgres_gives_each_service_a_database_and_role_no_other_can_use():
    postgres = services()["postgres"]
    init = next(v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    script = (DEPLOY / init.split(":")[0]).read_text()
    assert tuple(re.search(r"for service in ([\w ]+); do", script).group(1).split()) == SERVICES
    assert 'CREATE ROLE :"service" LOGIN PASSWORD' in script
    assert 'CREATE DATABASE :"service" OWNER :"service"' in script
    assert re.search(r'REVOKE CONNECT\b.* ON DATABASE :"service" FROM PUBLIC', script)
    assert "REVOKE ALL ON SCHEMA public FROM PUBLIC" in script
    assert postgres["volumes"][0].endswith(":/var/lib/postgresql"), "where PostgreSQL 18 images keep data"
    assert set(postgres["secrets"]) == {"postgres_password"} | {f"{s}_db_password" for s in SERVICES}


def test_secrets_come_from_the_environment_never_from_the_files():
    declared = compose()["secrets"]
    for name, secret in declared.items():
        assert secret == {"environment": name.upper()}
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and not key.endswith("_FILE"):
                assert interpolated_name(str(value)), f"{name}: {key} is written into compose.yaml"
    example = (DEPLOY / "env.example").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", (DEPLOY / "compose.yaml").read_text()))
    required |= {secret["environment"] for secret in declared.values()}
    for name in required:
        assert re.search(rf"^{name}=", example, re.MULTILINE), f"env.example lacks {name}"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_prometheus_scrapes_every_services_metrics_and_loads_the_alert_rules():
    import yaml

    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: (job["metrics_path"], job["static_configs"][0]["targets"]) for job in config["scrape_configs"]
    }
    assert targets == {f"gmphub-{s}": ("/metrics", [f"{s}:{default_port(s)}"]) for s in SERVICES}
    mounts = services()["prometheus"]["volumes"]
    assert "./prometheus-alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_the_alert_rules_watch_metrics_the_services_export():
    import yaml

    from shared import observability

    exported = set()
    for metric in vars(observability).values():
        if hasattr(metric, "_name") and hasattr(metric, "_type"):
            base = metric._name
            exported |= {base, f"{base}_total", f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    text = (DEPLOY / "prometheus-alerts.yml").read_text()
    rules = [r for group in yaml.safe_load(text)["groups"] for r in group["rules"]]
    used = set(re.findall(r"\bgmphub_\w+", "\n".join(r["expr"] for r in rules)))
    assert used - exported == set()
    for metric in (CONSUMER_LAG, OUTBOX_BACKLOG, DLQ_MESSAGES):
        assert any(name.startswith(metric._name) for name in used), f"no alert on {metric._name}"


def test_keycloak_issues_the_claims_and_audience_the_services_verify():
    client = next(c for c in realm()["clients"] if c["clientId"] == "gmp-hub-cli")
    mappers = {m["protocolMapper"]: [] for m in client["protocolMappers"]}
    for m in client["protocolMappers"]:
        mappers[m["protocolMapper"]].append(m["config"])
    claims = {c["claim.name"]: c for c in mappers["oidc-usermodel-attribute-mapper"]}
    assert set(claims) == {"role", "org_id", "facility_ids", "authority"}  # shared/auth.py Principal
    assert claims["facility_ids"]["multivalued"] == "true"
    assert all(c["access.token.claim"] == "true" for c in claims.values())
    audience = mappers["oidc-audience-mapper"][0]["included.custom.audience"]
    example = dict(
        line.split("=", 1) for line in (DEPLOY / "env.example").read_text().splitlines() if re.match(r"^\w+=", line)
    )
    assert audience == example["GMPHUB_JWT_AUDIENCE"]
    assert example["GMPHUB_JWT_JWKS_URL"].startswith(f"http://keycloak:8080/realms/{realm()['realm']}/")
    assert example["GMPHUB_JWT_ISSUER"].endswith(f"/realms/{realm()['realm']}")
    keycloak = services()["keycloak"]
    assert keycloak["profiles"] == ["keycloak"]
    assert keycloak["environment"]["KC_HOSTNAME"] + f"/realms/{realm()['realm']}" == example["GMPHUB_JWT_ISSUER"]


def test_the_portal_runs_the_image_with_its_own_command_on_port_8000_without_a_database():
    portal = services()["portal"]
    settings = env("portal")
    assert portal["image"] == services()["registry"]["image"]
    assert portal["entrypoint"] == ["python", "-m", "services.portal"] and "command" not in portal
    published = [p.rsplit(":", 2)[-2:] for p in portal["ports"]]
    assert published == [[str(default_port("portal")), str(default_port("portal"))]]
    for service in SERVICES:
        assert settings[f"GMPHUB_PORTAL_{service.upper()}_URL"] == f"http://{service}:{default_port(service)}"
        assert portal["depends_on"][service]["condition"] == "service_started"
    assert not any(k.endswith("_DATABASE_URL") or k.startswith("GMPHUB_KAFKA") or k == "PGPASSWORD" for k in settings)
    assert interpolated_name(settings["GMPHUB_JWT_JWKS_URL"]) == "GMPHUB_JWT_JWKS_URL", "no development sign-in"
    assert interpolated_name(settings["GMPHUB_PORTAL_SESSION_SECRET"]) == "GMPHUB_PORTAL_SESSION_SECRET"
    assert interpolated_name(settings["GMPHUB_PORTAL_OIDC_ISSUER"]) == "GMPHUB_PORTAL_OIDC_ISSUER"


def test_keycloak_has_a_pkce_client_for_the_portal_with_the_claims_the_services_verify():
    clients = {c["clientId"]: c for c in realm()["clients"]}
    portal, cli = clients["gmp-hub-portal"], clients["gmp-hub-cli"]
    assert portal["publicClient"] and portal["standardFlowEnabled"] and not portal["directAccessGrantsEnabled"]
    assert portal["attributes"]["pkce.code.challenge.method"] == "S256"
    example = dict(
        line.split("=", 1) for line in (DEPLOY / "env.example").read_text().splitlines() if re.match(r"^\w+=", line)
    )
    assert f"{example['GMPHUB_PORTAL_PUBLIC_URL']}/sign-in/callback" in portal["redirectUris"]
    assert portal["protocolMappers"] == cli["protocolMappers"], "the same role, scope and audience claims"
