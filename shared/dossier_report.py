"""The dossier's `report.pdf` (ReportLab platypus): a title page with what the dossier is about
and how it was produced, then sections of tables, every time in UTC with its offset, every page
numbered. It shows what the JSON files beside it hold; they stay the record."""

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from shared.dossier import Dossier, Facts, FileEntry

STYLES = getSampleStyleSheet()
BODY = ParagraphStyle("body", STYLES["BodyText"], fontSize=9, leading=11.5)
CELL = ParagraphStyle("cell", BODY, fontSize=7.5, leading=9)
HEAD = ParagraphStyle("head", CELL, fontName="Helvetica-Bold", textColor=colors.white)
MONO = ParagraphStyle("mono", CELL, fontName="Courier", fontSize=6.5, leading=8)
TITLE = ParagraphStyle("title", STYLES["Title"], fontSize=22, leading=27, spaceAfter=4 * mm)
H1 = ParagraphStyle("h1", STYLES["Heading1"], fontSize=15, leading=19, spaceBefore=2 * mm, spaceAfter=2 * mm)
H2 = ParagraphStyle("h2", STYLES["Heading2"], fontSize=11.5, leading=14, spaceBefore=3 * mm, spaceAfter=1.5 * mm)
H3 = ParagraphStyle("h3", STYLES["Heading3"], fontSize=9.5, leading=12, spaceBefore=2 * mm, spaceAfter=1 * mm)
NOTE = ParagraphStyle("note", BODY, textColor=colors.HexColor("#555555"))
WIDTH = A4[0] - 36 * mm  # the frame's width: 18 mm margins
HEADER_FILL = colors.HexColor("#2f4858")
STRIPE = colors.HexColor("#eef2f5")


def when(value: Any) -> str:
    """An ISO 8601 time as UTC with its offset, to the second; a date stays a date."""
    if not value:
        return "–"
    text = str(value)
    if "T" not in text:
        return text
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


def text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v).replace("_", " ") for v in value)
    return str(value)


def cell(value: Any, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(text(value)), style)


def table(header: list[str], rows: Iterable[list[Any]], widths: list[float], empty: str = "None recorded.") -> Flowable:
    """A table of paragraphs (they wrap), its header repeated on every page it spans."""
    body = [[c if isinstance(c, Flowable) else cell(c) for c in row] for row in rows]
    if not body:
        return Paragraph(escape(empty), NOTE)
    scale = WIDTH / sum(widths)
    grid = Table([[Paragraph(escape(h), HEAD) for h in header], *body],
                 colWidths=[w * scale for w in widths], repeatRows=1)  # fmt: skip
    grid.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#b8c4cc")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))  # fmt: skip
    return grid


