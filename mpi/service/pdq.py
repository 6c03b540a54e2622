"""PDQ: find persons by demographics (ITI-21 over MLLP, ITI-78 PDQm over HTTP).

:class:`PdqService` runs a :class:`PdqCriteria` against the index and returns
one :class:`PersonMatch` per **person** (its records grouped), best first, each
with a score: the match probability of the person's best record against the
criteria, computed by the real-time matcher (:mod:`matching.scalar`).

How criteria compare (values are folded exactly as the matcher folds them,
:mod:`matching.normalise`: case, accents, umlauts written ``ae/oe/ue``, ``ß``
as ``ss``, punctuation; HL7 escapes are already decoded by the codec):

* family and given name: the record's primary name, exact or with a trailing
  ``*`` as a prefix; middle name and mother's maiden name likewise;
* birth date: ``YYYY``, ``YYYYMM`` or ``YYYYMMDD``, the stored date at that
  precision (a year finds every date in it);
* sex: ``M F O U`` (HL7 ``A``/``N`` mapped as the feed maps them);
* identifier: an id (``*`` suffix allowed when a domain is given) in a domain
  (namespace and/or OID, completed from the registry), the record's own id
  or one carried in its PID-3; a domain alone means "has a record there";
* address parts (street, city, state, postcode, country): any of the stored
  addresses; phone: any stored phone, compared as digits;
* mother's identifier (PID-21): children of that mother record.

Speed: every query needs at least one indexed criterion (an identifier, a
family or given name, a birth date, a phone, a mother's identifier) and is
answered from indexes (names, birth date, ``(domain, id)``, carried ids,
blocking keys, mother-child links); the other criteria filter those records.
A query matching more than ``max_records`` records is refused as too broad
(:class:`~mpi.errors.InvalidQuery`), so an answer never costs a table scan.

Fuzzy search: with ``min_score`` set (HL7 QPD-4, FHIR ``_score`` thresholds),
records sharing a blocking key with the criteria are scored as well and every
record whose match probability reaches ``min_score`` is returned, exact or
not (``SMYTH`` finds ``SMITH``).

Requested domains (QPD-8) restrict each person's identifiers; a person with
no identifier in them is not returned; an unknown domain is an
:class:`~mpi.errors.UnknownRequestedDomains` error. The enterprise id is
returned in the enterprise domain like any other id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from hl7.model import Address, AssigningAuthority, Identifier, PatientDemographics, PersonName
from hl7.model import Telecom as HlTelecom
from matching.normalise import (
    normalise_digits,
    normalise_name,
    normalise_postcode,
    normalise_text,
)
from matching.prepare import prepare_record
from matching.record import Record, parse_birth_date
from matching.scoring import score_pair
from mpi.domain import IdentityDomain, RecordQuery, SourceRecordRef
from mpi.errors import InvalidQuery, UnknownDomain, UnknownSourceDomain
from mpi.service.context import ServiceContext
from mpi.service.pix import DomainCache, DomainName, PixIdentifier
from mpi.store import UnitOfWork
from mpi.store.records import RecordView

__all__ = [
    "MAX_RECORDS",
    "IdentifierCriterion",
    "PdqCriteria",
    "PdqHit",
    "PdqService",
    "PersonMatch",
    "criteria_from_parameters",
    "demographics_from_pid",
    "parse_birth_date_criterion",
    "parse_sex_criterion",
]

MAX_RECORDS = 1000
"""Default cap on the records one query may match (more: too broad)."""

_SEXES = {"M": "M", "F": "F", "O": "O", "A": "O", "D": "O", "X": "O", "U": "U", "N": "U"}


@dataclass(frozen=True, slots=True)
class IdentifierCriterion:
    """An identifier to search for: id (``*`` suffix: prefix), domain, or both.

    Attributes:
        id: CX.1 (``""``: any id in ``domain``).
        domain: CX.4 as given (may be partial or empty).
    """

    id: str = ""
    domain: DomainName = field(default_factory=DomainName)


@dataclass(frozen=True, slots=True)
class PdqCriteria:
    """What a PDQ asks for; every criterion given must hold (see the module doc).

    ``positions`` maps a criterion's name to its position in the request (the
    HL7 QPD-3 repetition), so an error can point at it.
    """

    identifier: IdentifierCriterion | None = None
    family_name: str | None = None
    given_name: str | None = None
    middle_name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    postcode: str | None = None
    country: str | None = None
    phone: str | None = None
    mother_maiden_name: str | None = None
    mother_identifier: IdentifierCriterion | None = None
    positions: Mapping[str, int] = field(default_factory=dict, compare=False)

    def position(self, name: str) -> int | None:
        """Where the criterion ``name`` was given, if known."""
        return self.positions.get(name)

    @property
    def is_empty(self) -> bool:
        """Whether no criterion is given at all."""
        return all(
            getattr(self, f.name) in (None, "") for f in fields(self) if f.name != "positions"
        )


@dataclass(frozen=True, slots=True)
class PdqHit:
    """A person found, before its demographics are loaded (what continuation keeps).

    Attributes:
        enterprise_id: the person (``None``: an unlinked record, a person of its own).
        record_pk: the person's best-matching record.
        score: its match probability against the criteria.
        identifiers: the person's ids to return (requested domains applied).
        view: the record as read by the search, so that :meth:`PdqService.load`
            need not read it again (an answer's increments show one snapshot).
    """

    enterprise_id: str | None
    record_pk: int
    score: float
    identifiers: tuple[PixIdentifier, ...]
    view: RecordView | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class PersonMatch:
    """A person found, with the demographics to return.

    Attributes:
        hit: who and how well.
        record: the best-matching source record.
        patient: its full stored demographics (every name, address, phone,
            mother's data), PID-3 replaced by ``hit.identifiers``.
    """

    hit: PdqHit
    record: RecordView
    patient: PatientDemographics

    @property
    def score(self) -> float:
        """The match probability."""
        return self.hit.score


class PdqService:
    """Demographic search, shared by the MLLP and HTTP adapters.

    Args:
        context: the store and the matcher.
        cache: a shared domain snapshot (one is made if ``None``).
        max_records: the most records one query may match before it is refused.
        fuzzy_candidates: about how many records fuzzy mode scores at most (spread
            evenly over the criteria's blocking keys, newest first per key), which
            bounds its cost (~0.1 ms per record).
    """

    def __init__(
        self,
        context: ServiceContext,
        cache: DomainCache | None = None,
        *,
        max_records: int = MAX_RECORDS,
        fuzzy_candidates: int = 300,
    ) -> None:
        self._context = context
        self.cache = cache if cache is not None else DomainCache(context.store)
        self.max_records = max_records
        self.fuzzy_candidates = fuzzy_candidates

    def search(
        self,
        criteria: PdqCriteria,
        requested: Sequence[DomainName] = (),
        *,
        min_score: float | None = None,
    ) -> list[PdqHit]:
        """Every person matching ``criteria``, best first (score, then name, then id).

        Args:
            criteria: what to look for.
            requested: the domains to return ids of (empty: all).
            min_score: switch to fuzzy search with this match-probability floor.

        Raises:
            UnknownRequestedDomains: a requested domain is unknown.
            InvalidQuery: a malformed or unsupported criterion, or a query too broad.
        """
        wanted = self.cache.requested(requested)

        def search(
            uow: UnitOfWork,
        ) -> tuple[list[RecordView], dict[int, float], dict[str, list[SourceRecordRef]]]:
            found = self._exact(uow, criteria)
            records = [r for r in found if _passes(r, criteria)]
            if min_score is not None:
                records = self._with_fuzzy(uow, criteria, records)
            scored = self._scores(criteria, records)
            if min_score is not None:
                records = [r for r in records if scored[r.pk] >= min_score]
            persons = uow.records.refs_of_persons(
                {r.enterprise_id for r in records if r.enterprise_id}
            )
            return records, scored, persons

        records, scored, persons = self._context.store.read(search)
        return self._group(records, scored, persons, wanted)

    def load(self, hits: Sequence[PdqHit]) -> list[PersonMatch]:
        """The demographics of ``hits`` (one increment of an answer), in their order.

        Hits carry the record as the search read it; others are read now, and a
        record that has disappeared since (merged away) is skipped.
        """
        by_pk = {h.record_pk: h.view for h in hits if h.view is not None}
        missing = [h.record_pk for h in hits if h.view is None]
        if missing:
            views = self._context.store.read(lambda uow: uow.records.views(missing))
            by_pk.update({r.pk: r for r in views})
        out: list[PersonMatch] = []
        for hit in hits:
            record = by_pk.get(hit.record_pk)
            if record is None:
                continue
            patient = replace(
                demographics_from_pid(record.pid, record.demographics),
                identifiers=tuple(_cx(i) for i in hit.identifiers),
            )
            out.append(PersonMatch(hit, record, patient))
        return out

    # -- finding --------------------------------------------------------------------------------

    def _exact(self, uow: UnitOfWork, c: PdqCriteria) -> list[RecordView]:
        """Keys of the records meeting the indexed criteria (the rest is :func:`_passes`)."""
        within: set[int] | None = None
        for anchor in (self._phone_anchor(uow, c), self._mother_anchor(uow, c)):
            if anchor is not None:
                within = anchor if within is None else within & anchor
        domain, id_prefix, by_id = self._identifier_anchor(uow, c)
        if by_id is not None:
            within = by_id if within is None else within & by_id
        query = RecordQuery(
            family_name=_name_value(c.family_name),
            given_name=_name_value(c.given_name),
            birth_date=c.birth_date,
            sex=c.sex,
        )
        named = bool(query.family_name or query.given_name or query.birth_date)
        if within is None and domain is None and not named:
            raise InvalidQuery(
                "QPD-3",
                "",
                "needs an identifier, a family or given name, a birth date, a phone "
                "or a mother's identifier",
                kind="too-broad",
            )
        if within is not None and not within:
            return []
        found = uow.records.search_views(
            query, within=within, domain=domain, id_prefix=id_prefix, limit=self.max_records + 1
        )
        if len(found) > self.max_records:
            raise InvalidQuery(
                "QPD-3",
                "",
                f"matches more than {self.max_records} records: add criteria",
                kind="too-broad",
            )
        return found

    def _identifier_anchor(
        self, uow: UnitOfWork, c: PdqCriteria
    ) -> tuple[str | None, str | None, set[int] | None]:
        """``(domain, id prefix, keys)``: a domain-scoped search, or the records of an id."""
        ident = c.identifier
        if ident is None:
            return None, None, None
        position = c.position("identifier")
        where = c.position("identifier.domain")
        namespace = self._domain(ident.domain, where) if _given(ident.domain) else None
        if not ident.id.endswith("*") and (ident.id or namespace is None):
            return None, None, set(self._identifier_pks(uow, ident.id, namespace))
        if namespace is None:
            raise InvalidQuery(
                "identifier",
                ident.id,
                "a wildcard id needs its domain",
                kind="unsupported",
                position=position,
            )
        return namespace, ident.id.rstrip("*") or None, None

    def _domain(self, name: DomainName, position: int | None) -> str:
        try:
            return self.cache.resolve(name).namespace
        except UnknownDomain as e:
            raise UnknownSourceDomain(e.value, e.rule, position=position) from e

    def _identifier_pks(self, uow: UnitOfWork, ident: str, namespace: str | None) -> list[int]:
        if namespace is not None:
            return uow.records.identifier_pks(SourceRecordRef(namespace, ident))
        # No domain: the id in any domain (few domains, each an index lookup).
        pks: list[int] = []
        for domain in uow.domains.all():
            pks.extend(uow.records.identifier_pks(SourceRecordRef(domain.namespace, ident)))
        return sorted(set(pks))

    def _phone_anchor(self, uow: UnitOfWork, c: PdqCriteria) -> set[int] | None:
        """Records sharing the phone's blocking key (``None``: no phone asked)."""
        if not c.phone:
            return None
        digits = normalise_digits(c.phone)
        # A record holding only the phone has only phone keys.
        keys = (
            self._context.matcher.lookup_keys(Record("pdq-phone", phone=digits)) if digits else []
        )
        return set(uow.blocking.candidate_pks(keys, limit_per_key=self.max_records + 1))

    def _mother_anchor(self, uow: UnitOfWork, c: PdqCriteria) -> set[int] | None:
        """The child records of the mother record named (``None``: no mother's id asked)."""
        mother = c.mother_identifier
        if mother is None:
            return None
        position = c.position("mother_identifier")
        if not _given(mother.domain):
            raise InvalidQuery(
                "mother identifier",
                mother.id,
                "needs its domain (PID-21.4)",
                kind="unsupported",
                position=position,
            )
        where = c.position("mother_identifier.domain")
        mother_ref = SourceRecordRef(self._domain(mother.domain, where), mother.id)
        if uow.records.get(mother_ref) is None:
            return set()
        children: set[int] = set()
        for child in uow.relations.children_of(mother_ref):
            children.update(uow.records.identifier_pks(child))
        return children

    def _with_fuzzy(
        self, uow: UnitOfWork, c: PdqCriteria, exact: list[RecordView]
    ) -> list[RecordView]:
        keys = self._context.matcher.lookup_keys(_as_record(c))
        per_key = max(10, self.fuzzy_candidates // max(1, len(keys)))
        pks = uow.blocking.candidate_pks(keys, limit_per_key=per_key)
        seen = {r.pk for r in exact}
        return exact + uow.records.views(pk for pk in pks if pk not in seen)

    def _scores(self, c: PdqCriteria, records: Iterable[RecordView]) -> dict[int, float]:
        matcher = self._context.matcher
        plain = _as_record(c)
        prepared_plain = prepare_record(plain)
        has_wildcard = any((getattr(c, name) or "").endswith("*") for name in _WILDCARD_FIELDS)
        out: dict[int, float] = {}
        for r in records:
            left = prepared_plain
            if has_wildcard:
                # A wildcard criterion a record meets counts as that record's own value.
                completed = _completed(c, r.demographics, plain)
                left = prepared_plain if completed is plain else prepare_record(completed)
            right = prepare_record(r.demographics)
            score = score_pair(matcher.model, left, right, plain.record_id, str(r.ref))
            out[r.pk] = score.match_probability
        return out

    # -- grouping -------------------------------------------------------------------------------

    def _group(
        self,
        records: list[RecordView],
        scores: Mapping[int, float],
        persons: Mapping[str, list[SourceRecordRef]],
        wanted: Sequence[IdentityDomain],
    ) -> list[PdqHit]:
        best: dict[str, RecordView] = {}
        for r in records:
            key = r.enterprise_id or f"record:{r.pk}"
            current = best.get(key)
            if current is None or (scores[r.pk], -r.pk) > (scores[current.pk], -current.pk):
                best[key] = r
        namespaces = {d.namespace for d in wanted}
        hits: list[tuple[tuple[Any, ...], PdqHit]] = []
        for r in best.values():
            refs = persons.get(r.enterprise_id, [r.ref]) if r.enterprise_id else [r.ref]
            ids = self._identifiers(r.enterprise_id, refs, namespaces)
            if not ids:
                continue  # nothing in the requested domains: PID-3 would be empty
            d = r.demographics
            order = (-scores[r.pk], normalise_name(d.family_name) or "", d.given_name or "", r.pk)
            hits.append((order, PdqHit(r.enterprise_id, r.pk, scores[r.pk], ids, r)))
        hits.sort(key=lambda pair: pair[0])
        return [h for _, h in hits]

    def _identifiers(
        self, enterprise_id: str | None, refs: Sequence[SourceRecordRef], namespaces: set[str]
    ) -> tuple[PixIdentifier, ...]:
        all_refs = list(refs)
        if enterprise_id is not None:
            enterprise = self.cache.enterprise()
            all_refs.insert(0, SourceRecordRef(enterprise.namespace, enterprise_id))
        return tuple(
            PixIdentifier(ref.id, self.cache.require(ref.domain))
            for ref in dict.fromkeys(all_refs)
            if not namespaces or ref.domain in namespaces
        )


# -- criteria against one record -----------------------------------------------------------------


def _given(name: DomainName) -> bool:
    return bool(name.namespace or name.oid)


def _name_value(value: str | None) -> str | None:
    """A name criterion for the store, ``*`` kept; ``None`` if nothing is left of it."""
    if not value:
        return None
    stem = value.rstrip("*")
    if not normalise_name(stem):
        return None if value.endswith("*") else value
    return value


def _matches(wanted: str | None, stored: Iterable[str | None], fold: Any) -> bool:
    """Whether any stored value equals ``wanted`` (or starts with it, for ``X*``) after folding."""
    if not wanted:
        return True
    prefix = wanted.endswith("*")
    target = fold(wanted.rstrip("*")) or ""
    for value in stored:
        folded = fold(value) if value else None
        if folded is None:
            continue
        if folded == target or (prefix and folded.startswith(target)):
            return True
    return False


def _passes(record: RecordView, c: PdqCriteria) -> bool:
    """The criteria the indexes did not already apply."""
    d = record.demographics
    patient = demographics_from_pid(record.pid, d)
    addresses = patient.addresses or (Address(street=d.street or "", city=d.city or ""),)
    mother = patient.mother_maiden_name.family if patient.mother_maiden_name else None
    phones = [t.number for t in (*patient.home_phones, *patient.business_phones)] + [d.phone]
    checks = (
        _matches(c.middle_name, [d.middle_name], normalise_name),
        _matches(c.street, [a.street for a in addresses], normalise_text),
        _matches(c.city, [a.city for a in addresses], normalise_text),
        _matches(c.state, [a.state for a in addresses], normalise_text),
        _matches(c.postcode, [a.postcode for a in addresses] + [d.postcode], normalise_postcode),
        _matches(c.country, [a.country for a in addresses], normalise_text),
        _matches(c.mother_maiden_name, [mother, d.mother_maiden_name], normalise_name),
        not c.phone or normalise_digits(c.phone) in {normalise_digits(p) for p in phones if p},
    )
    return all(checks)


def _plain(value: str | None) -> str | None:
    if value is None:
        return None
    return value.rstrip("*").strip() or None


def _as_record(c: PdqCriteria) -> Record:
    """The criteria as a record for the matcher (wildcards stripped)."""
    return Record(
        record_id="pdq-query",
        given_name=_plain(c.given_name),
        middle_name=_plain(c.middle_name),
        family_name=_plain(c.family_name),
        birth_date=c.birth_date,
        sex=c.sex,
        street=_plain(c.street),
        city=_plain(c.city),
        postcode=_plain(c.postcode),
        phone=_plain(c.phone),
        mother_maiden_name=_plain(c.mother_maiden_name),
    )


_WILDCARD_FIELDS = (
    "family_name",
    "given_name",
    "middle_name",
    "street",
    "city",
    "postcode",
    "mother_maiden_name",
)


def _completed(c: PdqCriteria, stored: Record, plain: Record) -> Record:
    changes: dict[str, str] = {}
    for name in _WILDCARD_FIELDS:
        wanted = getattr(c, name) or ""
        value = getattr(stored, name)
        fold = normalise_postcode if name == "postcode" else normalise_text
        if wanted.endswith("*") and value and _matches(wanted, [value], fold):
            changes[name] = value
    return replace(plain, **changes) if changes else plain


def _cx(identifier: PixIdentifier) -> Identifier:
    d = identifier.domain
    authority = (
        AssigningAuthority(d.namespace, d.oid, d.oid_type or "ISO")
        if d.oid
        else AssigningAuthority(d.namespace)
    )
    return Identifier(identifier.id, authority, "PI")


# -- stored PID ---------------------------------------------------------------------------------


def demographics_from_pid(
    pid: Mapping[str, Any], fallback: Record | None = None
) -> PatientDemographics:
    """The demographics stored as ``dataclasses.asdict(PatientDemographics)`` (the feed's form).

    Missing keys take their defaults; an empty PID (a bulk-loaded record)
    falls back to the record's canonical fields.
    """
    if not pid.get("names") and fallback is not None:
        return _from_record(fallback)
    return PatientDemographics(
        identifiers=tuple(_identifier(i) for i in pid.get("identifiers") or ()),
        names=tuple(_dc(PersonName, n) for n in pid.get("names") or ()),
        mother_maiden_name=_dc(PersonName, pid["mother_maiden_name"])
        if pid.get("mother_maiden_name")
        else None,
        birth_date=pid.get("birth_date"),
        sex=pid.get("sex"),
        addresses=tuple(_dc(Address, a) for a in pid.get("addresses") or ()),
        home_phones=tuple(_dc(HlTelecom, t) for t in pid.get("home_phones") or ()),
        business_phones=tuple(_dc(HlTelecom, t) for t in pid.get("business_phones") or ()),
        language=pid.get("language"),
        marital_status=pid.get("marital_status"),
        national_id=_identifier(pid["national_id"]) if pid.get("national_id") else None,
        mother_identifiers=tuple(_identifier(i) for i in pid.get("mother_identifiers") or ()),
        multiple_birth=pid.get("multiple_birth"),
        birth_order=pid.get("birth_order"),
        death_indicator=pid.get("death_indicator"),
    )


def _dc(cls: Any, values: Mapping[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names and v is not None})


def _identifier(values: Mapping[str, Any]) -> Identifier:
    authority = values.get("authority") or {}
    return Identifier(
        str(values.get("id", "")),
        _dc(AssigningAuthority, authority),
        str(values.get("type_code") or ""),
    )


def _from_record(d: Record) -> PatientDemographics:
    name = PersonName(d.family_name or "", d.given_name or "", d.middle_name or "", name_type="L")
    address = Address(street=d.street or "", city=d.city or "", postcode=d.postcode or "")
    phones = (HlTelecom(number=d.phone),) if d.phone else ()
    return PatientDemographics(
        names=(name,) if not name.is_empty else (),
        mother_maiden_name=PersonName(d.mother_maiden_name) if d.mother_maiden_name else None,
        birth_date=d.birth_date,
        sex=d.sex,
        addresses=(address,) if address != Address() else (),
        home_phones=phones,
    )


def parse_birth_date_criterion(value: str, position: int | None = None) -> str:
    """A birth-date criterion as digits at its precision.

    Raises:
        InvalidQuery: not a date (kind ``malformed``).
    """
    try:
        digits = parse_birth_date(value)
    except ValueError as e:
        raise InvalidQuery(
            "birth date",
            value,
            "must be YYYY, YYYYMM or YYYYMMDD",
            kind="malformed",
            position=position,
        ) from e
    if digits is None:
        raise InvalidQuery("birth date", value, "is empty", kind="malformed", position=position)
    return digits


def parse_sex_criterion(value: str, position: int | None = None) -> str:
    """A sex criterion as ``M F O U``.

    Raises:
        InvalidQuery: not an HL7 Table 0001 code (kind ``malformed``).
    """
    sex = _SEXES.get(value.strip().upper())
    if sex is None:
        raise InvalidQuery(
            "sex",
            value,
            "must be M, F, O, U, A or N (Table 0001)",
            kind="malformed",
            position=position,
        )
    return sex


# -- HL7 QPD-3 ----------------------------------------------------------------------------------

# QPD-3 field path -> criterion; "" = accepted and ignored (type codes, HD.3).
_PATHS: dict[str, str] = {
    **dict.fromkeys(("PID.3", "PID.3.1"), "identifier.id"),
    **dict.fromkeys(("PID.3.4", "PID.3.4.1"), "identifier.namespace"),
    "PID.3.4.2": "identifier.oid",
    **dict.fromkeys(("PID.3.4.3", "PID.3.5", "PID.21.4.3", "PID.21.5", "PID.5.7"), ""),
    **dict.fromkeys(("PID.5", "PID.5.1", "PID.5.1.1"), "family_name"),
    "PID.5.2": "given_name",
    "PID.5.3": "middle_name",
    **dict.fromkeys(("PID.6", "PID.6.1", "PID.6.1.1"), "mother_maiden_name"),
    **dict.fromkeys(("PID.7", "PID.7.1"), "birth_date"),
    **dict.fromkeys(("PID.8", "PID.8.1"), "sex"),
    **dict.fromkeys(("PID.11", "PID.11.1", "PID.11.1.1"), "street"),
    "PID.11.3": "city",
    "PID.11.4": "state",
    "PID.11.5": "postcode",
    "PID.11.6": "country",
    **dict.fromkeys(("PID.13", "PID.13.1", "PID.13.12", "PID.14", "PID.14.1"), "phone"),
    **dict.fromkeys(("PID.21", "PID.21.1"), "mother_identifier.id"),
    **dict.fromkeys(("PID.21.4", "PID.21.4.1"), "mother_identifier.namespace"),
    "PID.21.4.2": "mother_identifier.oid",
}


def criteria_from_parameters(parameters: Sequence[tuple[str, str]]) -> PdqCriteria:
    """ITI-21 QPD-3 ``(path, value)`` pairs (``PID.5.1.1``, ``SMITH``) as criteria.

    Raises:
        InvalidQuery: a path that cannot be searched (``unsupported``), a bad
            date or sex (``malformed``); ``position`` is the pair's index.
    """
    values: dict[str, Any] = {}
    positions: dict[str, int] = {}
    for position, (path, value) in enumerate(parameters):
        target = _PATHS.get(path)
        if target is None:
            raise InvalidQuery(
                "QPD-3",
                f"@{path}",
                "is not a searchable field",
                kind="unsupported",
                position=position,
            )
        if not target:
            continue
        criterion, _, part = target.partition(".")
        positions.setdefault(criterion, position)
        if part in ("namespace", "oid"):  # an identifier's domain is located on its own
            positions.setdefault(criterion + ".domain", position)
        if target == "birth_date":
            value = parse_birth_date_criterion(value, position)
        elif target == "sex":
            value = parse_sex_criterion(value, position)
        values[target] = value
    out: dict[str, Any] = {}
    for prefix in ("identifier", "mother_identifier"):
        parts = {k.split(".")[1]: v for k, v in values.items() if k.startswith(prefix + ".")}
        if parts:
            out[prefix] = IdentifierCriterion(
                parts.get("id", ""), DomainName(parts.get("namespace", ""), parts.get("oid", ""))
            )
    out.update({k: v for k, v in values.items() if "." not in k})
    return PdqCriteria(**out, positions=positions)
