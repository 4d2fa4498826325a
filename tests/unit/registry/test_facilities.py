"""Facility and suite use cases on an in-memory unit of work: what each change saves and announces."""

import pytest

from services.registry import events, facilities
from services.registry.domain import FacilityProfile, SuiteSpec
from shared.problems import Conflict, PreconditionFailed, Unprocessable
from tests.unit.registry.fakes import FakeUnitOfWork

PROFILE = FacilityProfile(
    legal_name="Charité GMP Unit", kind="hospital", country="DE", city="Berlin", address="Augustenburger Platz 1",
    contact_email="qa@gmp.example.org", authorisation_number="DE_BE_01", authorisation_authority="DE-LAGeSo",
)  # fmt: skip
SUITE = SuiteSpec(name="Suite 2", cleanroom_grade="B", atmp_types=("somatic_cell_therapy",), processes=("car_t",))


async def registered(uow: FakeUnitOfWork):
    facility = await facilities.register_facility(uow, PROFILE)
    await uow.commit()
    return facility


async def test_a_registered_facility_is_announced_with_its_whole_profile_at_version_one():
    uow = FakeUnitOfWork()

    facility = await registered(uow)

    assert uow.facilities.rows == {facility.id: facility}
    [event] = uow.published
    assert isinstance(event, events.FacilityRegistered)
    assert event.version == 1 and event.facility.version == 1
    assert event.facility.legal_name == "Charité GMP Unit" and event.facility.active
    assert facility.created_by == "admin:hub-operator"


async def test_a_profile_change_bumps_the_version_and_announces_the_new_state():
    uow = FakeUnitOfWork()
    facility = await registered(uow)
    uow.actor = "facility:qa-lead"

    await facilities.update_profile(uow, facility.id, {"city": "Potsdam"}, expected_version=1, by_admin=False)
    await uow.commit()

    assert facility.city == "Potsdam" and facility.version == 2 and facility.updated_by == "facility:qa-lead"
    assert isinstance(uow.published[-1], events.FacilityUpdated)
    assert uow.published[-1].facility.city == "Potsdam" and uow.published[-1].version == 2


async def test_a_change_based_on_a_stale_version_or_to_the_authorisation_by_the_facility_is_refused():
    uow = FakeUnitOfWork()
    facility = await registered(uow)

    with pytest.raises(PreconditionFailed):
        await facilities.update_profile(uow, facility.id, {"city": "Potsdam"}, expected_version=0, by_admin=False)
    with pytest.raises(Unprocessable, match="Only the hub operator"):
        await facilities.update_profile(
            uow, facility.id, {"authorisation_number": "X"}, expected_version=None, by_admin=False
        )
    assert facility.version == 1 and facility.city == "Berlin"
    assert uow.pending == []


async def test_a_suite_is_added_with_its_capabilities_and_bumps_the_facility_version():
    uow = FakeUnitOfWork()
    facility = await registered(uow)

    _, suite = await facilities.add_suite(uow, facility.id, SUITE)
    await uow.commit()

    assert uow.suites.rows == {suite.id: suite}
    assert suite.processes == ["car_t"] and facility.version == 2
    event = uow.published[-1]
    assert isinstance(event, events.SuiteAdded)
    assert (
        event.version == 2 and event.suite.suite_id == suite.id and event.suite.atmp_types == ["somatic_cell_therapy"]
    )


async def test_two_live_suites_never_share_a_name_but_a_retired_ones_name_is_free_again():
    uow = FakeUnitOfWork()
    facility = await registered(uow)
    _, first = await facilities.add_suite(uow, facility.id, SUITE)

    with pytest.raises(Conflict, match="already has a suite named 'Suite 2'"):
        await facilities.add_suite(uow, facility.id, SUITE)

    await facilities.retire_suite(uow, facility.id, first.id, "Room converted to a QC lab")
    _, second = await facilities.add_suite(uow, facility.id, SUITE)
    assert first.retired and not second.retired
    with pytest.raises(Conflict, match="retired"):
        await facilities.update_suite(uow, facility.id, first.id, {"qp_release": True}, expected_version=None)


async def test_a_deactivated_facility_takes_no_new_suite_until_it_is_reactivated():
    uow = FakeUnitOfWork()
    facility = await registered(uow)

    await facilities.set_facility_active(uow, facility.id, False, "Site closed", expected_version=1)
    with pytest.raises(Conflict, match="deactivated"):
        await facilities.add_suite(uow, facility.id, SUITE)
    await facilities.set_facility_active(uow, facility.id, True, "Site reopened", expected_version=None)
    await facilities.add_suite(uow, facility.id, SUITE)
    await uow.commit()

    assert [type(e) for e in uow.published[1:]] == [
        events.FacilityDeactivated,
        events.FacilityReactivated,
        events.SuiteAdded,
    ]
    assert [e.version for e in uow.published] == [1, 2, 3, 4]
