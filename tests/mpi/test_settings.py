"""The TOML configuration: defaults, the documented keys, precedence, and every problem at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mpi.domain import IdentityDomain, Role, SourceSystem
from mpi.errors import ConfigError
from mpi.settings import (
    ApiSettings,
    ApiToken,
    DomainSettings,
    MatchingSettings,
    Settings,
    SubscriberSettings,
    load_settings,
)

DESIGN_EXAMPLE = """
[server]
receiving_application = "EMPI"
receiving_facility = "MPIHOST"

[enterprise]
namespace = "MPI"
oid = "1.2.276.0.76.3.1.508.99"

[[domain]]
namespace = "NORTHGEN"
oid = "2.999.10.1"
sources = [{ application = "NG_ADT", facility = "NORTHGEN" }]
trusted = false

[[subscriber]]
application = "HIE_PORTAL"
facility = "CITYHIE"
host = "127.0.0.1"
port = 3100
domains = ["NORTHGEN"]

[pix]
return_queried_identifier = false

[matching]
link_threshold = 0.95
review_threshold = 0.50

[[api.token]]
token = "change-me"
role = "admin"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mpi.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_defaults_need_no_file() -> None:
    s = load_settings(environ={})
    assert s.server.receiving_application == "EMPI" and s.server.receiving_facility == "MPIHOST"
    assert (s.enterprise.namespace, s.enterprise.oid) == ("MPI", "1.2.276.0.76.3.1.508.99")
    assert s.domains == () and s.subscribers == () and s.api.tokens == ()
    assert s.accepts_any_domain
    assert (s.matching.link_threshold, s.matching.review_threshold) == (0.95, 0.50)
    assert s.pix.return_queried_identifier is False
    assert s.database.url == "sqlite:///mpi.db"
    assert s.mllp.max_message_bytes == 1_048_576 and s.mllp.idle_timeout_seconds == 300.0
    assert s.source is None


def test_design_example_is_read_as_written(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, DESIGN_EXAMPLE), environ={})
    assert s.domains == (
        DomainSettings("NORTHGEN", "2.999.10.1", "ISO", (SourceSystem("NG_ADT", "NORTHGEN"),), False),
    )
    assert s.subscribers == (SubscriberSettings("HIE_PORTAL", "CITYHIE", "127.0.0.1", 3100, ("NORTHGEN",)),)
    assert s.subscribers[0].system == SourceSystem("HIE_PORTAL", "CITYHIE")
    assert s.api.tokens == (ApiToken("change-me", Role.ADMIN, "token-1"),)
    assert s.api.token("change-me") is not None and s.api.token("nope") is None
    assert not s.accepts_any_domain
    assert s.domain("NORTHGEN") is s.domains[0] and s.domain("SOUTH") is None
    assert s.identity_domains() == (
        IdentityDomain("MPI", "1.2.276.0.76.3.1.508.99", "ISO", enterprise=True),
        IdentityDomain("NORTHGEN", "2.999.10.1", "ISO", False, (SourceSystem("NG_ADT", "NORTHGEN"),)),
    )
    assert s.source == tmp_path / "mpi.toml"


def test_extra_keys(tmp_path: Path) -> None:
    s = load_settings(
        _write(tmp_path, """
[mllp]
max_message_bytes = 65536
idle_timeout_seconds = 30
[database]
url = "postgresql+psycopg://postgres@127.0.0.1:5432/mpi"
[[domain]]
namespace = "NATID"
oid = "2.999.99"
oid_type = "ISO"
trusted = true
[[api.token]]
token = "r"
role = "reviewer"
name = "ward-3"
"""),
        environ={},
    )
    assert (s.mllp.max_message_bytes, s.mllp.idle_timeout_seconds) == (65536, 30.0)
    assert s.database.url.startswith("postgresql+psycopg://")
    assert s.domains[0].trusted and s.domains[0].to_domain().trusted
    assert s.api.tokens[0] == ApiToken("r", Role.REVIEWER, "ward-3")
    assert "token=" not in repr(s.api.tokens[0])  # secrets stay out of logs


def test_database_url_precedence(tmp_path: Path) -> None:
    path = _write(tmp_path, '[database]\nurl = "sqlite:///file.db"\n')
    assert load_settings(path, environ={}).database.url == "sqlite:///file.db"
    env = {"MPI_DATABASE_URL": "sqlite:///env.db"}
    assert load_settings(path, environ=env).database.url == "sqlite:///env.db"
    assert load_settings(environ=env).database.url == "sqlite:///env.db"
    flag = {"database.url": "sqlite:///flag.db"}
    assert load_settings(path, overrides=flag, environ=env).database.url == "sqlite:///flag.db"


