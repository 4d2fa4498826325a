"""Scheduling rules without a database: slot plans, booking transitions, approvals, at-risk reasons."""

import uuid
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scheduling.domain import (
    ApprovalFacts,
    BookingStatus,
    CertificateFacts,
    Period,
    RiskFacts,
    RunKind,
    ShortageFacts,
    at_risk_reasons,
    awaiting_materials,
    certificate_risks,
    check_clinical_approval,
    check_run_started,
    hold_expired,
    materials_ask_due,
    materials_overdue,
    plan_slots,
    require_status,
    shortage_risks,
    weekly_slots,
    window_slots,
)
from shared.errors import Conflict, Unprocessable

NOW = datetime(2027, 3, 1, 6, tzinfo=UTC)
MONDAY = datetime(2027, 3, 1, 8, tzinfo=UTC)


def test_a_window_is_cut_into_whole_slots():
    slots = window_slots(MONDAY, MONDAY + timedelta(hours=20), 480)
    assert [(s.starts_at.hour, s.ends_at.hour) for s in slots] == [(8, 16), (16, 0)]
    with_gap = window_slots(MONDAY, MONDAY + timedelta(hours=20), 240, gap_minutes=60)
    assert [s.starts_at.hour for s in with_gap] == [8, 13, 18, 23]


def test_weekly_recurrence_on_chosen_weekdays_until_a_date():
    slots = weekly_slots(MONDAY, MONDAY + timedelta(hours=8), date(2027, 3, 14), [0, 2, 4])
    assert [s.starts_at.date().isoformat() for s in slots] == [
        "2027-03-01", "2027-03-03", "2027-03-05", "2027-03-08", "2027-03-10", "2027-03-12",
    ]  # fmt: skip
    assert len(weekly_slots(MONDAY, MONDAY + timedelta(hours=8), date(2027, 3, 29), None)) == 5
    with pytest.raises(Unprocessable):
        weekly_slots(MONDAY, MONDAY + timedelta(hours=8), date(2027, 2, 1), None)


def test_plans_refuse_naive_times_the_past_and_overlaps():
    with pytest.raises(Unprocessable, match="time zone"):
        plan_slots([Period(datetime(2027, 3, 1, 8), datetime(2027, 3, 1, 9))], now=NOW)
    with pytest.raises(Unprocessable, match="past"):
        plan_slots([Period(NOW - timedelta(hours=1), NOW + timedelta(hours=1))], now=NOW)
    with pytest.raises(Unprocessable, match="overlap"):
        plan_slots(
            [
                Period(MONDAY, MONDAY + timedelta(hours=2)),
                Period(MONDAY + timedelta(hours=1), MONDAY + timedelta(hours=3)),
            ],
            now=NOW,
        )
    with pytest.raises(Unprocessable, match="no slot"):
        plan_slots([], now=NOW)


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(1, 48)), min_size=1, max_size=30))
def test_an_accepted_plan_never_overlaps(raw):
    periods = [Period(MONDAY + timedelta(hours=h), MONDAY + timedelta(hours=h + length)) for h, length in raw]
    try:
        planned = plan_slots(periods, now=NOW)
    except Unprocessable:
        return
    for a, b in pairwise(planned):
        assert a.ends_at <= b.starts_at


def test_transitions_and_hold_expiry():
    booking_id = uuid.uuid4()
    require_status(booking_id, "held", (BookingStatus.HELD,), "confirmed")
    with pytest.raises(Conflict, match="cancelled; only a confirmed booking can be completed"):
        require_status(booking_id, "cancelled", (BookingStatus.CONFIRMED,), "completed")
    assert hold_expired(NOW - timedelta(seconds=1), NOW)
    assert not hold_expired(None, NOW)  # awaiting materials: no clock
    assert awaiting_materials("held", NOW) and awaiting_materials("materials_short", NOW)
    assert not awaiting_materials("confirmed", NOW) and not awaiting_materials("held", None)


def test_a_run_is_completed_only_once_it_has_started():
    check_run_started(MONDAY, MONDAY)
    with pytest.raises(Conflict, match="once it has started"):
        check_run_started(MONDAY, MONDAY - timedelta(minutes=1))


