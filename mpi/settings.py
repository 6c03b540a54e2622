"""The application's configuration: a TOML file, checked whole, turned into frozen values.

Every key has a default, so no file is needed. Nothing is read at import time:
call :func:`load_settings`. Precedence, lowest first: defaults, the file, the
``MPI_DATABASE_URL`` environment variable, ``overrides`` (command-line flags).

The file (every key optional; the ``[[...]]`` tables may repeat)::

    [server]
    receiving_application = "EMPI"      # MSH-5 expected, MSH-3 of answers
    receiving_facility = "MPIHOST"      # MSH-6 expected, MSH-4 of answers

    [enterprise]                        # the domain whose ids the MPI assigns
    namespace = "MPI"
    oid = "1.2.276.0.76.3.1.508.99"
    oid_type = "ISO"                    # extra: HD.3

    [[domain]]                          # an identity domain the MPI accepts
    namespace = "NORTHGEN"
    oid = "2.999.10.1"                  # optional; dotted OID
    oid_type = "ISO"                    # extra: HD.3
    sources = [{ application = "NG_ADT", facility = "NORTHGEN" }]  # who may assign ids here
    trusted = false                     # true: a shared id links deterministically

    [[subscriber]]                      # ITI-10 consumer
    application = "HIE_PORTAL"
    facility = "CITYHIE"
    host = "127.0.0.1"
    port = 3100
    domains = ["NORTHGEN"]              # configured domains (or the enterprise namespace)

    [pix]
    return_queried_identifier = false

    [matching]                          # match probabilities, 0 <= review <= link <= 1
    link_threshold = 0.95
    review_threshold = 0.50

    [[api.token]]
    token = "change-me"
    role = "admin"                      # reader | reviewer | admin
    name = "ops"                        # extra: who the audit trail names (default token-<n>)

    [mllp]                              # extra
    max_message_bytes = 1048576         # a larger frame is answered AR and dropped
    idle_timeout_seconds = 300.0        # close a connection silent this long (0: never)

    [database]                          # extra
    url = "sqlite:///mpi.db"            # or postgresql+psycopg://user@host:5432/db

Rules checked (all problems are reported together, in one :class:`ConfigError`):
unknown keys, wrong types, empty names, malformed OIDs, ports outside 1..65535,
thresholds outside [0, 1] or review above link, duplicate namespaces or OIDs
(the enterprise domain included), duplicate sources within a domain, subscriber
domains that are not configured (checked only when at least one ``[[domain]]``
is configured: without any, every domain is accepted as it is first seen),
unknown roles, duplicate or empty tokens, database URLs that are neither SQLite
nor PostgreSQL.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mpi.domain import IdentityDomain, Role, SourceSystem
from mpi.errors import ConfigError

__all__ = [
    "DATABASE_URL_ENV",
    "ApiSettings",
    "ApiToken",
    "DatabaseSettings",
    "DomainSettings",
    "EnterpriseSettings",
    "MatchingSettings",
    "MllpSettings",
    "PixSettings",
    "ServerSettings",
    "Settings",
    "SubscriberSettings",
    "load_settings",
]

DATABASE_URL_ENV = "MPI_DATABASE_URL"
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_NO_OVERRIDES: Mapping[str, object] = {}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Who the MPI is on the HL7 side."""

    receiving_application: str = "EMPI"
    receiving_facility: str = "MPIHOST"


@dataclass(frozen=True, slots=True)
class EnterpriseSettings:
    """The domain of the enterprise ids the MPI assigns."""

    namespace: str = "MPI"
    oid: str = "1.2.276.0.76.3.1.508.99"
    oid_type: str = "ISO"

    def to_domain(self) -> IdentityDomain:
        """The enterprise domain as a domain value."""
        return IdentityDomain(self.namespace, self.oid, self.oid_type, enterprise=True)


@dataclass(frozen=True, slots=True)
class DomainSettings:
    """One configured identity domain (``[[domain]]``)."""

    namespace: str
    oid: str | None = None
    oid_type: str | None = "ISO"
    sources: tuple[SourceSystem, ...] = ()
    trusted: bool = False

    def to_domain(self) -> IdentityDomain:
        """The configured domain as a domain value."""
        oid_type = self.oid_type if self.oid is not None else None
        return IdentityDomain(self.namespace, self.oid, oid_type, self.trusted, self.sources)


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    """One ITI-10 consumer (``[[subscriber]]``)."""

    application: str
    facility: str
    host: str
    port: int
    domains: tuple[str, ...] = ()

    @property
    def system(self) -> SourceSystem:
        """MSH-5/MSH-6 of the notifications sent to it."""
        return SourceSystem(self.application, self.facility)


