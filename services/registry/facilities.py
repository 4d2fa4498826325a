"""Registry use cases for facilities and suites: load, apply the domain's rules, save, emit events.
The caller commits. Every change locks the facility row and bumps its version, so changes to one
facility (its profile, suites or certificates) are serialised and consumers can order them."""

from dataclasses import replace
from uuid import UUID

from services.registry import events, models
from services.registry.domain import FacilityProfile, SuiteSpec, check_profile_change, check_version
from services.registry.repository import RegistryUnitOfWork
from shared.problems import Conflict, NotFound

# --- event-carried state -----------------------------------------------------------------------


def facility_state(facility: models.Facility) -> events.FacilityState:
    return events.FacilityState.model_validate(facility, from_attributes=True)


def suite_state(suite: models.Suite) -> events.SuiteState:
    return events.SuiteState.model_validate(suite, from_attributes=True)


def profile_of(facility: models.Facility) -> FacilityProfile:
    return FacilityProfile(**{name: getattr(facility, name) for name in FacilityProfile.field_names()})


def spec_of(suite: models.Suite) -> SuiteSpec:
    return SuiteSpec(**{name: _tupled(getattr(suite, name)) for name in SuiteSpec.field_names()})


def _tupled(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _suite_columns(spec: SuiteSpec) -> dict[str, object]:
    """The spec as the suite row holds it (lists of terms)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in vars(spec).items()}


# --- the aggregate -------------------------------------------------------------------------------


async def lock_facility(uow: RegistryUnitOfWork, facility_id: UUID, *, must_be_active: bool = True) -> models.Facility:
    """The facility, locked for this transaction; a deactivated one takes no changes unless asked."""
    facility = await uow.facilities.lock(facility_id)
    if must_be_active and not facility.active:
        raise Conflict(f"Facility {facility_id} is deactivated ({facility.deactivation_reason}); it takes no changes.")
    return facility


def touch(uow: RegistryUnitOfWork, facility: models.Facility) -> int:
    """Record a change to the aggregate; return its new version."""
    facility.version += 1
    facility.updated_at = models.now()
    facility.updated_by = uow.actor or "unknown"
    return facility.version


# --- facility ------------------------------------------------------------------------------------


async def check_location_free(uow: RegistryUnitOfWork, location: str | None, *, other_than: UUID | None = None) -> None:
    """One active facility per OMS location: a second one would be the same site twice."""
    if location and (holder := await uow.facilities.at_location(location, other_than=other_than)):
        raise Conflict(
            f"OMS location {location} is facility {holder} already; a site is onboarded once.",
            oms_location_id=location, facility_id=str(holder),
        )  # fmt: skip


async def register_facility(uow: RegistryUnitOfWork, profile: FacilityProfile) -> models.Facility:
    await check_location_free(uow, profile.oms_location_id)
    facility = models.Facility(**vars(profile), created_by=uow.actor, updated_by=uow.actor)
    uow.facilities.add(facility)
    uow.emit(events.FacilityRegistered(facility_id=facility.id, version=1, facility=facility_state(facility)))
    return facility


async def update_profile(
    uow: RegistryUnitOfWork,
    facility_id: UUID,
    changes: dict[str, object],
    *,
    expected_version: int | None,
    by_admin: bool,
) -> models.Facility:
    facility = await lock_facility(uow, facility_id)
    if expected_version is not None:
        check_version(facility.version, expected_version)
    check_profile_change(changes, by_admin=by_admin)
    profile = replace(profile_of(facility), **changes)  # re-validates the whole profile
    if profile.oms_location_id != facility.oms_location_id:
        await check_location_free(uow, profile.oms_location_id, other_than=facility_id)
    for name, value in vars(profile).items():
        setattr(facility, name, value)
    version = touch(uow, facility)
    uow.emit(events.FacilityUpdated(facility_id=facility.id, version=version, facility=facility_state(facility)))
    return facility


async def set_facility_active(
    uow: RegistryUnitOfWork, facility_id: UUID, active: bool, reason: str, *, expected_version: int | None
) -> models.Facility:
    """Deactivate a facility, or undo that (a mistake, a site reopened), with a reason. Certificates
    are left as they are: one revoked or lapsed meanwhile must be issued anew before booking."""
    facility = await lock_facility(uow, facility_id, must_be_active=not active)
    if active and facility.active:
        raise Conflict(f"Facility {facility_id} is active; only a deactivated facility can be reactivated.")
    if expected_version is not None:
        check_version(facility.version, expected_version)
    if active:
        await check_location_free(uow, facility.oms_location_id, other_than=facility_id)
    facility.active = active
    facility.deactivated_at, facility.deactivated_by, facility.deactivation_reason = (
        (None, None, None) if active else (models.now(), uow.actor, reason)
    )
    version = touch(uow, facility)
    event = events.FacilityReactivated if active else events.FacilityDeactivated
    uow.emit(event(facility_id=facility.id, version=version, facility=facility_state(facility), reason=reason))
    return facility


# --- suites --------------------------------------------------------------------------------------


async def _check_name_free(
    uow: RegistryUnitOfWork, facility_id: UUID, name: str, *, other_than: UUID | None = None
) -> None:
    if await uow.suites.name_taken(facility_id, name, other_than=other_than):
        raise Conflict(f"The facility already has a suite named {name!r}.")


async def _lock_suite(uow: RegistryUnitOfWork, facility_id: UUID, suite_id: UUID) -> models.Suite:
    suite = await uow.suites.lock(suite_id)
    if suite is None or suite.facility_id != facility_id:
        raise NotFound(f"Facility {facility_id} has no suite {suite_id}.")
    if suite.retired:
        raise Conflict(f"Suite {suite_id} is retired; it takes no changes.")
    return suite


async def add_suite(
    uow: RegistryUnitOfWork, facility_id: UUID, spec: SuiteSpec
) -> tuple[models.Facility, models.Suite]:
    facility = await lock_facility(uow, facility_id)
    await _check_name_free(uow, facility_id, spec.name)
    suite = models.Suite(
        facility_id=facility_id, **_suite_columns(spec), created_by=uow.actor, updated_by=uow.actor
    )  # fmt: skip
    uow.suites.add(suite)
    version = touch(uow, facility)
    uow.emit(events.SuiteAdded(facility_id=facility_id, version=version, suite=suite_state(suite)))
    return facility, suite


async def update_suite(
    uow: RegistryUnitOfWork,
    facility_id: UUID,
    suite_id: UUID,
    changes: dict[str, object],
    *,
    expected_version: int | None,
) -> tuple[models.Facility, models.Suite]:
    facility = await lock_facility(uow, facility_id)
    if expected_version is not None:
        check_version(facility.version, expected_version)
    suite = await _lock_suite(uow, facility_id, suite_id)
    spec = replace(spec_of(suite), **changes)  # re-validates the whole suite
    if spec.name != suite.name:
        await _check_name_free(uow, facility_id, spec.name, other_than=suite_id)
    for name, value in _suite_columns(spec).items():
        setattr(suite, name, value)
    suite.updated_at, suite.updated_by = models.now(), uow.actor
    version = touch(uow, facility)
    uow.emit(events.SuiteUpdated(facility_id=facility_id, version=version, suite=suite_state(suite)))
    return facility, suite


async def retire_suite(
    uow: RegistryUnitOfWork, facility_id: UUID, suite_id: UUID, reason: str
) -> tuple[models.Facility, models.Suite]:
    facility = await lock_facility(uow, facility_id, must_be_active=False)
    suite = await _lock_suite(uow, facility_id, suite_id)
    suite.retired = True
    suite.retired_at, suite.retired_by, suite.retirement_reason = models.now(), uow.actor, reason
    suite.updated_at, suite.updated_by = suite.retired_at, uow.actor
    version = touch(uow, facility)
    uow.emit(events.SuiteRetired(facility_id=facility_id, version=version, suite=suite_state(suite), reason=reason))
    return facility, suite
