"""Catalogue use cases: suppliers, materials and their alternatives. The caller commits.

Inventory and the reservation saga live in inventory.py, shortages in shortages.py, the CSV import
in importing.py and free-text search in search.py."""

from uuid import UUID

import sqlalchemy as sa
from sqlmodel import select

from services.materials import events, models
from services.materials.domain import MaterialEntry, QualificationStatus
from shared.database import UnitOfWork, get_or_404
from shared.errors import Conflict, NotFound, Unprocessable


def material_state(m: models.Material) -> events.MaterialState:
    return events.MaterialState(
        material_id=m.id,
        version=m.version,
        name=m.name,
        category=m.category,
        supplier_id=m.supplier_id,
        catalogue_number=m.catalogue_number,
        grade=m.grade,
        usp1043_tier=m.usp1043_tier,
        origin=m.origin,
        retired=m.retired,
        synonyms=list(m.synonyms),
        origin_species=m.origin_species,
        tse_bse_statement=m.tse_bse_statement,
        ph_eur_5_2_12=m.ph_eur_5_2_12,
        coa_reference=m.coa_reference,
        dmf_cep_reference=m.dmf_cep_reference,
        regulatory_support_file=m.regulatory_support_file,
    )


def material_columns(entry: MaterialEntry) -> dict:
    """The row values a catalogue entry sets (shared by the API and the bulk import)."""
    q = entry.quality
    return {
        "name": entry.name.strip(),
        "synonyms": list(entry.synonyms),
        "category": entry.category.value,
        "supplier_id": entry.supplier_id,
        "catalogue_number": entry.catalogue_number.strip() if entry.catalogue_number else None,
        "grade": q.grade.value,
        "usp1043_tier": q.usp1043_tier,
        "origin": q.origin.value,
        "origin_species": q.origin_species,
        "tse_bse_statement": q.tse_bse_statement,
        "ph_eur_5_2_12": q.ph_eur_5_2_12,
        "coa_reference": q.coa_reference,
        "dmf_cep_reference": q.dmf_cep_reference,
        "regulatory_support_file": q.regulatory_support_file,
        "search_text": entry.search_text(),
    }


# --- suppliers ----------------------------------------------------------------------------------


def supplier_updated(s: models.Supplier) -> events.SupplierUpdated:
    return events.SupplierUpdated(
        supplier_id=s.id,
        version=s.version,
        name=s.name,
        country=s.country,
        qualification_status=s.qualification_status,
        note=s.note,
    )


