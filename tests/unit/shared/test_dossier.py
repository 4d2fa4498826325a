"""The dossier's pure parts: file names kept inside the dossier, the report's times and gists,
and who the token names."""

import httpx
import jwt
import pytest

from shared.dossier import SHORTAGES_PAGE, Dossier, Reader, Unread, token_subject
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


async def test_a_list_is_read_to_its_last_page_in_pages_the_service_allows():
    """The shortages route answers at most 500 a page (100 when not asked): the dossier reads them all."""
    shortages = [{"shortage_id": str(i)} for i in range(1_234)]
    asked: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        asked.append(limit)
        return httpx.Response(200 if limit <= 500 else 422, json=shortages[offset : offset + limit])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://materials") as client:
        read = Reader({"materials": client}, "token", say=lambda _: None)
        assert await read.all_pages("materials", "/v1/shortages", SHORTAGES_PAGE) == shortages
    assert asked == [500, 500, 500]
