"""Field types the services' HTTP bodies and query parameters share. Dates and times come as their
OpenAPI documents say, ISO 8601 strings: pydantic, lax, would also read a number as seconds since
the epoch (`0` as 1970-01-01, `?starts_from=0.5` as 1970), which no client means."""

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator

NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)\s*")


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float) or (isinstance(value, str) and NUMBER.fullmatch(value)):
        raise ValueError("a date or time is ISO 8601 text, e.g. 2027-03-01 or 2027-03-01T08:00:00Z")
    return value


IsoDate = Annotated[date, BeforeValidator(_not_a_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]
