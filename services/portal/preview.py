"""The slots a publication will make, shown before it is made: a window cut into slots of one
length (with an optional gap), or one slot repeated weekly. The same rules as scheduling's; the
portal then publishes exactly the slots previewed, as a list."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

MAX_SLOTS = 5000  # scheduling takes at most this many in one publication


@dataclass(frozen=True)
class Period:
    starts_at: datetime
    ends_at: datetime


def window(starts_at: datetime, ends_at: datetime, slot_minutes: int, gap_minutes: int = 0) -> list[Period]:
    """Consecutive slots of `slot_minutes`, `gap_minutes` apart; a remainder shorter than a slot is left out."""
    if slot_minutes <= 0 or gap_minutes < 0:
        raise ValueError("The slot length must be positive and the gap not negative.")
    length, step = timedelta(minutes=slot_minutes), timedelta(minutes=slot_minutes + gap_minutes)
    periods: list[Period] = []
    cursor = starts_at
    while cursor + length <= ends_at and len(periods) < MAX_SLOTS:
        periods.append(Period(cursor, cursor + length))
        cursor += step
    return periods


def weekly(starts_at: datetime, ends_at: datetime, until: date, weekdays: set[int]) -> list[Period]:
    """The first slot again on each chosen weekday (0 = Monday) up to and including `until`."""
    if ends_at <= starts_at:
        raise ValueError("A slot must end after it starts.")
    if until < starts_at.date():
        raise ValueError("The last day lies before the first slot.")
    days = weekdays or {starts_at.weekday()}
    periods: list[Period] = []
    offset = 0
    while (starts_at + timedelta(days=offset)).date() <= until and len(periods) < MAX_SLOTS:
        moment = starts_at + timedelta(days=offset)
        if moment.weekday() in days:
            periods.append(Period(moment, ends_at + timedelta(days=offset)))
        offset += 1
    return periods