def facts_table(pairs: list[tuple[str, Any]]) -> Flowable:
    rows = [[Paragraph(f"<b>{escape(k)}</b>", CELL), v if isinstance(v, Flowable) else cell(v)] for k, v in pairs]
    grid = Table(rows, colWidths=[45 * mm, WIDTH - 45 * mm])
    grid.setStyle(TableStyle([
        ("ROWBACKGROUNDS", (0, 0), (-1, -1), [STRIPE, colors.white]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))  # fmt: skip
    return grid


SUMMARY_KEYS = ("status", "reason", "cancel_reason", "meaning", "outcome", "severity", "quantity", "lot_number",
                "number", "product", "legal_name", "name", "summary")  # fmt: skip


def gist(data: Any) -> str:
    """A few telling fields of an event's data (or of the state it carries): the JSON has all."""
    if not isinstance(data, dict):
        return ""
    found: dict[str, Any] = {}
    for scope in [data, *(v for v in data.values() if isinstance(v, dict))]:
        for key in SUMMARY_KEYS:
            if key in scope and scope[key] not in (None, "", []) and key not in found:
                found[key] = scope[key]
    return "; ".join(f"{k.replace('_', ' ')}: {text(v)}" for k, v in list(found.items())[:4])


def event_name(kind: str) -> str:
    """gmphub.scheduling.booking.confirmed.v1 -> booking confirmed (v1)."""
    parts = kind.split(".")
    return f"{' '.join(parts[2:-1])} ({parts[-1]})".replace("_", " ") if len(parts) > 3 else kind


def history(events: list[dict[str, Any]]) -> Flowable:
    rows = [[when(e.get("time")), event_name(str(e.get("type", ""))), e.get("actor"), gist(e.get("data"))]
            for e in events]  # fmt: skip
    return table(["Time (UTC)", "Event", "Actor", "What"], rows, [36, 36, 32, 70], empty="No events recorded.")


def signatures(signed: list[dict[str, Any]], what: str) -> Flowable:
    rows = [[s.get("action", ""), s.get("signer_name"), s.get("signer"), s.get("authority"), s.get("meaning"),
             s.get("reason"), when(s.get("signed_at")), cell(s.get("state_sha256"), MONO)]
            for s in signed]  # fmt: skip
    header = [what, "Signer", "Signer (subject)", "Authority", "Meaning", "Reason", "Signed at (UTC)", "Signed state SHA-256"]  # fmt: skip
    return table(header, rows, [19, 17, 20, 18, 21, 21, 28, 30], empty="No signatures recorded.")


def short(identifier: Any) -> str:
    return str(identifier)[:8]


class NumberedCanvas(Canvas):  # type: ignore[misc]  # ReportLab has no type hints
    """Page "n of m" on every page: the pages are kept until the count is known."""

    footer = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for page in self._pages:
            self.__dict__.update(page)
            self.setFont("Helvetica", 7)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(18 * mm, 10 * mm, self.footer)
            self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {len(self._pages)}")
            super().showPage()
        super().save()


def title_page(subject: str, facts_rows: list[tuple[str, Any]], facts: Facts, contents: list[str]) -> list[Flowable]:
    chains = "<br/>".join(f"{escape(s)}: {escape(str(r['summary']))}" for s, r in facts.chains.items())
    versions = facts.versions.get("services", {})
    by = facts.produced_by
    rows = [
        *facts_rows,
        ("Produced at", when(facts.produced_at)),
        ("Produced by", f"{by.get('name') or by.get('subject')} ({by.get('role', '?')}: {by.get('subject')}"
                        + (f", {by['authority']}" if by.get("authority") else "") + ")"),
        ("gmp-hub version", facts.versions.get("gmp-hub")),
        ("Service versions", ", ".join(f"{s} {v or 'unknown'}" for s, v in versions.items())),
        ("Chain verification", Paragraph(chains, CELL)),
    ]  # fmt: skip
    return [
        Spacer(1, 25 * mm),
        Paragraph("GMP inspection dossier", TITLE),
        Paragraph(escape(subject), H1),
        Spacer(1, 6 * mm),
        facts_table(rows),
        Spacer(1, 8 * mm),
        Paragraph("Contents", H2),
        *[Paragraph(f"{i}. {escape(c)}", BODY) for i, c in enumerate(contents, 1)],
        Spacer(1, 8 * mm),
        Paragraph(
            "This report presents the records read from the hub's services at the time above, with the "
            "caller's token. The JSON files beside it are those records as the services answered them; "
            "manifest.json holds each file's SHA-256 and size. Times are UTC with their offset.",
            NOTE,
        ),
        PageBreak(),
    ]


def _files(files: list[FileEntry], number: int) -> list[Flowable]:
    rows = [[f.path, f"{f.bytes:,}", cell(f.sha256, MONO)] for f in files]
    return [Paragraph(f"{number}. The raw files", H1),
            Paragraph("Each JSON file beside this report, with its size and SHA-256 as manifest.json lists them "
                      "(the manifest also lists this report's own).", NOTE),
            table(["File", "Bytes", "SHA-256"], rows, [52, 10, 48])]  # fmt: skip


def facility_report(d: Dossier, facts: Facts, files: list[FileEntry]) -> tuple[str, list[Flowable]]:
    f = d.files["registry/facility.json"]
    certificates = [d.files[f"registry/certificates/{c['certificate_id']}.json"] for c in f["certificates"]]
    bookings, lots = d.files["scheduling/bookings.json"], d.files["materials/lots.json"]
    reservations, shortages = d.files["materials/reservations.json"], d.files["materials/shortages.json"]
    names = {m["material_id"]: m["name"] for m in d.files["materials/materials.json"]}
    subject = f"Facility: {f['legal_name']}"
    contents = ["Profile", "Suites", "GMP certificates and their signatures", "Non-compliance statements",
                "Bookings at the facility and their histories", "Lots and reservations",
                "Shortages touching its materials", "The facility's history (registry)", "The raw files"]  # fmt: skip
    story = title_page(
        subject,
        [("Facility id", d.subject_id), ("Location", f"{f['address']}, {f['city']}, {f['country']}"),
         ("Certificates", ", ".join(f"{c['number']} ({c['status']})" for c in certificates) or "none")],
        facts, contents,
    )  # fmt: skip
    story += [
        Paragraph("1. Profile", H1),
        facts_table([
            ("Legal name", f["legal_name"]), ("Kind", f["kind"]), ("Address", f["address"]), ("City", f["city"]),
            ("Country", f["country"]), ("Contact", f["contact_email"]),
            ("Manufacturing authorisation", f"{f['authorisation_number']} ({f['authorisation_authority']})"),
            ("EudraGMDP reference", f.get("eudragmdp_ref")), ("Active", f["active"]),
            ("Deactivation reason", f.get("deactivation_reason")), ("Version", f["version"]),
            ("Last changed", f"{when(f['updated_at'])} by {f['updated_by']}"),
        ]),
        Paragraph("2. Suites", H1),
        table(["Suite", "Grade", "ATMP types", "Processes", "QC tests", "QP release", "Retired"],
              [[s["name"], s["cleanroom_grade"], s["atmp_types"], s["processes"], s["qc_tests"], s["qp_release"],
                s["retired"]] for s in f["suites"]], [30, 12, 34, 32, 30, 17, 15]),
        Paragraph("3. GMP certificates and their signatures", H1),
        table(["Number", "Authority", "Issued", "Expires", "Status", "ATMP types", "Operations", "Reason"],
              [[c["number"], c["authority"], c["issued_on"], c["expires_on"], c["status"], c["atmp_types"],
                c["operations"], c.get("reason")] for c in certificates], [26, 18, 18, 18, 20, 25, 25, 24]),
    ]  # fmt: skip
    for c in certificates:
        story += [Paragraph(f"Signatures on {escape(c['number'])}", H3), signatures(c["signatures"], "Action")]
    story += [
        Paragraph("4. Non-compliance statements", H1),
        table(["Recorded at (UTC)", "Authority", "Certificate", "Summary", "Recorded by"],
              [[when(s["recorded_at"]), s["authority"], short(s["certificate_id"]) if s["certificate_id"] else None,
                s["summary"], s["recorded_by"]] for s in f["noncompliance"]], [16, 11, 11, 45, 17]),
        PageBreak(),
        Paragraph("5. Bookings at the facility and their histories", H1),
        table(["Booking", "Product", "Developer", "Run", "Starts (UTC)", "Ends (UTC)", "Status", "At risk"],
              [[short(b["booking_id"]), b["product"], b["org_id"], b["run_kind"], when(b["starts_at"]),
                when(b["ends_at"]), b["status"], b["at_risk_reasons"] or b["at_risk"]] for b in bookings],
              [17, 20, 20, 22, 23, 23, 21, 28], empty="No bookings at this facility."),
    ]  # fmt: skip
    for b in bookings:
        story += [
            Paragraph(f"Booking {b['booking_id']}: {escape(b['product'])}, {b['status']}", H3),
            history(d.files[f"scheduling/bookings/{b['booking_id']}-history.json"]),
        ]
    story += [
        PageBreak(),
        Paragraph("6. Lots and reservations", H1),
        table(["Material", "Lot", "Expires", "Quantity", "Reserved", "Available", "Unit", "Expired"],
              [[names.get(x["material_id"], x["material_id"]), x["lot_number"], x["expires_on"], x["quantity"],
                x["reserved"], x["available"], x["unit"], x["expired"]] for x in lots],
              [34, 20, 18, 16, 16, 16, 10, 14], empty="No lots at this facility."),
    ]  # fmt: skip
    lot_numbers = {x["lot_id"]: x["lot_number"] for x in lots}
    for x in lots:
        story += [Paragraph(f"Lot {escape(x['lot_number'])} of {escape(names.get(x['material_id'], ''))}", H3),
                  history(d.files[f"materials/lots/{x['lot_id']}-history.json"])]  # fmt: skip
    story += [
        Paragraph("Reservations", H2),
        table(["Booking", "Status", "Lines (lot: quantity)", "Shortfalls", "Updated (UTC)"],
              [[short(r["booking_id"]), r["status"],
                [f"{lot_numbers.get(ln['lot_id'], short(ln['lot_id']))}: {ln['quantity']} {ln['unit']}" for ln in r["lines"]],
                [f"{names.get(s.get('material_id'), s.get('material_id'))}: {s.get('available')} of "
                 f"{s.get('requested')} {s.get('unit', '')}" for s in r["shortfalls"]], when(r["updated_at"])] for r in reservations],
              [12, 14, 32, 28, 17], empty="No reservations from this facility's lots."),
    ]  # fmt: skip
    for r in reservations:
        story += [Paragraph(f"Reservation of booking {r['booking_id']}", H3),
                  history(d.files[f"materials/reservations/{r['booking_id']}-history.json"])]  # fmt: skip
    story += [
        Paragraph("7. Shortages touching its materials", H1),
        table(["Material", "Severity", "Status", "Regions", "Expected end", "Reason", "Declared (UTC)"],
              [[names.get(s["material_id"], s["material_id"]), s["severity"], s["status"], s["regions"],
                s["expected_end"], s["reason"], when(s["created_at"])] for s in shortages],
              [22, 10, 10, 12, 12, 22, 16], empty="No shortage touched the materials of this facility."),
    ]  # fmt: skip
    for s in shortages:
        story += [Paragraph(f"Shortage of {escape(names.get(s['material_id'], s['material_id']))}", H3),
                  history(d.files[f"materials/shortages/{s['shortage_id']}-history.json"])]  # fmt: skip
    story += [
        PageBreak(),
        Paragraph("8. The facility's history (registry)", H1),
        history(d.files["registry/facility-history.json"]),
        PageBreak(),
        *_files(files, 9),
    ]
    return subject, story


def approval_report(d: Dossier, facts: Facts, files: list[FileEntry]) -> tuple[str, list[Flowable]]:
    tree = d.files["approvals/tree.json"]
    nodes = [*tree["ancestors"], tree["approval"], *tree["descendants"]]
    top = d.files[f"approvals/{d.subject_id}/approval.json"]
    subject = f"Approval: {top['title']}"
    contents = ["The approval tree", "Each approval: its decisions and signatures, its history",
                "Bookings relying on the tree now", "The raw files"]  # fmt: skip
    story = title_page(
        subject,
        [("Approval id", d.subject_id), ("Level, covers", f"{top['level']}, {top['covers']}"),
         ("Holder", top["holder_org_id"]), ("Authority", top["authority"]), ("Status", top["status"]),
         ("Approvals in the tree", len(nodes))],
        facts, contents,
    )  # fmt: skip
    story += [
        Paragraph("1. The approval tree", H1),
        table(["Approval", "Level", "Covers", "Title", "Holder", "Authority", "Status", "Reconfirm"],
              [[("· " * max(n["depth"] - min(x["depth"] for x in nodes), 0)) + short(n["approval_id"]), n["level"],
                n["covers"], n["title"], n["holder_org_id"], n["authority"], n["status"], n["needs_reconfirmation"]]
               for n in nodes], [20, 12, 15, 35, 15, 15, 16, 17]),
        Paragraph("2. Each approval: its decisions and signatures, its history", H1),
    ]  # fmt: skip
    for n in nodes:
        a = d.files[f"approvals/{n['approval_id']}/approval.json"]
        story += [
            KeepTogether([
                Paragraph(f"{escape(a['title'])} ({a['level']}, {a['status']})", H2),
                facts_table([
                    ("Approval id", a["approval_id"]), ("Parent", a.get("parent_id")), ("Holder", a["holder_org_id"]),
                    ("Authority", a["authority"]), ("Status reason", a.get("status_reason")),
                    ("Filed", f"{when(a['created_at'])} by {a['created_by']}"),
                    ("Last changed", f"{when(a['updated_at'])} by {a['updated_by']}"),
                ]),
            ]),
            Paragraph("Signed decisions", H3),
            signatures(d.files[f"approvals/{n['approval_id']}/decisions.json"], "Decision"),
            Paragraph("History", H3),
            history(d.files[f"approvals/{n['approval_id']}/history.json"]),
        ]  # fmt: skip
    relying = d.files["scheduling/relying-bookings.json"]
    story += [
        PageBreak(),
        Paragraph("3. Bookings relying on the tree now", H1),
        table(["Booking", "Approval", "Facility", "Developer", "Run", "Starts (UTC)", "Status"],
              [[short(b["booking_id"]), short(b["approval_id"]), short(b["facility_id"]), b["holder_org_id"],
                b["run_kind"], when(b["starts_at"]), b["status"]] for b in relying],
              [11, 11, 11, 12, 20, 18, 13], empty="No live booking relies on these approvals."),
        PageBreak(),
        *_files(files, 4),
    ]  # fmt: skip
    return subject, story


def render(d: Dossier, facts: Facts, files: list[FileEntry]) -> bytes:
    subject, story = (facility_report if d.kind == "facility" else approval_report)(d, facts, files)
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=18 * mm,
        title=f"GMP inspection dossier: {subject}", author=str(facts.produced_by.get("subject")),
        subject=f"{d.kind} {d.subject_id}", creator="gmp-hub dossier",
    )  # fmt: skip
    footer = f"GMP inspection dossier · {subject} · produced {when(facts.produced_at)}"

    class Footed(NumberedCanvas):
        pass

    Footed.footer = footer[:140]
    document.build(story, canvasmaker=Footed)
    return out.getvalue()
