"""Scheduling's replicas of facilities and suites, written a consumer's batch at a time: the newest
state of each wins whatever the order it came in, and what the batch reads sees what it staged."""

import uuid

from services.scheduling import models


def facility(facility_id: uuid.UUID, version: int, country: str) -> dict:
    return {"facility_id": facility_id, "version": version, "legal_name": "GMP unit", "country": country,
            "active": True}  # fmt: skip


def suite(suite_id: uuid.UUID, facility_id: uuid.UUID, version: int) -> dict:
    return {"suite_id": suite_id, "facility_id": facility_id, "version": version, "name": f"Suite v{version}",
            "cleanroom_grade": "B", "atmp_types": ["gene_therapy"], "processes": ["fill_finish"]}  # fmt: skip


async def test_a_batch_holds_the_newest_state_of_each_suite_whatever_its_order(scheduling):
    facility_id, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with scheduling.context.db.unit_of_work(actor="service:test") as uow:
        uow.replicas.stage(models.FacilityView, facility(facility_id, 1, "DE"))
        for suite_id, versions in ((first, (2, 4, 3)), (second, (5,))):
            for version in versions:
                uow.replicas.stage(models.SuiteView, suite(suite_id, facility_id, version))
        await uow.commit()
    async with scheduling.context.db.unit_of_work(actor="service:test") as uow:  # a redelivered old state
        uow.replicas.stage(models.SuiteView, suite(first, facility_id, 2))
        await uow.commit()

    held = await scheduling.sql("SELECT suite_id, version, name FROM suite_view ORDER BY version")
    assert [(r.suite_id, r.version, r.name) for r in held] == [(first, 4, "Suite v4"), (second, 5, "Suite v5")]


async def test_what_a_batch_reads_sees_the_states_it_staged(scheduling):
    facility_id = uuid.uuid4()
    async with scheduling.context.db.unit_of_work(actor="service:test") as uow:
        uow.replicas.stage(models.FacilityView, facility(facility_id, 1, "DE"))
        uow.replicas.stage(models.FacilityView, facility(facility_id, 2, "AT"))
        facts = await uow.replicas.risk_facts(facility_id, [], None)
        # leaving without a commit: nothing held

    assert facts.country == "AT"
    assert await scheduling.sql("SELECT 1 FROM facility_view WHERE facility_id = :f", f=facility_id) == []
