"""In a checkout `gmp-hub` has the development commands of devtools/ besides the operations, word for
word as the README uses them; `token` signs with the development key of the data dir."""

import jwt
import pytest

from devtools import cli as devtools_cli
from shared import cli
from shared.settings import Settings


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["up"], devtools_cli.cmd_up),
        (["seed"], devtools_cli.cmd_seed),
        (["token", "--role", "admin"], devtools_cli.cmd_token),
        (["token", "--role", "developer", "--org", "ORG-1"], devtools_cli.cmd_token),
        (["token", "--role", "facility", "--facility-id", "f-1", "--facility-id", "f-2"], devtools_cli.cmd_token),
        (["token", "--role", "regulator", "--authority", "DE-PEI"], devtools_cli.cmd_token),
        (["serve", "registry"], cli.cmd_serve),
        (["migrate"], cli.cmd_migrate),
        (["dlq-replay", "gmphub.registry.v1"], cli.cmd_dlq_replay),
    ],
)
def test_the_development_commands_and_the_operations_parse_as_the_readme_writes_them(argv, command):
    assert cli.build_parser().parse_args(argv).func is command


def test_token_signs_with_the_development_key_of_the_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMPHUB_DATA_DIR", str(tmp_path))
    assert cli.main(["token", "--role", "developer", "--org", "ORG-1", "--ttl", "60"]) == 0
    token = capsys.readouterr().out.strip()
    public_key = (tmp_path / "keys" / "jwt-public.pem").read_bytes()
    settings = Settings()
    claims = jwt.decode(
        token, public_key, algorithms=["RS256"], audience=settings.jwt_audience, issuer=settings.jwt_issuer
    )
    assert claims["role"] == "developer" and claims["org_id"] == "ORG-1" and claims["exp"] - claims["iat"] == 60


def test_token_refuses_a_developer_without_an_organisation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMPHUB_DATA_DIR", str(tmp_path))
    assert cli.main(["token", "--role", "developer"]) == 2
    assert "needs --org" in capsys.readouterr().err


def test_token_says_the_user_signed_in_now_unless_asked_for_an_older_sign_in(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMPHUB_DATA_DIR", str(tmp_path))
    minted = {}
    for when in ("now", "-600", "1700000000"):
        extra = [] if when == "now" else ["--auth-time", when]
        assert (
            cli.main(["token", "--role", "regulator", "--authority", "DE-PEI", "--name", "Dr. E. Muster", *extra]) == 0
        )
        minted[when] = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert minted["now"]["auth_time"] == minted["now"]["iat"] and minted["now"]["name"] == "Dr. E. Muster"
    assert minted["-600"]["auth_time"] == pytest.approx(minted["-600"]["iat"] - 600, abs=2)
    assert minted["1700000000"]["auth_time"] == 1_700_000_000


def test_token_refuses_an_auth_time_that_is_no_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMPHUB_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "admin", "--auth-time", "yesterday"])
    assert "neither seconds since the epoch nor an age" in capsys.readouterr().err


def test_up_runs_scheduling_once_per_core_up_to_four_and_the_others_once(monkeypatch):
    monkeypatch.setattr(devtools_cli.os, "cpu_count", lambda: 2)
    assert devtools_cli._replicas(Settings()) == {"registry": 1, "materials": 1, "scheduling": 2, "approvals": 1}
    monkeypatch.setattr(devtools_cli.os, "cpu_count", lambda: 16)
    assert devtools_cli._replicas(Settings(replicas={"registry": 2}))["scheduling"] == 4
    assert devtools_cli._replicas(Settings(replicas={"scheduling": 1}))["scheduling"] == 1


def test_replicas_of_a_service_split_its_database_searches_between_them():
    settings = Settings(search_connections=8)
    assert devtools_cli._shares(settings, 1) == {}  # one process keeps the setting as it is
    assert devtools_cli._shares(settings, 2) == {"GMPHUB_SEARCH_CONNECTIONS": "4"}
    assert devtools_cli._shares(settings, 16) == {"GMPHUB_SEARCH_CONNECTIONS": "1"}
