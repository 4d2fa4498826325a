"""`gmp-hub seed`: a few certified facilities with suites, stock and eight weeks of capacity, a
small GMP catalogue, an approved platform approval, an active technical agreement between ORG-1
and the Berlin facility (its clinical runs can be confirmed), and a manufacturing request of ORG-1
that Berlin and Lyon have each quoted, so a new user has something to search, book, compare and
follow. It only calls the public APIs of a running hub, as any client would."""

import time
from datetime import UTC, date, datetime, timedelta

import httpx

from shared.auth import Role, issue_token
from shared.settings import Settings

# EMA OMS ids shaped as OMS issues them (ORG-/LOC- and 9 digits); fictitious, not these sites' own. Each
# site is certified by its own state's authority (the registry's competent-authority rule).
FACILITIES = [
    {"legal_name": "Charité GMP Unit for Cell Therapy", "kind": "hospital", "country": "DE", "city": "Berlin",
     "address": "Augustenburger Platz 1", "authority": "DE-PEI",
     "oms_organisation_id": "ORG-100001699", "oms_location_id": "LOC-100000151",
     "suite": {"name": "Suite 2 (CAR-T)", "cleanroom_grade": "B", "atmp_types": ["somatic_cell_therapy"],
               "processes": ["car_t", "clinimacs_prodigy"], "qp_release": True}},
    {"legal_name": "Leiden GMP Facility for Cell and Gene Therapy", "kind": "academic_gmp_unit", "country": "NL",
     "city": "Leiden", "address": "Albinusdreef 2", "authority": "NL-IGJ",
     "oms_organisation_id": "ORG-100004231", "oms_location_id": "LOC-100021587",
     "suite": {"name": "Vector suite", "cleanroom_grade": "B", "atmp_types": ["gene_therapy"],
               "processes": ["aav", "lentiviral_vector"], "qp_release": True}},
    {"legal_name": "Lyon Biotherapy CDMO", "kind": "cdmo", "country": "FR", "city": "Lyon",
     "address": "7 rue Marcel Mérieux", "authority": "FR-ANSM",
     "oms_organisation_id": "ORG-100038812", "oms_location_id": "LOC-100052903",
     "suite": {"name": "Cell therapy line 1", "cleanroom_grade": "isolator", "atmp_types": ["somatic_cell_therapy",
               "tissue_engineered"], "processes": ["msc_expansion", "car_t"]}},  # a second site for a CAR-T quote
]  # fmt: skip

MATERIALS = [
    {"name": "TexMACS GMP Medium", "category": "cell_culture_medium", "catalogue_number": "170-076-306",
     "grade": "gmp", "usp1043_tier": 1, "origin": "animal_origin_free"},
    {"name": "MACS GMP Recombinant Human IL-2", "synonyms": ["IL-2", "interleukin-2"],
     "category": "cytokine_growth_factor", "catalogue_number": "170-076-146", "grade": "gmp", "usp1043_tier": 1,
     "origin": "animal_origin_free"},
    {"name": "CliniMACS CD4 Reagent", "category": "selection_antibody_reagent", "catalogue_number": "200-070-132",
     "grade": "gmp", "usp1043_tier": 2, "origin": "animal_origin_free"},
]  # fmt: skip