def test_environment_is_read_when_loading_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPI_DATABASE_URL", "sqlite:///late.db")
    assert load_settings().database.url == "sqlite:///late.db"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, """
colour = "blue"
[server]
receiving_application = 7
[enterprise]
oid = "not-an-oid"
[[domain]]
namespace = "NORTHGEN"
oid = "2.999.10.1"
trusted = "yes"
sources = [{ application = "NG_ADT" }]
[[domain]]
namespace = "NORTHGEN"
oid = "2.999.10.1"
[[subscriber]]
application = "HIE"
facility = "CITY"
host = "127.0.0.1"
port = true
domains = ["SOUTH"]
[matching]
link_threshold = 0.4
review_threshold = 1.5
[[api.token]]
token = "t"
role = "god"
[[api.token]]
token = "t"
role = "reader"
[database]
url = "mysql://x"
""", environ={})
    expected = [
        "colour: unknown key",
        "server.receiving_application: 7 must be a string",
        "enterprise.oid: 'not-an-oid' must be a dotted OID",
        "domain[0].trusted: 'yes' must be true or false",
        "domain[0].sources[0].facility: missing, is required",
        "domain[1].namespace: 'NORTHGEN' is already used by domain[0]",
        "domain[1].oid: '2.999.10.1' is already used by domain[0]",
        "subscriber[0].port: True must be an integer",
        "subscriber[0].domains: 'SOUTH' must be the namespace of a configured [[domain]]",
        "matching.review_threshold: 1.5 must lie between 0 and 1",
        "matching.review_threshold: 1.5 must not exceed matching.link_threshold (0.4)",
        "api.token[0].role: 'god' must be one of reader, reviewer, admin",
        "api.token[1].token: the same token must not be listed twice",
        "database.url: 'mysql://x' must be a sqlite:// or postgresql:// URL",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    assert len(problems) == len(expected)


def test_error_message_lists_problems_and_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[matching]\nlink_threshold = 2\n")
    with pytest.raises(ConfigError, match=r"invalid configuration in .*mpi\.toml \(1 problem\):\n  - matching\.link_threshold: 2\.0 must lie between 0 and 1"):
        load_settings(path, environ={})


def test_subscriber_domains_are_free_when_no_domain_is_configured(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, """
[[subscriber]]
application = "HIE"
facility = "CITY"
host = "h"
port = 3100
domains = ["ANYTHING"]
"""), environ={})
    assert s.subscribers[0].domains == ("ANYTHING",)


def test_subscriber_may_ask_for_enterprise_ids(tmp_path: Path) -> None:
    s = load_settings(_write(tmp_path, DESIGN_EXAMPLE.replace('domains = ["NORTHGEN"]', 'domains = ["NORTHGEN", "MPI"]')), environ={})
    assert s.subscribers[0].domains == ("NORTHGEN", "MPI")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[server", "is not valid TOML"),
        ("domain = 3", "domain: 3 must be an array of tables [[domain]]"),
        ("[[domain]]\noid = '2.1'", "domain[0].namespace: missing, is required"),
        ("[[domain]]\nnamespace = ' '", "domain[0].namespace: ' ' must not be empty"),
        ("[[domain]]\nnamespace = 'A'\nsources = [{application='X', facility='Y'}, {application='X', facility='Y'}]",
         "domain[0].sources: 'A' lists the same source twice"),
        ("[[subscriber]]\napplication='A'\nfacility='B'\nhost='h'\nport=0", "subscriber[0].port: 0 must lie between 1 and 65535"),
        ("[mllp]\nmax_message_bytes = 10", "mllp.max_message_bytes: 10 must be at least 1024"),
        ("[mllp]\nidle_timeout_seconds = -1", "mllp.idle_timeout_seconds: -1.0 must not be negative"),
        ("[matching]\nlink_threshold = true", "matching.link_threshold: True must be a number"),
        ("[api]\ntoken = 'x'", "api.token: 'x' must be an array of tables [[api.token]]"),
        ("[[api.token]]\nrole = 'admin'", "api.token[0].token: missing, is required"),
        ("pix = 1", "pix: 1 must be a table"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, problem: str) -> None:
    problems = _problems(tmp_path, text, environ={})
    assert any(problem in p for p in problems), problems


def test_missing_file_and_bad_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="override 'db'"):
        load_settings(overrides={"db": "sqlite:///x.db"}, environ={})
    with pytest.raises(ConfigError, match=r"database\.url: 5 must be a string"):
        load_settings(overrides={"database.url": 5}, environ={})
    with pytest.raises(ConfigError, match=r"database\.colour: unknown key"):
        load_settings(overrides={"database.colour": "x"}, environ={})


def test_settings_are_frozen_and_checked_when_built_directly() -> None:
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.matching = MatchingSettings()  # type: ignore[misc]
    with pytest.raises(ConfigError) as info:
        Settings(
            matching=MatchingSettings(link_threshold=0.3, review_threshold=0.6),
            domains=(DomainSettings("MPI"),),
            api=ApiSettings((ApiToken("a", Role.READER, "x"), ApiToken("a", Role.ADMIN, "y"))),
        )
    assert len(info.value.problems) == 3


def test_role_order() -> None:
    assert Role.ADMIN.allows(Role.REVIEWER) and Role.REVIEWER.allows(Role.READER)
    assert not Role.READER.allows(Role.REVIEWER)
