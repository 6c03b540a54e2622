"""The one exception tree of :mod:`mpi`.

Every error the application raises on purpose is an :class:`MpiError`. The
structured subclasses take the field, the offending value and the rule that was
broken, and their message names all three, so an HTTP 4xx body, an HL7 ERR
segment or a CLI line can be built without guessing::

    MpiError
    ├── ConfigError          settings file or overrides invalid (lists every problem)
    ├── NotFound             an entity that should exist does not        (HTTP 404, HL7 204)
    │   ├── UnknownIdentifier   a queried id is not (or no longer) registered (PIX case 3)
    │   └── UnknownDomain    an identity domain that is not configured   (HL7 204)
    │       ├── UnknownSourceDomain      the queried id's domain (PIX case 4)
    │       └── UnknownRequestedDomains  requested result domains, each listed (PIX case 5)
    ├── Conflict             the change clashes with the stored state    (HTTP 409)
    │   ├── DuplicateRecord  (domain, id) already registered: retry as an update
    │   └── InvalidState     e.g. merging a person that is already merged
    ├── InvalidQuery         a query criterion is malformed or unsupported, or the query too broad
    ├── AccessDenied         a bearer token is missing or lacks the role (HTTP 401/403)
    └── StoreError           the database failed (connection, migration)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AccessDenied",
    "ConfigError",
    "Conflict",
    "DuplicateRecord",
    "InvalidQuery",
    "InvalidState",
    "MpiError",
    "NotFound",
    "StoreError",
    "UnknownDomain",
    "UnknownIdentifier",
    "UnknownRequestedDomains",
    "UnknownSourceDomain",
]


class MpiError(Exception):
    """Base class of every error :mod:`mpi` raises on purpose."""


class ConfigError(MpiError, ValueError):
    """The configuration is invalid; ``problems`` lists every problem found, not just the first.

    Attributes:
        problems: one line per problem, each naming the key, the value and the rule.
        source: the file the settings came from, if any.
    """

    def __init__(self, problems: Iterable[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        super().__init__(
            f"invalid configuration{where} ({len(self.problems)} problem"
            f"{'' if len(self.problems) == 1 else 's'}):\n  - " + "\n  - ".join(self.problems)
        )


class _FieldError(MpiError):
    """An error about one field's value breaking one rule."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: {value!r} {rule}")


class NotFound(_FieldError, LookupError):
    """An entity that the request names does not exist.

    Attributes:
        field: what was looked up (``"source record"``, ``"person"``, ``"review"``).
        value: the key used (``"NORTHGEN|NG-1"``, an enterprise id, a review id).
        rule: why it does not count as found (``"is not registered"``).
    """

    def __init__(self, field: str, value: object, rule: str = "does not exist") -> None:
        super().__init__(field, value, rule)


class UnknownDomain(NotFound):
    """An identity domain (by namespace or OID) that the MPI does not accept."""

    def __init__(
        self, value: object, field: str = "domain", rule: str = "is not a known identity domain"
    ) -> None:
        super().__init__(field, value, rule)


class UnknownSourceDomain(UnknownDomain):
    """The domain of a queried identifier is unknown (HL7: 204 at its CX.4, ``QPD^1^3^1^4``)."""

    def __init__(
        self,
        value: object,
        rule: str = "is not a known identity domain",
        *,
        position: int | None = None,
    ) -> None:
        self.position = position  # which query criterion named it (PDQ), if known
        super().__init__(value, "source identifier domain", rule)


class UnknownRequestedDomains(UnknownDomain):
    """Requested result domains that are unknown, each with its position in the request.

    Attributes:
        positions: 0-based positions in the caller's list of requested domains
            (HL7: one ERR-2 ``QPD^1^4^<position + 1>`` each, ``QPD^1^8^...`` for PDQ).
        values: the unknown domains as given (``namespace&oid``), in the same order.
    """

    def __init__(self, unknown: Iterable[tuple[int, str]]) -> None:
        pairs = list(unknown)
        self.positions = tuple(p for p, _ in pairs)
        self.values = tuple(v for _, v in pairs)
        shown = ", ".join(f"#{p + 1} {v!r}" for p, v in pairs)
        super().__init__(shown, "requested domains", "are not known identity domains")


class UnknownIdentifier(NotFound):
    """A queried identifier is not registered in its (known) domain (HL7: 204 at ``QPD^1^3^1^1``).

    An id subsumed by an A40 merge counts as unknown: ``subsumed_by`` then names
    the surviving record (``NS|id``).
    """

    def __init__(self, domain: str, identifier: str, *, subsumed_by: str | None = None) -> None:
        self.domain = domain
        self.identifier = identifier
        self.subsumed_by = subsumed_by
        rule = (
            f"was merged into {subsumed_by} (A40) and is no longer known"
            if subsumed_by
            else "is not registered in this domain"
        )
        super().__init__("identifier", f"{domain}|{identifier}", rule)


class Conflict(_FieldError):
    """The change clashes with what is stored (a uniqueness rule, a state rule)."""


class DuplicateRecord(Conflict):
    """Another transaction registered the same ``(domain, id)`` first.

    The unit of work that got this has been left usable (the failed insert ran
    in a savepoint); the caller re-reads the record and applies its change as
    an update instead. See :mod:`mpi.store` for the full retry pattern.
    """

    def __init__(self, domain: str, source_id: str) -> None:
        self.domain = domain
        self.source_id = source_id
        super().__init__("source record", f"{domain}|{source_id}", "is already registered")


class InvalidState(Conflict):
    """The entity is in a state that does not allow the operation."""


class InvalidQuery(_FieldError):
    """A demographic query cannot be run as given.

    Attributes:
        kind: ``"malformed"`` (a value of the wrong form, e.g. a bad date: HL7 102),
            ``"unsupported"`` (a field that cannot be searched: HL7 103) or
            ``"too-broad"`` (no selective criterion, or more matches than the
            service returns at all: HL7 101 on QPD-3).
        position: which criterion (0-based, in the caller's order), if one is to blame.
    """

    def __init__(
        self, field: str, value: object, rule: str, *, kind: str, position: int | None = None
    ) -> None:
        self.kind = kind
        self.position = position
        super().__init__(field, value, rule)


class AccessDenied(_FieldError):
    """A bearer token is missing, unknown, or its role is not allowed to do this."""


class StoreError(MpiError):
    """The database failed: unreachable, a failed migration, an unexpected constraint."""
