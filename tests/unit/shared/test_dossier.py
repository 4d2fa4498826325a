"""The dossier's pure parts: file names kept inside the dossier, the report's times and gists,
and who the token names."""

import jwt
import pytest

from shared.dossier import Dossier, Unread, token_subject
from shared.dossier_report import event_name, gist, when


def test_a_file_name_from_an_answer_stays_inside_the_dossier():
    dossier = Dossier("facility", "f", ("registry",))
    dossier.add("scheduling/bookings/b-history.json", [])
    for escaping in ("../outside.json", "scheduling/bookings/../../../x-history.json", "/etc/passwd"):
        with pytest.raises(Unread):
            dossier.add(escaping, [])
    assert list(dossier.files) == ["scheduling/bookings/b-history.json"]


def test_times_are_utc_with_their_offset_and_events_read_as_words():
    assert when("2026-11-29T18:20:58.123+01:00") == "2026-11-29 17:20:58+00:00"
    assert when("2026-11-29T17:20:58Z") == "2026-11-29 17:20:58+00:00"
    assert (when("2029-09-30"), when(None)) == ("2029-09-30", "–")
    assert event_name("gmphub.scheduling.booking.materials_reserved.v1") == "booking materials reserved (v1)"
    data = {"booking_id": "b", "reason": "Sterility failures", "certificate": {"status": "suspended", "number": "N-1"}}
    assert gist(data) == "reason: Sterility failures; status: suspended; number: N-1"


def test_the_producer_is_who_the_token_names():
    token = jwt.encode({"sub": "inspector-1", "role": "regulator", "authority": "DE-PEI", "exp": 1}, "k" * 32, "HS256")
    assert token_subject(token) == {"subject": "inspector-1", "role": "regulator", "authority": "DE-PEI"}
    assert token_subject("not a token") == {"subject": None}
