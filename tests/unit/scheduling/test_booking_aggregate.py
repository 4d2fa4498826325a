"""The booking aggregate: every move of the saga and of the booking's life, in memory."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling.domain import Booking, BookingChange, BookingStatus
from shared.problems import Conflict, Unprocessable

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
C = BookingChange


def kinds(changes) -> list[BookingChange]:
    return [change for _, change in changes]


def held(needs_materials: bool = True, **fields) -> Booking:
    return Booking(
        id=uuid.uuid4(), status=BookingStatus.HELD, org_id="ORG-1", starts_at=NOW + timedelta(days=30),
        needs_materials=needs_materials, hold_expires_at=NOW + timedelta(minutes=15), **fields,
    )  # fmt: skip


def test_confirming_asks_materials_once_and_stops_the_hold_clock():
    booking = held()
    assert kinds(booking.confirm(NOW)) == [C.CONFIRMED]
    assert booking.awaiting_materials and booking.hold_expires_at is None
    assert (booking.materials_attempts, booking.materials_asked_at) == (1, NOW)
    assert kinds(booking.confirm(NOW)) == []  # a repeat changes nothing
    assert kinds(booking.expire(NOW + timedelta(days=1))) == []  # awaiting materials: it does not run out


def test_a_booking_needing_no_materials_is_confirmed_at_once():
    booking = held(needs_materials=False)
    assert kinds(booking.confirm(NOW)) == [C.CONFIRMED, C.MATERIALS_RESERVED]
    assert booking.status is BookingStatus.CONFIRMED and not booking.awaiting_materials


def test_an_expired_hold_cannot_be_confirmed():
    booking = held()
    with pytest.raises(Conflict, match="expired"):
        booking.confirm(NOW + timedelta(minutes=16))


def test_materials_answer_settles_the_booking_once():
    booking = held()
    booking.confirm(NOW)
    assert kinds(booking.materials_reserved()) == [C.MATERIALS_RESERVED]
    assert booking.status is BookingStatus.CONFIRMED
    assert kinds(booking.materials_reserved()) == [] and booking.materials_short([], NOW, 900) == []  # late answers


def test_short_materials_give_a_fresh_hold_and_may_be_confirmed_again():
    booking = held()
    booking.confirm(NOW)
    short = [{"material_id": str(uuid.uuid4()), "requested": "5", "available": "1", "unit": "mL"}]
    assert kinds(booking.materials_short(short, NOW, hold_ttl_seconds=900)) == [C.MATERIALS_SHORT]
    assert booking.status is BookingStatus.MATERIALS_SHORT and booking.shortfalls == short
    assert booking.hold_expires_at == NOW + timedelta(seconds=900)
    assert kinds(booking.confirm(NOW + timedelta(minutes=5))) == [C.CONFIRMED]
    assert booking.shortfalls == []


def test_past_the_deadline_materials_is_asked_again_and_escalated_after_the_last_attempt():
    booking = held()
    booking.confirm(NOW)
    assert kinds(booking.ask_materials_again(NOW + timedelta(seconds=29), retry_seconds=30, max_attempts=3)) == []
    later = NOW
    for attempt in (2, 3):
        later += timedelta(seconds=30)
        assert kinds(booking.ask_materials_again(later, 30, 3)) == [C.MATERIALS_REQUESTED_AGAIN]
        assert booking.materials_attempts == attempt
    later += timedelta(seconds=30)
    (escalated, change), (asked, change_again) = booking.ask_materials_again(later, 30, 3)
    assert [change, change_again] == [C.ESCALATED, C.MATERIALS_REQUESTED_AGAIN]
    # each change with the booking as it was right after it: the escalation counts the requests before this one
    assert (escalated.materials_attempts, asked.materials_attempts) == (3, 4)
    assert booking.materials_overdue_since == escalated.materials_overdue_since == later
    later += timedelta(seconds=30)
    assert kinds(booking.ask_materials_again(later, 30, 3)) == [C.MATERIALS_REQUESTED_AGAIN]  # escalated once
    assert kinds(booking.materials_reserved()) == [C.MATERIALS_RESERVED]
    assert booking.materials_overdue_since is None  # the answer clears the escalation


def test_a_settled_booking_is_not_asked_again():
    booking = held()
    booking.confirm(NOW)
    booking.materials_reserved()
    assert kinds(booking.ask_materials_again(NOW + timedelta(hours=1), 30, 3)) == []


def test_the_facility_cancels_only_with_a_reason_and_a_closed_booking_stays_closed():
    booking = held(at_risk_reasons=["certificate suspended"])
    with pytest.raises(Unprocessable, match="needs a reason"):
        booking.cancel(" ", by_developer=False)
    assert kinds(booking.cancel("Cleanroom maintenance", by_developer=False)) == [C.CANCELLED]
    assert (booking.status, booking.cancel_reason, booking.at_risk_reasons) == (
        BookingStatus.CANCELLED, "Cleanroom maintenance", []
    )  # fmt: skip
    with pytest.raises(Conflict):
        booking.cancel(None, by_developer=True)


def test_a_run_is_completed_once_confirmed_and_started():
    booking = held()
    booking.confirm(NOW)
    booking.materials_reserved()
    with pytest.raises(Conflict, match="starts at"):
        booking.complete(NOW)
    assert kinds(booking.complete(booking.starts_at)) == [C.COMPLETED]


def test_an_unconfirmed_hold_runs_out_on_its_own_clock():
    booking = held()
    assert kinds(booking.expire(NOW)) == []
    assert kinds(booking.expire(NOW + timedelta(minutes=15))) == [C.EXPIRED]
    assert booking.status is BookingStatus.EXPIRED and booking.hold_expires_at is None


def test_each_change_comes_with_the_booking_as_it_was_right_after_it():
    booking = held(needs_materials=False)
    (confirmed, _), (reserved, _) = booking.confirm(NOW)
    assert (confirmed.status, confirmed.awaiting_materials) == (BookingStatus.HELD, True)
    assert (reserved.status, reserved.awaiting_materials) == (BookingStatus.CONFIRMED, False)
    assert reserved is not booking  # a copy: later changes do not rewrite what was announced
