"""The local receiver prints the status of what any service's event is about."""

from shared.webhook_receiver import status_of


def test_the_status_is_the_one_of_the_state_the_event_carries():
    approval = {"data": {"approval_id": "a", "approval": {"status": "approved"}, "signature": {"signer": "r"}}}
    booking = {"data": {"booking_id": "b", "booking": {"status": "held"}, "hold_expires_at": "2027-03-01T08:00:00Z"}}
    capacity = {"data": {"suite_id": "s", "slot_ids": []}}
    assert [status_of(e) for e in (approval, booking, capacity)] == ["approved", "held", None]
