"""Dates and times are ISO 8601 text: a number, in any spelling pydantic would read as seconds
since the epoch, is refused."""

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.fields import IsoDate, IsoDateTime

MOMENT, DAY = TypeAdapter(IsoDateTime), TypeAdapter(IsoDate)


@pytest.mark.parametrize("number", [0, 5, 0.5, True, "0", "5", "+5", "-5", "0.5", ".5", "5.", " 7 "])
def test_a_number_is_not_a_date_or_time(number):
    with pytest.raises(ValidationError, match="ISO 8601"):
        MOMENT.validate_python(number)
    with pytest.raises(ValidationError, match="ISO 8601"):
        DAY.validate_python(number)


def test_iso_text_is_read():
    assert MOMENT.validate_python("2027-03-01T08:00:00Z").isoformat() == "2027-03-01T08:00:00+00:00"
    assert DAY.validate_python("2027-03-01").isoformat() == "2027-03-01"
