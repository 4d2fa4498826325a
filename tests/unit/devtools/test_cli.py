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
