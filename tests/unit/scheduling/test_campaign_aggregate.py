"""The campaign aggregate: confirmed and reserved as a whole, then batch by batch, in memory."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduling.domain import (
    Booking,
    BookingChange,
    BookingStatus,
    Campaign,
    CampaignChange,
    CampaignStatus,
)
from shared.problems import Conflict, NotFound, Unprocessable

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


class _Of:
    """Changes of one kind of state (a batch's, the campaign's), told apart from the other's of the
    same name: both are StrEnums, equal by value."""

    def __init__(self, state: type, changes: type) -> None:
        self.state, self.changes = state, changes

    def __getattr__(self, name: str) -> tuple:
        return (self.state, self.changes[name])


B, C = _Of(Booking, BookingChange), _Of(Campaign, CampaignChange)


def kinds(changes) -> list[tuple]:
    return [(type(state), change) for state, change in changes]


def campaign(batches: int = 3, needs_materials: bool = True) -> Campaign:
    return Campaign(
        id=uuid.uuid4(), status=CampaignStatus.HELD, org_id="ORG-1", hold_expires_at=NOW + timedelta(minutes=15),
        batches=[
            Booking(id=uuid.uuid4(), status=BookingStatus.HELD, org_id="ORG-1", needs_materials=needs_materials,
                    starts_at=NOW + timedelta(days=7 * (n + 1)))
            for n in range(batches)
        ],
    )  # fmt: skip


def test_confirming_asks_materials_once_for_every_batch_and_a_repeat_changes_nothing():
    c = campaign()
    assert kinds(c.confirm(NOW)) == [C.CONFIRMED]
    assert (
        c.awaiting_materials and c.hold_expires_at is None and (c.materials_attempts, c.materials_asked_at) == (1, NOW)
    )
    assert kinds(c.confirm(NOW)) == []
    assert kinds(c.expire(NOW + timedelta(days=1))) == []  # awaiting materials: it does not run out
    with pytest.raises(Conflict, match="awaits materials' answer"):
        c.cancel_batch(c.batches[0].id, None, by_developer=True)


def test_reserved_confirms_every_batch_then_the_campaign_and_a_second_confirmation_is_refused():
    c = campaign()
    c.confirm(NOW)
    assert kinds(c.materials_reserved()) == [B.MATERIALS_RESERVED] * 3 + [C.MATERIALS_RESERVED]
    assert c.status is CampaignStatus.CONFIRMED and {b.status for b in c.batches} == {BookingStatus.CONFIRMED}
    assert c.materials_reserved() == [] and c.materials_short([], NOW, 900) == []  # late answers
    with pytest.raises(Conflict, match="is confirmed; only a held or materials_short campaign"):
        c.confirm(NOW)


def test_one_batch_short_leaves_every_batch_short_with_its_own_shortfalls_and_a_fresh_hold():
    c = campaign()
    c.confirm(NOW)
    last = c.batches[2].id
    shortfall = {"material_id": str(uuid.uuid4()), "requested": "10", "available": "5", "unit": "mL"}
    changes = c.materials_short([(c.batches[0].id, []), (last, [shortfall])], NOW, hold_ttl_seconds=900)
    assert kinds(changes) == [B.MATERIALS_SHORT] * 3 + [C.MATERIALS_SHORT]
    assert [b.shortfalls for b in c.batches] == [[], [], [shortfall]]
    assert c.shortfalls == [{"booking_id": str(last), "shortfalls": [shortfall]}]
    assert (c.status, c.hold_expires_at, c.awaiting_materials) == (
        CampaignStatus.MATERIALS_SHORT, NOW + timedelta(seconds=900), False
    )  # fmt: skip
    assert kinds(c.confirm(NOW + timedelta(minutes=1))) == [C.CONFIRMED]  # restocked: again, afresh
    assert c.shortfalls == []


def test_shortfalls_named_for_a_booking_outside_the_campaign_are_not_kept():
    c = campaign()
    c.confirm(NOW)
    shortfall = {"material_id": str(uuid.uuid4()), "requested": "10", "available": "5", "unit": "mL"}
    c.materials_short([(uuid.uuid4(), [shortfall])], NOW, hold_ttl_seconds=900)
    assert c.shortfalls == [] and all(b.shortfalls == [] for b in c.batches)


def test_the_saga_deadline_asks_again_and_escalates_once():
    c = campaign()
    c.confirm(NOW)
    assert c.ask_materials_again(NOW + timedelta(seconds=10), 30, 2) == []  # not due yet
    assert kinds(c.ask_materials_again(NOW + timedelta(seconds=30), 30, 2)) == [C.MATERIALS_REQUESTED_AGAIN]
    later = NOW + timedelta(seconds=60)
    changes = c.ask_materials_again(later, 30, 2)
    assert kinds(changes) == [C.ESCALATED, C.MATERIALS_REQUESTED_AGAIN]
    assert [state.materials_attempts for state, _ in changes] == [2, 3]  # each as it was right after it
    assert (c.materials_attempts, c.materials_overdue_since) == (3, later)
    assert kinds(c.ask_materials_again(NOW + timedelta(seconds=90), 30, 2)) == [C.MATERIALS_REQUESTED_AGAIN]


def test_a_campaign_needing_no_materials_is_confirmed_at_once():
    c = campaign(needs_materials=False)
    assert kinds(c.confirm(NOW)) == [C.CONFIRMED, B.MATERIALS_RESERVED, B.MATERIALS_RESERVED, B.MATERIALS_RESERVED,
                                     C.MATERIALS_RESERVED]  # fmt: skip


def test_a_hold_runs_out_for_every_open_batch_and_an_expired_one_cannot_be_confirmed():
    c = campaign()
    c.cancel_batch(c.batches[0].id, None, by_developer=True)
    with pytest.raises(Conflict, match="expired"):
        c.confirm(NOW + timedelta(minutes=16))
    assert kinds(c.expire(NOW + timedelta(minutes=16))) == [B.EXPIRED, B.EXPIRED, C.EXPIRED]
    assert [b.status for b in c.batches] == [BookingStatus.CANCELLED, BookingStatus.EXPIRED, BookingStatus.EXPIRED]


def test_batch_by_batch_the_campaign_ends_completed_if_a_run_took_place_else_cancelled():
    c = campaign(batches=2)
    c.confirm(NOW)
    c.materials_reserved()
    with pytest.raises(NotFound):
        c.cancel_batch(uuid.uuid4(), None, by_developer=True)
    with pytest.raises(Unprocessable, match="needs a reason"):
        c.cancel_batch(c.batches[0].id, None, by_developer=False)
    with pytest.raises(Conflict, match="once it has started"):
        c.complete_batch(c.batches[0].id, NOW)
    assert kinds(c.complete_batch(c.batches[0].id, NOW + timedelta(days=8))) == [B.COMPLETED]
    assert kinds(c.cancel_batch(c.batches[1].id, "Suite closed", by_developer=False)) == [B.CANCELLED, C.COMPLETED]
    assert c.status is CampaignStatus.COMPLETED

    other = campaign(batches=2)
    other.cancel_batch(other.batches[0].id, None, by_developer=True)
    assert kinds(other.cancel_batch(other.batches[1].id, None, by_developer=True)) == [B.CANCELLED, C.CANCELLED]
    assert (other.status, other.cancel_reason) == (CampaignStatus.CANCELLED, "Every batch was cancelled.")
    with pytest.raises(Conflict, match="only an open campaign can be cancelled"):
        other.cancel(None, by_developer=True)


def test_cancelling_the_whole_cancels_every_open_batch():
    c = campaign()
    c.confirm(NOW)
    assert kinds(c.cancel("Programme stopped", by_developer=True)) == [B.CANCELLED] * 3 + [C.CANCELLED]
    assert (c.status, c.cancel_reason, c.awaiting_materials) == (CampaignStatus.CANCELLED, "Programme stopped", False)
