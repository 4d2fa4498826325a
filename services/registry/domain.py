"""Registry rules, free of frameworks and I/O."""

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import Unprocessable

# ISO 3166-1 alpha-2 codes of the EU/EEA member states and the other countries the hub serves.
COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO CH GB UA RS ME MK AL BA TR IL US CA JP KR AU".split()
)


class FacilityKind(StrEnum):
    ACADEMIC_GMP_UNIT = "academic_gmp_unit"
    HOSPITAL = "hospital"
    CDMO = "cdmo"
    BIOTECH = "biotech"
    TISSUE_ESTABLISHMENT = "tissue_establishment"


@dataclass(frozen=True)
class FacilityProfile:
    legal_name: str
    kind: FacilityKind
    country: str
    city: str
    address: str
    contact_email: str
    authorisation_number: str
    authorisation_authority: str
    eudragmdp_ref: str | None = None

    def __post_init__(self) -> None:
        if self.country not in COUNTRIES:
            raise Unprocessable(f"Unknown country code {self.country!r}; use ISO 3166-1 alpha-2, e.g. DE.")
