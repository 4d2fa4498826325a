"""Catalogue search: free text over names, synonyms and catalogue numbers, typo tolerant, with a
filter on every attribute and a total for pagination.

A material matches the text if any holds: its full-text vector matches (whole words), the text is
a trigram word-similar to part of it (typos: "dynabaeds" finds "Dynabeads"), or it contains the
text (fragments of catalogue numbers). Results rank by full-text rank plus trigram similarity."""

from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select

from services.materials import models
from shared.database import UnitOfWork

# pg_trgm's default word-similarity threshold (0.6) misses one-letter typos in short words.
WORD_SIMILARITY_THRESHOLD = 0.4


@dataclass(frozen=True)
class MaterialFilters:
    category: list[str] | None = None
    grade: list[str] | None = None
    usp1043_tier: list[int] | None = None
    origin: list[str] | None = None
    origin_species: str | None = None
    supplier_id: UUID | None = None
    supplier_country: str | None = None
    supplier_qualification: list[str] | None = None
    catalogue_number: str | None = None
    ph_eur_5_2_12: bool | None = None
    has_coa: bool | None = None
    has_dmf_cep: bool | None = None
    has_regulatory_support_file: bool | None = None
    tse_bse_statement: bool | None = None
    retired: bool | None = False


def _present(column: sa.ColumnElement, wanted: bool) -> sa.ColumnElement:
    return column.is_not(None) if wanted else column.is_(None)


def _conditions(f: MaterialFilters) -> list[sa.ColumnElement]:
    m, s = models.Material, models.Supplier
    conditions: list[sa.ColumnElement] = []
    if f.category:
        conditions.append(m.category.in_(f.category))  # type: ignore[attr-defined]
    if f.grade:
        conditions.append(m.grade.in_(f.grade))  # type: ignore[attr-defined]
    if f.usp1043_tier:
        conditions.append(m.usp1043_tier.in_(f.usp1043_tier))  # type: ignore[union-attr]
    if f.origin:
        conditions.append(m.origin.in_(f.origin))  # type: ignore[attr-defined]
    if f.origin_species:
        conditions.append(sa.func.lower(m.origin_species) == f.origin_species.lower())
    if f.supplier_id:
        conditions.append(m.supplier_id == f.supplier_id)
    if f.supplier_country:
        conditions.append(s.country == f.supplier_country)
    if f.supplier_qualification:
        conditions.append(s.qualification_status.in_(f.supplier_qualification))  # type: ignore[attr-defined]
    if f.catalogue_number:
        conditions.append(sa.func.lower(m.catalogue_number) == f.catalogue_number.lower())
    if f.ph_eur_5_2_12 is not None:
        conditions.append(m.ph_eur_5_2_12.is_(f.ph_eur_5_2_12))  # type: ignore[attr-defined]
    for column, wanted in (
        (m.coa_reference, f.has_coa),
        (m.dmf_cep_reference, f.has_dmf_cep),
        (m.regulatory_support_file, f.has_regulatory_support_file),
        (m.tse_bse_statement, f.tse_bse_statement),
    ):
        if wanted is not None:
            conditions.append(_present(column, wanted))  # type: ignore[arg-type]
    if f.retired is not None:
        conditions.append(m.retired.is_(f.retired))  # type: ignore[attr-defined]
    return conditions


async def search_materials(
    uow: UnitOfWork, text: str | None, filters: MaterialFilters, limit: int, offset: int
) -> tuple[list[tuple[models.Material, models.Supplier | None, float | None]], int]:
    """One page of matching materials (with supplier and relevance) and the total count."""
    m, s = models.Material, models.Supplier
    conditions = _conditions(filters)
    score: sa.ColumnElement | None = None
    if text and text.strip():
        needle = " ".join(text.lower().split())
        await uow.session.execute(sa.text(f"SET LOCAL pg_trgm.word_similarity_threshold = {WORD_SIMILARITY_THRESHOLD}"))
        tsquery = sa.func.websearch_to_tsquery("simple", needle)
        conditions.append(
            sa.or_(
                m.search_vector.op("@@")(tsquery),  # type: ignore[union-attr]
                sa.literal(needle).op("<%")(m.search_text),
                m.search_text.contains(needle, autoescape=True),  # type: ignore[attr-defined]
            )
        )
        score = sa.func.ts_rank(m.search_vector, tsquery) + sa.func.word_similarity(needle, m.search_text)
    base = select(m, s).join(s, s.id == m.supplier_id, isouter=True).where(*conditions)  # type: ignore[arg-type]
    total = await uow.session.scalar(select(sa.func.count()).select_from(base.subquery()))
    if score is not None:
        page = base.add_columns(score.label("score")).order_by(sa.desc("score"), m.name, m.id)
    else:
        page = base.add_columns(sa.null().label("score")).order_by(m.name, m.id)
    rows = (await uow.session.exec(page.limit(limit).offset(offset))).all()  # type: ignore[call-overload]
    return [(row[0], row[1], row[2]) for row in rows], int(total or 0)
