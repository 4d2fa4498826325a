"""Bookings as an iCalendar (RFC 5545) feed that calendar programs subscribe to."""

from collections.abc import Iterable

from icalendar import Calendar, Event

from services.scheduling import models


def bookings_calendar(name: str, bookings: Iterable[models.Booking]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//GMP coordination hub//scheduling//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for b in bookings:
        event = Event()
        event.add("uid", f"{b.id}@scheduling.gmphub")
        event.add("dtstamp", b.updated_at)
        event.add("dtstart", b.starts_at)
        event.add("dtend", b.ends_at)
        event.add("sequence", b.version)
        flag = " [AT RISK]" if b.at_risk_reasons else ""
        event.add("summary", f"{b.product} ({b.run_kind}, {b.status}){flag}")
        lines = [f"Booking {b.id}", f"Organisation {b.org_id}", f"Facility {b.facility_id}", f"Suite {b.suite_id}"]
        lines += [f"At risk: {r}" for r in b.at_risk_reasons]
        event.add("description", "\n".join(lines))
        event.add("status", "CANCELLED" if b.status in ("cancelled", "expired") else
                  "CONFIRMED" if b.status in ("confirmed", "completed") else "TENTATIVE")  # fmt: skip
        calendar.add_component(event)
    return calendar.to_ical()