async def register_supplier(
    uow: UnitOfWork, name: str, country: str, status: QualificationStatus, note: str | None
) -> models.Supplier:
    name = name.strip()
    same_name = sa.func.lower(models.Supplier.name) == name.lower()
    taken = await uow.session.scalar(sa.select(models.Supplier.id).where(same_name))
    if taken:
        raise Conflict(f"A supplier named {name!r} exists already ({taken}).")
    supplier = models.Supplier(
        name=name, country=country, qualification_status=status.value, note=note,
        created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.session.add(supplier)
    uow.emit(
        events.SupplierRegistered(
            supplier_id=supplier.id, name=name, country=country, qualification_status=status.value, version=1
        )
    )
    return supplier


async def get_supplier(uow: UnitOfWork, supplier_id: UUID, *, for_update: bool = False) -> models.Supplier:
    return await get_or_404(uow.session, models.Supplier, supplier_id, "supplier", lock=for_update)


async def update_supplier(uow: UnitOfWork, supplier_id: UUID, changes: dict) -> models.Supplier:
    supplier = await get_supplier(uow, supplier_id, for_update=True)
    changed = {k: v for k, v in changes.items() if getattr(supplier, k) != v}
    if not changed:
        return supplier
    for key, value in changed.items():
        setattr(supplier, key, value)
    supplier.version += 1
    supplier.updated_at, supplier.updated_by = models.now(), uow.actor
    uow.session.add(supplier)
    uow.emit(supplier_updated(supplier))
    return supplier


async def list_suppliers(uow: UnitOfWork, country: str | None, status: str | None) -> list[models.Supplier]:
    query = select(models.Supplier).order_by(models.Supplier.name)
    if country:
        query = query.where(models.Supplier.country == country)
    if status:
        query = query.where(models.Supplier.qualification_status == status)
    return list((await uow.session.exec(query)).all())


# --- materials ----------------------------------------------------------------------------------


async def _check_catalogue_number(uow: UnitOfWork, entry: MaterialEntry, except_id: UUID | None = None) -> None:
    if entry.supplier_id is None:
        return
    await get_supplier(uow, entry.supplier_id)
    if entry.catalogue_number:
        query = sa.select(models.Material.id).where(
            models.Material.supplier_id == entry.supplier_id,
            models.Material.catalogue_number == entry.catalogue_number.strip(),
        )
        if except_id:
            query = query.where(models.Material.id != except_id)
        if taken := await uow.session.scalar(query):
            raise Conflict(f"This supplier's catalogue number {entry.catalogue_number} is material {taken} already.")


async def register_material(uow: UnitOfWork, entry: MaterialEntry) -> models.Material:
    await _check_catalogue_number(uow, entry)
    material = models.Material(**material_columns(entry), created_by=uow.actor, updated_by=uow.actor)
    uow.session.add(material)
    uow.emit(events.MaterialRegistered(material_id=material.id, material=material_state(material)))
    return material


async def get_material(uow: UnitOfWork, material_id: UUID, *, for_update: bool = False) -> models.Material:
    return await get_or_404(uow.session, models.Material, material_id, "material", lock=for_update)


async def update_material(
    uow: UnitOfWork, material: models.Material, entry: MaterialEntry, retired: bool
) -> models.Material:
    """Apply a new catalogue entry to a material locked by the caller; no change, no event."""
    await _check_catalogue_number(uow, entry, except_id=material.id)
    columns = material_columns(entry) | {"retired": retired}
    changed = {k: v for k, v in columns.items() if getattr(material, k) != v}
    if not changed:
        return material
    for key, value in changed.items():
        setattr(material, key, value)
    material.version += 1
    material.updated_at, material.updated_by = models.now(), uow.actor
    uow.session.add(material)
    uow.emit(events.MaterialUpdated(material_id=material.id, material=material_state(material)))
    return material


# --- alternatives -------------------------------------------------------------------------------


async def name_alternative(uow: UnitOfWork, material_id: UUID, alternative_id: UUID, note: str) -> None:
    if material_id == alternative_id:
        raise Unprocessable("A material cannot be its own alternative.")
    await get_material(uow, material_id, for_update=True)  # serialises naming on one material
    alternative = await get_material(uow, alternative_id)
    if alternative.retired:
        raise Conflict(f"Material {alternative_id} is retired; it cannot be named as an alternative.")
    link = await uow.session.get(models.MaterialAlternative, (material_id, alternative_id))
    if link is None:
        link = models.MaterialAlternative(
            material_id=material_id, alternative_id=alternative_id, note=note,
            created_by=uow.actor, updated_by=uow.actor,
        )  # fmt: skip
    elif not link.withdrawn and link.note == note:
        return
    link.note, link.withdrawn = note, False
    link.updated_at, link.updated_by = models.now(), uow.actor
    uow.session.add(link)
    uow.emit(events.AlternativeNamed(material_id=material_id, alternative_id=alternative_id, note=note))


async def withdraw_alternative(uow: UnitOfWork, material_id: UUID, alternative_id: UUID, reason: str) -> None:
    link = await uow.session.get(models.MaterialAlternative, (material_id, alternative_id), with_for_update=True)
    if link is None or link.withdrawn:
        raise NotFound(f"Material {material_id} does not name {alternative_id} as an alternative.")
    link.withdrawn = True
    link.updated_at, link.updated_by = models.now(), uow.actor
    uow.session.add(link)
    uow.emit(events.AlternativeWithdrawn(material_id=material_id, alternative_id=alternative_id, reason=reason))


async def alternatives_of(
    uow: UnitOfWork, material_ids: list[UUID]
) -> list[tuple[models.MaterialAlternative, models.Material, models.Supplier | None]]:
    """The current, non-retired alternatives named by these materials, with their suppliers."""
    if not material_ids:
        return []
    query = (
        select(models.MaterialAlternative, models.Material, models.Supplier)
        .join(models.Material, models.Material.id == models.MaterialAlternative.alternative_id)
        .join(models.Supplier, models.Supplier.id == models.Material.supplier_id, isouter=True)
        .where(
            models.MaterialAlternative.material_id.in_(material_ids),  # type: ignore[attr-defined]
            models.MaterialAlternative.withdrawn.is_(False),  # type: ignore[attr-defined]
            models.Material.retired.is_(False),  # type: ignore[attr-defined]
        )
        .order_by(models.Material.name)
    )
    return [tuple(row) for row in (await uow.session.exec(query)).all()]  # type: ignore[misc]
