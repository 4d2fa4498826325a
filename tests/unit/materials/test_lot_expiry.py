"""Which lots the expiry job marks: usable through the expiry day, expired from the day after, once."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from services.materials.domain import LotStock, due_for_expiry, past_expiry, reservable

TODAY = date(2027, 3, 1)
MARKED = datetime(2027, 2, 27, 0, 5, tzinfo=UTC)


def test_a_lot_is_usable_through_its_expiry_day():
    assert not past_expiry(TODAY, TODAY)
    assert past_expiry(TODAY - timedelta(days=1), TODAY)
    assert not past_expiry(TODAY + timedelta(days=1), TODAY)


def test_due_once_past_its_date_and_not_marked_yet():
    assert due_for_expiry(TODAY - timedelta(days=1), None, TODAY)
    assert due_for_expiry(TODAY - timedelta(days=400), None, TODAY)  # recorded late, or while no job ran
    assert not due_for_expiry(TODAY, None, TODAY)  # expiring today: still usable today
    assert not due_for_expiry(TODAY + timedelta(days=30), None, TODAY)
    assert not due_for_expiry(TODAY - timedelta(days=2), MARKED, TODAY)  # marked already: never twice


@given(expires_on=st.dates(), today=st.dates(), marked=st.booleans())
def test_a_lot_due_for_expiry_is_exactly_one_that_can_no_longer_be_reserved_today(expires_on, today, marked):
    stock = LotStock(uuid.uuid4(), uuid.uuid4(), "L1", expires_on, Decimal(1), "mL")
    due = due_for_expiry(expires_on, MARKED if marked else None, today)
    assert due == (not marked and not reservable(stock, today))