class Seeder:
    def __init__(self, settings: Settings, say=print) -> None:
        self.settings = settings
        self.say = say
        self.client = httpx.Client(timeout=15)
        self.slots: dict[str, list[str]] = {}  # each facility's published slots, by start

    def token(self, role: Role, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.settings, role=role, sub=f'demo-{role.value}', **claims)}"}

    def post(self, service: str, path: str, body: dict, headers: dict[str, str], expect: int = 201) -> dict:
        response = self.client.post(f"{self.settings.service_url(service)}{path}", json=body, headers=headers)
        if response.status_code != expect:
            raise RuntimeError(f"{service} {path}: {response.status_code} {response.text}")
        return response.json()

    def run(self) -> dict[str, str]:
        admin = self.token(Role.ADMIN)
        supplier = self.post("materials", "/v1/suppliers",
                             {"name": "Miltenyi Biotec", "country": "DE", "qualification_status": "qualified"}, admin)  # fmt: skip
        materials = [
            self.post("materials", "/v1/materials", m | {"supplier_id": supplier["supplier_id"]}, admin)["material_id"]
            for m in MATERIALS
        ]
        self.say(f"catalogue: 1 supplier, {len(materials)} materials")
        facility_ids = [self.facility(spec, admin, materials) for spec in FACILITIES]
        approval_id = self.approval(facility_ids[0])
        agreement_id = self.agreement(facility_ids[0])
        request_id = self.request([facility_ids[0], facility_ids[2]], materials)
        return {"facility": facility_ids[0], "approval": approval_id, "material": materials[0],
                "agreement": agreement_id, "request": request_id}  # fmt: skip

    def facility(self, spec: dict, admin: dict[str, str], materials: list[str]) -> str:
        profile = {k: v for k, v in spec.items() if k not in ("authority", "suite")}
        profile |= {"contact_email": "qa@gmp.example.org", "authorisation_number": f"{spec['country']}-MIA-0001",
                    "authorisation_authority": spec["authority"]}  # fmt: skip
        facility_id = self.post("registry", "/v1/facilities", profile, admin)["facility_id"]
        facility = self.token(Role.FACILITY, facility_ids=[facility_id])
        suite_id = self.post("registry", f"/v1/facilities/{facility_id}/suites", spec["suite"], facility)["suite_id"]
        today = date.today()
        self.post("registry", f"/v1/facilities/{facility_id}/certificates",
                  {"number": f"{spec['authority']}-GMP-{today.year}-{facility_id[:4]}",
                   "eudragmdp_ref": f"{spec['country']}/GMP/{today.year}/{facility_id[:4].upper()}",
                   "issued_on": str(today - timedelta(days=60)), "expires_on": str(today + timedelta(days=3 * 365)),
                   "atmp_types": spec["suite"]["atmp_types"], "operations": ["aseptic_manufacture"]},
                  self.token(Role.REGULATOR, authority=spec["authority"]))  # fmt: skip
        for material_id in materials:
            self.post("materials", f"/v1/facilities/{facility_id}/lots",
                      {"material_id": material_id, "lot_number": f"DEMO-{material_id[:6]}",
                       "expires_on": str(today + timedelta(days=400)), "quantity": "5000", "unit": "mL"},
                      facility)  # fmt: skip
        monday = datetime.combine(today + timedelta(days=7 - today.weekday()), datetime.min.time(), UTC)
        first = monday.replace(hour=8)
        capacity = {"suite_id": suite_id, "weekly": {"starts_at": first.isoformat(),
                    "ends_at": (first + timedelta(days=4, hours=9)).isoformat(),
                    "until": str(monday.date() + timedelta(weeks=8))}}  # fmt: skip
        self.slots[facility_id] = self.publish(facility_id, capacity, facility)
        count = len(self.slots[facility_id])
        self.say(f"{spec['legal_name']} ({spec['country']}): suite, certificate, 3 lots, {count} weekly slots")
        return facility_id

    def publish(self, facility_id: str, capacity: dict, facility: dict[str, str]) -> list[str]:
        """Publish once scheduling has learnt of the certificate from registry's events; the slots' ids."""
        deadline = time.monotonic() + 15
        while True:
            response = self.client.post(f"{self.settings.service_url('scheduling')}/v1/facilities/{facility_id}/capacity",
                                        json=capacity, headers=facility)  # fmt: skip
            if response.status_code == 201:
                return [slot["slot_id"] for slot in sorted(response.json()["slots"], key=lambda s: s["starts_at"])]
            if time.monotonic() > deadline:
                raise RuntimeError(f"scheduling refused capacity: {response.status_code} {response.text}")
            time.sleep(0.2)

    def approval(self, facility_id: str) -> str:
        developer = self.token(Role.DEVELOPER, org_id="ORG-1")
        regulator = self.token(Role.REGULATOR, authority="DE-PEI")
        approval = self.post("approvals", "/v1/approvals",
                             {"level": "parent", "covers": "platform", "title": "CD19 CAR-T manufacturing platform",
                              "authority": "DE-PEI", "facility_ids": [facility_id]}, developer)  # fmt: skip
        path = f"/v1/approvals/{approval['approval_id']}"
        self.post("approvals", f"{path}/submit", {}, developer, expect=200)
        self.post("approvals", f"{path}/review", {}, regulator, expect=200)
        self.post("approvals", f"{path}/decision", {"outcome": "approved", "meaning": "Approved by DE-PEI",
                  "reason": "Platform process validated"}, regulator, expect=200)  # fmt: skip
        self.say("approvals: a CD19 CAR-T platform of ORG-1, approved by DE-PEI, covering the Berlin facility")
        return approval["approval_id"]

    def agreement(self, facility_id: str) -> str:
        """The technical agreement (EU GMP Chapter 7) a clinical run at the facility is confirmed under:
        drafted by ORG-1, signed by both sides."""
        developer = self.token(Role.DEVELOPER, org_id="ORG-1")
        facility = self.token(Role.FACILITY, facility_ids=[facility_id])
        today = date.today()
        agreement = self.post("scheduling", "/v1/agreements",
                              {"facility_id": facility_id, "title": "Quality agreement: CD19 CAR-T clinical supply",
                               "run_kinds": ["clinical", "engineering"], "processes": ["car_t"],
                               "valid_from": str(today), "valid_until": str(today + timedelta(days=2 * 365)),
                               "reason": "Phase I supply of the CD19 CAR-T platform"}, developer)  # fmt: skip
        path = f"/v1/agreements/{agreement['agreement_id']}/sign"
        for side, signer in (("contract_giver", developer), ("contract_acceptor", facility)):
            self.post("scheduling", path, {"side": side, "meaning": f"Agreed as {side.replace('_', ' ')}",
                      "reason": "Responsibilities of Chapter 7 allocated and reviewed by QA"}, signer, expect=200)  # fmt: skip
        self.say("scheduling: an active technical agreement between ORG-1 and the Berlin facility (clinical runs)")
        return agreement["agreement_id"]

    def request(self, facility_ids: list[str], materials: list[str]) -> str:
        """ORG-1 asks two facilities for three CD19 CAR-T engineering batches; each quotes three of
        its weekly slots (held for the quote), so the developer has two answers to compare and accept."""
        developer = self.token(Role.DEVELOPER, org_id="ORG-1")
        today = date.today()
        request = self.post("scheduling", "/v1/requests",
                            {"facility_ids": facility_ids, "product": "CD19 CAR-T (engineering runs)",
                             "atmp_type": "somatic_cell_therapy", "process": "car_t", "batches": 3, "batch_days": 5,
                             "earliest_start": str(today), "latest_end": str(today + timedelta(weeks=10)),
                             "run_kind": "engineering",
                             "material_needs": [{"material_id": materials[0], "quantity": "500", "unit": "mL"},
                                                {"material_id": materials[1], "quantity": "2", "unit": "mL"}],
                             "needs": "Three consecutive engineering runs before clinical supply; closed system."},
                            developer)  # fmt: skip
        valid_until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        for facility_id, weeks, price in ((facility_ids[0], slice(1, 4), "52000.00"),
                                          (facility_ids[1], slice(2, 5), "47500.00")):  # fmt: skip
            self.post("scheduling", f"/v1/requests/{request['request_id']}/quotes",
                      {"slot_ids": self.slots[facility_id][weeks], "currency": "EUR", "price_per_batch": price,
                       "extras": [{"label": "Release testing (sterility, mycoplasma, endotoxin)", "amount": "6400.00"}],
                       "conditions": "30% on acceptance, the rest per batch released", "valid_until": valid_until},
                      self.token(Role.FACILITY, facility_ids=[facility_id]))  # fmt: skip
        self.say("scheduling: ORG-1's request for three CD19 CAR-T engineering batches, quoted by Berlin and Lyon")
        return request["request_id"]