@dataclass(frozen=True, slots=True)
class PixSettings:
    """PIX query behaviour."""

    return_queried_identifier: bool = False


@dataclass(frozen=True, slots=True)
class MatchingSettings:
    """The two thresholds (match probabilities) that cut auto-link, review and no-link."""

    link_threshold: float = 0.95
    review_threshold: float = 0.50
    model: Path | None = None
    """A model saved by ``mpi train -o`` or ``mpi dedup --save-model`` (relative to the
    configuration file); the built-in default model if ``None``."""


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A bearer token of the HTTP API and its role."""

    token: str = field(repr=False)
    role: Role
    name: str


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The HTTP API's tokens (none: the review API refuses every request)."""

    tokens: tuple[ApiToken, ...] = ()

    def token(self, value: str) -> ApiToken | None:
        """The token entry for a presented bearer token, or ``None``."""
        return next((t for t in self.tokens if t.token == value), None)


@dataclass(frozen=True, slots=True)
class MllpSettings:
    """MLLP listener limits."""

    max_message_bytes: int = 1_048_576
    idle_timeout_seconds: float = 300.0


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the index lives."""

    url: str = "sqlite:///mpi.db"


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration; checked when constructed (:class:`ConfigError` lists every problem).

    Attributes:
        source: the file read, if any (for messages).
    """

    server: ServerSettings = ServerSettings()
    enterprise: EnterpriseSettings = EnterpriseSettings()
    domains: tuple[DomainSettings, ...] = ()
    subscribers: tuple[SubscriberSettings, ...] = ()
    pix: PixSettings = PixSettings()
    matching: MatchingSettings = MatchingSettings()
    api: ApiSettings = ApiSettings()
    mllp: MllpSettings = MllpSettings()
    database: DatabaseSettings = DatabaseSettings()
    source: Path | None = None

    def __post_init__(self) -> None:
        problems = _semantic_problems(self)
        if problems:
            raise ConfigError(problems, str(self.source) if self.source else None)

    @property
    def accepts_any_domain(self) -> bool:
        """No ``[[domain]]`` configured: every domain is accepted and registered when first seen."""
        return not self.domains

    def identity_domains(self) -> tuple[IdentityDomain, ...]:
        """The enterprise domain followed by every configured domain."""
        return (self.enterprise.to_domain(), *(d.to_domain() for d in self.domains))

    def domain(self, namespace: str) -> DomainSettings | None:
        """The configured domain with this namespace, or ``None``."""
        return next((d for d in self.domains if d.namespace == namespace), None)


