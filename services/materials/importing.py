"""Bulk import of catalogue materials from CSV: every row validated, bad rows reported by line with
the reason, good rows and their registration events written in the caller's one transaction by
COPY (repository.py).

Columns (header row required; only name, category, grade and origin must have values):
name, synonyms (separated by ";"), category, supplier (name or id of a registered supplier),
catalogue_number, grade, usp1043_tier, origin, origin_species, tse_bse_statement, ph_eur_5_2_12
(true/false/yes/no/1/0), coa_reference, dmf_cep_reference, regulatory_support_file, sms_substance_id,
unii."""

import collections
import csv
import gc
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

from services.materials import events, models
from services.materials.catalogue import material_columns
from services.materials.domain import Category, Grade, MaterialEntry, Origin, QualityAttributes, clean_synonyms
from services.materials.repository import MaterialsUnitOfWork
from shared.problems import Problem, Unprocessable

COLUMNS = (
    "name", "synonyms", "category", "supplier", "catalogue_number", "grade", "usp1043_tier", "origin",
    "origin_species", "tse_bse_statement", "ph_eur_5_2_12", "coa_reference", "dmf_cep_reference",
    "regulatory_support_file", "sms_substance_id", "unii",
)  # fmt: skip
REQUIRED = ("name", "category", "grade", "origin")
MAX_ROWS = 100_000
_TRUE, _FALSE = {"true", "yes", "y", "1"}, {"false", "no", "n", "0", ""}


@dataclass
class Rejected:
    line: int
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def _choice(value: str, vocabulary: type, column: str):  # noqa: ANN202 - a StrEnum member
    try:
        return vocabulary(value.strip().lower())
    except ValueError:
        allowed = ", ".join(v.value for v in vocabulary)
        raise Unprocessable(f"{column} {value!r} is not one of: {allowed}") from None


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _entry(row: dict[str, str], suppliers: dict[str, UUID]) -> MaterialEntry:
    """One row as a catalogue entry, or Unprocessable saying what is wrong with it."""
    if missing := [c for c in REQUIRED if not _optional(row.get(c))]:
        raise Unprocessable(f"missing {', '.join(missing)}")
    supplier_id = None
    if supplier := _optional(row.get("supplier")):
        supplier_id = suppliers.get(supplier.lower())
        if supplier_id is None:
            raise Unprocessable(f"unknown supplier {supplier!r}; register it first (POST /v1/suppliers)")
    tier = _optional(row.get("usp1043_tier"))
    if tier is not None and not tier.isdigit():
        raise Unprocessable(f"usp1043_tier {tier!r} is not a number 1 to 4")
    flag = (row.get("ph_eur_5_2_12") or "").strip().lower()
    if flag not in _TRUE | _FALSE:
        raise Unprocessable(f"ph_eur_5_2_12 {flag!r} is not true or false")
    quality = QualityAttributes(
        grade=_choice(row["grade"], Grade, "grade"),
        origin=_choice(row["origin"], Origin, "origin"),
        usp1043_tier=int(tier) if tier else None,
        origin_species=_optional(row.get("origin_species")),
        tse_bse_statement=_optional(row.get("tse_bse_statement")),
        ph_eur_5_2_12=flag in _TRUE,
        coa_reference=_optional(row.get("coa_reference")),
        dmf_cep_reference=_optional(row.get("dmf_cep_reference")),
        regulatory_support_file=_optional(row.get("regulatory_support_file")),
        sms_substance_id=_optional(row.get("sms_substance_id")),
        unii=_optional(row.get("unii")),
    )
    return MaterialEntry(
        name=row["name"].strip(),
        category=_choice(row["category"], Category, "category"),
        quality=quality,
        synonyms=clean_synonyms((row.get("synonyms") or "").split(";")),
        supplier_id=supplier_id,
        catalogue_number=_optional(row.get("catalogue_number")),
    )


def _reader(text: str) -> csv.DictReader:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    if not header:
        raise Unprocessable("The file is empty: the first line must name the columns.")
    if unknown := [h for h in header if h not in COLUMNS]:
        raise Unprocessable(f"Unknown column(s) {', '.join(unknown)}; the columns are: {', '.join(COLUMNS)}.")
    if missing := [c for c in REQUIRED if c not in header]:
        raise Unprocessable(f"The header lacks the required column(s) {', '.join(missing)}.")
    reader.fieldnames = header
    return reader


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused, if it runs. An import holds its events (hundreds of
    thousands of objects) until they are written and makes no cycles, yet the collector would go
    through all of them about ten times as they accumulate: over a third of the import's time at
    100,000 rows. Meanwhile other requests' cyclic garbage waits a few seconds longer."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


async def import_csv(uow: MaterialsUnitOfWork, text: str, *, dry_run: bool = False) -> ImportReport:
    """Validate every row; insert the good ones (unless `dry_run`) in the caller's transaction.
    Rows are validated as the COPY takes them, so PostgreSQL writes one while the next is checked."""
    with _collector_paused():
        reader = _reader(text)
        names = await uow.suppliers.names()
        suppliers = {name.lower(): sid for sid, name in names.items()} | {str(sid): sid for sid in names}
        report = ImportReport()
        good = _good_rows(reader, suppliers, await uow.materials.catalogue_numbers(), report)
        if dry_run:
            collections.deque(good, maxlen=0)  # validate only
        else:
            await uow.materials.add_many(_registered(uow, good, report))
            await uow.flush_events()  # now rather than at commit: while the collector is paused
    return report


def _good_rows(
    reader: csv.DictReader, suppliers: dict[str, UUID], taken: set[tuple[UUID | None, str]], report: ImportReport
) -> Iterator[dict]:
    """The row values of each good line; each bad one goes to the report with the reason."""
    for row in reader:
        report.rows += 1
        if report.rows > MAX_ROWS:
            raise Unprocessable(f"The file has more than {MAX_ROWS} rows; split it.")
        if None in row:  # more fields than the header names
            report.rejected.append(Rejected(reader.line_num, f"{len(row[None])} value(s) beyond the header's columns"))
            continue
        try:
            entry = _entry(row, suppliers)
        except Problem as exc:
            report.rejected.append(Rejected(reader.line_num, exc.detail))
            continue
        if entry.catalogue_number:
            key = (entry.supplier_id, entry.catalogue_number)
            if key in taken:
                report.rejected.append(
                    Rejected(reader.line_num, f"catalogue number {entry.catalogue_number} of this supplier is "
                             "in the catalogue already (or earlier in this file)")
                )  # fmt: skip
                continue
            taken.add(key)
        yield material_columns(entry)


def _registered(uow: MaterialsUnitOfWork, good: Iterator[dict], report: ImportReport) -> Iterator[dict]:
    """Each good row as a new material's whole row, its registration event emitted."""
    now = models.now()
    for values in good:
        row = values | {"id": uuid.uuid4(), "version": 1, "retired": False,
                        "created_at": now, "created_by": uow.actor, "updated_at": now, "updated_by": uow.actor}  # fmt: skip
        state = events.MaterialState.model_validate(row | {"material_id": row["id"]})
        uow.emit(events.MaterialRegistered(material_id=row["id"], material=state))
        report.imported += 1
        yield row