def test_clinical_runs_need_a_fitting_approved_approval():
    facility, approval_id = uuid.uuid4(), uuid.uuid4()
    approved = ApprovalFacts(approval_id, "approved", "ORG-1", [facility])
    check_clinical_approval(RunKind.CLINICAL, approved, approval_id, "ORG-1", facility)
    check_clinical_approval(RunKind.ENGINEERING, None, None, "ORG-1", facility)
    for approval, org, where, error in [
        (None, "ORG-1", facility, Unprocessable),
        (approved, "ORG-2", facility, Unprocessable),
        (approved, "ORG-1", uuid.uuid4(), Unprocessable),
        (ApprovalFacts(approval_id, "suspended_by_parent", "ORG-1", [facility]), "ORG-1", facility, Conflict),
    ]:
        with pytest.raises(error):
            check_clinical_approval(RunKind.CLINICAL, approval, approval_id, org, where)


def test_at_risk_reasons():
    today = date(2027, 3, 1)
    valid = CertificateFacts("DE-1", "valid", date(2028, 1, 1))
    suspended = CertificateFacts("DE-2", "suspended", date(2028, 1, 1), "critical deviation")
    lapsed = CertificateFacts("DE-3", "valid", date(2027, 2, 1))
    assert certificate_risks([valid, suspended], today) == []
    assert certificate_risks([suspended, lapsed], today) == [
        "GMP certificate DE-2 is suspended: critical deviation", "GMP certificate DE-3 is expired."
    ]  # fmt: skip
    needed, other = uuid.uuid4(), uuid.uuid4()
    reasons = shortage_risks([needed], [ShortageFacts(needed, "high", "recall"), ShortageFacts(other, "low")], "DE")
    assert reasons == [f"Material {needed} is short (high): recall"]
    suspended_approval = ApprovalFacts(uuid.uuid4(), "suspended_by_parent", "ORG-1", [])
    facts = RiskFacts([suspended], "DE", [ShortageFacts(needed, "high", "recall")], suspended_approval)
    assert at_risk_reasons(facts, [needed], today) == [
        "GMP certificate DE-2 is suspended: critical deviation", f"Material {needed} is short (high): recall",
        f"Approval {suspended_approval.approval_id} is suspended_by_parent.",
    ]  # fmt: skip
    assert at_risk_reasons(RiskFacts([valid], None), [needed], today) == []


def test_a_shortage_flags_a_material_once_and_only_where_it_is_short():
    il2 = uuid.uuid4()
    in_germany = ShortageFacts(il2, "medium", "distributor stock-out", "IL-2", ("DE",))
    in_the_eu = ShortageFacts(il2, "critical", "supplier recall", "IL-2", ("EU",))
    assert shortage_risks([il2], [in_germany, in_the_eu], "DE") == ["IL-2 is short (critical): supplier recall"]
    assert shortage_risks([il2], [in_germany], "FR") == []
    assert shortage_risks([il2], [in_the_eu], "NO") == []  # Norway is in the EEA, not the EU
    assert shortage_risks([il2], [ShortageFacts(il2, "low", None, "IL-2", ("EEA",))], "NO") == ["IL-2 is short (low)."]
    assert shortage_risks([il2], [ShortageFacts(il2, "high")], "CH") == ["Material " + str(il2) + " is short (high)."]


def test_the_saga_asks_again_only_past_its_deadline():
    asked = NOW - timedelta(seconds=30)
    assert materials_ask_due(asked, NOW, retry_seconds=30)
    assert not materials_ask_due(asked, NOW, retry_seconds=31)
    assert not materials_ask_due(None, NOW, retry_seconds=0)  # nothing asked: nothing awaited


def test_a_saga_is_escalated_once_every_allowed_request_went_unanswered():
    assert not materials_overdue(attempts=4, max_attempts=5, overdue_since=None)
    assert materials_overdue(attempts=5, max_attempts=5, overdue_since=None)
    assert not materials_overdue(attempts=7, max_attempts=5, overdue_since=NOW)  # told already
