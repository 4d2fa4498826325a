"""Catalogue use cases: suppliers, materials and the alternatives materials name. The caller commits.

The bulk CSV import is in importing.py; what the catalogue answers with (lists, search, histories)
in queries.py."""

from collections.abc import Callable
from uuid import UUID

from services.materials import events, models
from services.materials.domain import MaterialEntry, QualificationStatus
from services.materials.repository import MaterialsUnitOfWork
from shared.problems import Conflict, NotFound, Unprocessable

# The whole entry a material has after a change, given the material as it is under its lock.
Revision = Callable[[models.Material], MaterialEntry]


def material_state(m: models.Material) -> events.MaterialState:
    return events.MaterialState.model_validate(m.model_dump() | {"material_id": m.id})


def material_columns(entry: MaterialEntry) -> dict:
    """The row values a catalogue entry sets (shared by registration, revision and the bulk import)."""
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
        "sms_substance_id": q.sms_substance_id,
        "unii": q.unii,
        "search_text": entry.search_text(),
    }


def _revise(row: models.Supplier | models.Material, values: dict, actor: str | None) -> bool:
    """Set the values that differ, as a new version by `actor`; False when none differ."""
    changed = {key: value for key, value in values.items() if getattr(row, key) != value}
    for key, value in changed.items():
        setattr(row, key, value)
    if changed:
        row.version += 1
        row.updated_at, row.updated_by = models.now(), actor
    return bool(changed)


# --- suppliers ----------------------------------------------------------------------------------


async def register_supplier(
    uow: MaterialsUnitOfWork, name: str, country: str, status: QualificationStatus, note: str | None
) -> models.Supplier:
    name = name.strip()
    if taken := await uow.suppliers.named(name):
        raise Conflict(f"A supplier named {name!r} exists already ({taken}).")
    supplier = models.Supplier(
        name=name, country=country, qualification_status=status.value, note=note,
        created_by=uow.actor, updated_by=uow.actor,
    )  # fmt: skip
    uow.suppliers.add(supplier)
    uow.emit(events.SupplierRegistered.model_validate(supplier.model_dump() | {"supplier_id": supplier.id}))
    return supplier


async def update_supplier(uow: MaterialsUnitOfWork, supplier_id: UUID, changes: dict) -> models.Supplier:
    """Change a supplier's details or qualification status; no change, no event."""
    supplier = await uow.suppliers.get(supplier_id, lock=True)
    if _revise(supplier, changes, uow.actor):
        uow.suppliers.add(supplier)
        uow.emit(events.SupplierUpdated.model_validate(supplier.model_dump() | {"supplier_id": supplier.id}))
    return supplier


# --- materials ----------------------------------------------------------------------------------


async def _supplier_of(
    uow: MaterialsUnitOfWork, entry: MaterialEntry, material_id: UUID | None = None
) -> models.Supplier | None:
    """The entry's supplier, which must be registered; its catalogue number must name no other material."""
    if entry.supplier_id is None:
        return None
    supplier = await uow.suppliers.get(entry.supplier_id)
    if entry.catalogue_number:
        number = entry.catalogue_number.strip()
        if taken := await uow.materials.with_catalogue_number(entry.supplier_id, number, other_than=material_id):
            raise Conflict(f"This supplier's catalogue number {entry.catalogue_number} is material {taken} already.")
    return supplier


async def register_material(
    uow: MaterialsUnitOfWork, entry: MaterialEntry
) -> tuple[models.Material, models.Supplier | None]:
    """The new material, with its supplier."""
    supplier = await _supplier_of(uow, entry)
    material = models.Material(**material_columns(entry), created_by=uow.actor, updated_by=uow.actor)
    uow.materials.add(material)
    uow.emit(events.MaterialRegistered(material_id=material.id, material=material_state(material)))
    return material, supplier


async def update_material(
    uow: MaterialsUnitOfWork, material_id: UUID, revise: Revision, retired: bool | None
) -> tuple[models.Material, models.Supplier | None]:
    """Give a material the entry `revise` makes of it, and retire it (or bring it back) when
    `retired` says so; no change, no event. The material, with its supplier."""
    material = await uow.materials.get(material_id, lock=True)
    entry = revise(material)
    supplier = await _supplier_of(uow, entry, material.id)
    columns = material_columns(entry) | {"retired": material.retired if retired is None else retired}
    if _revise(material, columns, uow.actor):
        uow.materials.add(material)
        uow.emit(events.MaterialUpdated(material_id=material.id, material=material_state(material)))
    return material, supplier


# --- alternatives -------------------------------------------------------------------------------


async def name_alternative(uow: MaterialsUnitOfWork, material_id: UUID, alternative_id: UUID, note: str) -> None:
    """Name an equivalent of a material (again, after a withdrawal), or change the note on what differs."""
    if material_id == alternative_id:
        raise Unprocessable("A material cannot be its own alternative.")
    await uow.materials.get(material_id, lock=True)  # serialises naming on one material
    alternative = await uow.materials.get(alternative_id)
    if alternative.retired:
        raise Conflict(f"Material {alternative_id} is retired; it cannot be named as an alternative.")
    link = await uow.alternatives.get(material_id, alternative_id)
    if link is None:
        link = models.MaterialAlternative(
            material_id=material_id, alternative_id=alternative_id, note=note,
            created_by=uow.actor, updated_by=uow.actor,
        )  # fmt: skip
    elif not link.withdrawn and link.note == note:
        return
    link.note, link.withdrawn = note, False
    link.updated_at, link.updated_by = models.now(), uow.actor
    uow.alternatives.add(link)
    uow.emit(events.AlternativeNamed(material_id=material_id, alternative_id=alternative_id, note=note))


async def withdraw_alternative(uow: MaterialsUnitOfWork, material_id: UUID, alternative_id: UUID, reason: str) -> None:
    link = await uow.alternatives.get(material_id, alternative_id, lock=True)
    if link is None or link.withdrawn:
        raise NotFound(f"Material {material_id} does not name {alternative_id} as an alternative.")
    link.withdrawn = True
    link.updated_at, link.updated_by = models.now(), uow.actor
    uow.alternatives.add(link)
    uow.emit(events.AlternativeWithdrawn(material_id=material_id, alternative_id=alternative_id, reason=reason))