def load_settings(
    path: Path | None = None,
    *,
    overrides: Mapping[str, object] = _NO_OVERRIDES,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, check and freeze the configuration.

    Args:
        path: a TOML file; ``None`` uses the defaults only.
        overrides: values that win over the file and the environment, keyed by
            dotted path, e.g. ``{"database.url": "sqlite:///x.db"}`` (the
            ``--db`` flag). Only keys of plain tables (not ``[[...]]``) can be set.
        environ: the environment to read ``MPI_DATABASE_URL`` from (default ``os.environ``).

    Returns:
        The settings.

    Raises:
        ConfigError: the file cannot be read or parsed, or any value breaks a rule;
            every problem found is listed.
    """
    source = str(path) if path is not None else None
    raw = _read_file(path) if path is not None else {}
    env = os.environ if environ is None else environ
    problems: list[str] = []
    if env.get(DATABASE_URL_ENV):
        raw.setdefault("database", {})
        if isinstance(raw["database"], dict):
            raw["database"]["url"] = env[DATABASE_URL_ENV]
    for key, value in overrides.items():
        _apply_override(raw, key, value, problems)
    reader = _Reader(problems)
    parts = reader.settings(raw)
    problems.extend(_semantic_problems(parts))
    if problems:
        raise ConfigError(problems, source)
    return Settings(**{f.name: getattr(parts, f.name) for f in fields(_Parts)}, source=path)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError([f"config file: {str(path)!r} does not exist"], str(path)) from e
    except OSError as e:
        raise ConfigError([f"config file: {str(path)!r} cannot be read ({e})"], str(path)) from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"config file: {str(path)!r} is not valid TOML ({e})"], str(path)) from e


def _apply_override(raw: dict[str, Any], key: str, value: object, problems: list[str]) -> None:
    *tables, leaf = key.split(".")
    node: Any = raw
    for name in tables:
        node = node.setdefault(name, {}) if isinstance(node, dict) else None
    if not tables or not isinstance(node, dict) or not leaf:
        problems.append(
            f"override {key!r}: {value!r} must name a key of a table, e.g. database.url"
        )
        return
    node[leaf] = value


@dataclass(slots=True)
class _Parts:
    """The settings' parts before the whole is checked (Settings' fields minus source)."""

    server: ServerSettings
    enterprise: EnterpriseSettings
    domains: tuple[DomainSettings, ...]
    subscribers: tuple[SubscriberSettings, ...]
    pix: PixSettings
    matching: MatchingSettings
    api: ApiSettings
    mllp: MllpSettings
    database: DatabaseSettings


T = TypeVar("T")


class _Reader:
    """Reads raw TOML data into setting values, noting every problem and using defaults for them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def settings(self, raw: Mapping[str, Any]) -> _Parts:
        top = self.table(raw, "", _TOP_KEYS)
        api = self.table(top.get("api", {}), "api", {"token"})
        return _Parts(
            server=self.server(self.table(top.get("server", {}), "server", _SERVER_KEYS)),
            enterprise=self.enterprise(
                self.table(top.get("enterprise", {}), "enterprise", _ENT_KEYS)
            ),
            domains=tuple(self.each(top, "domain", self.domain)),
            subscribers=tuple(self.each(top, "subscriber", self.subscriber)),
            pix=self.pix(self.table(top.get("pix", {}), "pix", {"return_queried_identifier"})),
            matching=self.matching(self.table(top.get("matching", {}), "matching", _MATCH_KEYS)),
            api=ApiSettings(tuple(self.each(api, "token", self.token, prefix="api."))),
            mllp=self.mllp(self.table(top.get("mllp", {}), "mllp", _MLLP_KEYS)),
            database=DatabaseSettings(
                self.text(
                    self.table(top.get("database", {}), "database", {"url"}),
                    "database.url",
                    DatabaseSettings().url,
                )
            ),
        )

    # -- sections -------------------------------------------------------------------------------

    def server(self, t: Mapping[str, Any]) -> ServerSettings:
        d = ServerSettings()
        return ServerSettings(
            self.text(t, "server.receiving_application", d.receiving_application),
            self.text(t, "server.receiving_facility", d.receiving_facility),
        )

    def enterprise(self, t: Mapping[str, Any]) -> EnterpriseSettings:
        d = EnterpriseSettings()
        return EnterpriseSettings(
            self.text(t, "enterprise.namespace", d.namespace),
            self.oid(t, "enterprise.oid", d.oid) or d.oid,
            self.text(t, "enterprise.oid_type", d.oid_type),
        )

    def domain(self, t: Mapping[str, Any], where: str) -> DomainSettings:
        self.check_keys(t, where, _DOMAIN_KEYS)
        sources = tuple(self.each(t, "sources", self.source, prefix=f"{where}.", inline=True))
        return DomainSettings(
            namespace=self.text(t, f"{where}.namespace", None) or "",
            oid=self.oid(t, f"{where}.oid", None),
            oid_type=self.text(t, f"{where}.oid_type", "ISO"),
            sources=sources,
            trusted=self.value(t, f"{where}.trusted", False, bool, "must be true or false"),
        )

    def source(self, t: Mapping[str, Any], where: str) -> SourceSystem:
        self.check_keys(t, where, {"application", "facility"})
        return SourceSystem(
            self.text(t, f"{where}.application", None) or "",
            self.text(t, f"{where}.facility", None) or "",
        )

    def subscriber(self, t: Mapping[str, Any], where: str) -> SubscriberSettings:
        self.check_keys(t, where, _SUBSCRIBER_KEYS)
        port = self.value(t, f"{where}.port", None, int, "must be an integer")
        if port is not None and not 1 <= port <= 65535:
            self.problems.append(f"{where}.port: {port!r} must lie between 1 and 65535")
        domains = self.value(t, f"{where}.domains", [], list, "must be a list of namespaces")
        if not all(isinstance(d, str) and d for d in domains):
            self.problems.append(f"{where}.domains: {domains!r} must be a list of namespaces")
            domains = []
        return SubscriberSettings(
            application=self.text(t, f"{where}.application", None) or "",
            facility=self.text(t, f"{where}.facility", None) or "",
            host=self.text(t, f"{where}.host", None) or "",
            port=port or 0,
            domains=tuple(domains),
        )

    def pix(self, t: Mapping[str, Any]) -> PixSettings:
        return PixSettings(
            self.value(t, "pix.return_queried_identifier", False, bool, "must be true or false")
        )

    def matching(self, t: Mapping[str, Any]) -> MatchingSettings:
        d = MatchingSettings()
        model = self.text(t, "matching.model", None) if "model" in t else ""
        return MatchingSettings(
            self.number(t, "matching.link_threshold", d.link_threshold),
            self.number(t, "matching.review_threshold", d.review_threshold),
            Path(model) if model else None,
        )

    def token(self, t: Mapping[str, Any], where: str) -> ApiToken:
        self.check_keys(t, where, {"token", "role", "name"})
        role_text = self.text(t, f"{where}.role", None)
        role = Role.READER
        if role_text is not None:
            try:
                role = Role(role_text)
            except ValueError:
                self.problems.append(
                    f"{where}.role: {role_text!r} must be one of reader, reviewer, admin"
                )
        index = where.rsplit("[", 1)[-1].rstrip("]")
        return ApiToken(
            token=self.text(t, f"{where}.token", None) or "",
            role=role,
            name=self.text(t, f"{where}.name", f"token-{int(index) + 1}") or "",
        )

    def mllp(self, t: Mapping[str, Any]) -> MllpSettings:
        d = MllpSettings()
        size = self.value(
            t, "mllp.max_message_bytes", d.max_message_bytes, int, "must be an integer"
        )
        if size < 1024:
            self.problems.append(f"mllp.max_message_bytes: {size!r} must be at least 1024")
        idle = self.number(t, "mllp.idle_timeout_seconds", d.idle_timeout_seconds)
        if idle < 0:
            self.problems.append(f"mllp.idle_timeout_seconds: {idle!r} must not be negative")
        return MllpSettings(size, idle)

    # -- primitives ------------------------------------------------------------------------------

    def table(self, value: object, where: str, allowed: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.problems.append(f"{where or 'file'}: {value!r} must be a table")
            return {}
        self.check_keys(value, where, allowed)
        return value

    def check_keys(self, t: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in t:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                self.problems.append(
                    f"{name}: unknown key (allowed here: {', '.join(sorted(allowed))})"
                )

    def each(
        self,
        t: Mapping[str, Any],
        key: str,
        read: Callable[[Mapping[str, Any], str], T],
        *,
        prefix: str = "",
        inline: bool = False,
    ) -> list[T]:
        items = t.get(key, [])
        shape = "a list of inline tables" if inline else f"an array of tables [[{prefix}{key}]]"
        if not isinstance(items, list):
            self.problems.append(f"{prefix}{key}: {items!r} must be {shape}")
            return []
        out = []
        for i, item in enumerate(items):
            where = f"{prefix}{key}[{i}]"
            if not isinstance(item, dict):
                self.problems.append(f"{where}: {item!r} must be a table")
                continue
            out.append(read(item, where))
        return out

    def value(self, t: Mapping[str, Any], where: str, default: Any, kind: type, rule: str) -> Any:
        key = where.rsplit(".", 1)[-1]
        if key not in t:
            if default is None:
                self.problems.append(f"{where}: missing, is required")
            return default
        v = t[key]
        # bool is an int in Python, but `port = true` is a mistake, not 1.
        if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            self.problems.append(f"{where}: {v!r} {rule}")
            return default
        return v

    def text(self, t: Mapping[str, Any], where: str, default: str | None) -> str:
        v = self.value(t, where, default, str, "must be a string")
        if v is not None and not v.strip():
            self.problems.append(f"{where}: {v!r} must not be empty")
        return v if v is not None else ""

    def number(self, t: Mapping[str, Any], where: str, default: float) -> float:
        v = self.value(t, where, default, (int, float), "must be a number")  # type: ignore[arg-type]
        if isinstance(v, bool):
            self.problems.append(f"{where}: {v!r} must be a number")
            return default
        return float(v)

    def oid(self, t: Mapping[str, Any], where: str, default: str | None) -> str | None:
        key = where.rsplit(".", 1)[-1]
        if key not in t:
            return default
        v = t[key]
        if not isinstance(v, str) or not _OID.match(v):
            self.problems.append(f"{where}: {v!r} must be a dotted OID such as 2.999.10.1")
            return None
        return v


_TOP_KEYS = {
    "server",
    "enterprise",
    "domain",
    "subscriber",
    "pix",
    "matching",
    "api",
    "mllp",
    "database",
}
_SERVER_KEYS = {"receiving_application", "receiving_facility"}
_ENT_KEYS = {"namespace", "oid", "oid_type"}
_DOMAIN_KEYS = {"namespace", "oid", "oid_type", "sources", "trusted"}
_SUBSCRIBER_KEYS = {"application", "facility", "host", "port", "domains"}
_MATCH_KEYS = {"link_threshold", "review_threshold", "model"}
_MLLP_KEYS = {"max_message_bytes", "idle_timeout_seconds"}


def _semantic_problems(s: _Parts | Settings) -> list[str]:
    """Rules across values: ranges, order, uniqueness and references."""
    problems: list[str] = []
    m = s.matching
    for name, v in (("link_threshold", m.link_threshold), ("review_threshold", m.review_threshold)):
        if not 0.0 <= v <= 1.0:
            problems.append(f"matching.{name}: {v!r} must lie between 0 and 1")
    if m.review_threshold > m.link_threshold:
        problems.append(
            f"matching.review_threshold: {m.review_threshold!r} must not exceed "
            f"matching.link_threshold ({m.link_threshold!r})"
        )
    problems += _domain_problems(s)
    known = {d.namespace for d in s.domains} | {s.enterprise.namespace}
    for i, sub in enumerate(s.subscribers):
        for ns in sub.domains:
            if s.domains and ns not in known:
                problems.append(
                    f"subscriber[{i}].domains: {ns!r} must be the namespace of a configured "
                    f"[[domain]] or of the enterprise"
                )
    seen_tokens: set[str] = set()
    for i, tok in enumerate(s.api.tokens):
        if tok.token in seen_tokens:
            problems.append(f"api.token[{i}].token: the same token must not be listed twice")
        seen_tokens.add(tok.token)
        if not isinstance(tok.role, Role):
            problems.append(
                f"api.token[{i}].role: {tok.role!r} must be one of reader, reviewer, admin"
            )
    problems += _url_problems(s.database.url)
    return problems


def _domain_problems(s: _Parts | Settings) -> list[str]:
    problems: list[str] = []
    namespaces: dict[str, str] = {}
    oids: dict[str, str] = {}
    entries: list[tuple[str, str, str | None]] = [
        ("enterprise", s.enterprise.namespace, s.enterprise.oid)
    ]
    entries += [(f"domain[{i}]", d.namespace, d.oid) for i, d in enumerate(s.domains)]
    for where, ns, oid in entries:
        if ns in namespaces:
            problems.append(f"{where}.namespace: {ns!r} is already used by {namespaces[ns]}")
        elif ns:
            namespaces[ns] = where
        if oid is not None and oid in oids:
            problems.append(f"{where}.oid: {oid!r} is already used by {oids[oid]}")
        elif oid is not None:
            oids[oid] = where
    for i, d in enumerate(s.domains):
        if len(set(d.sources)) != len(d.sources):
            problems.append(f"domain[{i}].sources: {d.namespace!r} lists the same source twice")
    return problems


def _url_problems(url: str) -> list[str]:
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return [f"database.url: {url!r} must be a database URL such as sqlite:///mpi.db"]
    if backend not in ("sqlite", "postgresql"):
        return [f"database.url: {url!r} must be a sqlite:// or postgresql:// URL"]
    return []
