"""The medicines authorities the hub knows, each with the state it acts for: the values of a
regulator token's `authority` claim, of a certificate's issuing authority and of the authority an
approval is filed with. Data only (standard library); the rules that use it are in the registry's
and approvals' domain.py. It lives in shared/ because it is the vocabulary of a token claim every
service reads, and no service imports another's code.

Source: EMA's list of national competent authorities for human medicines in the EU/EEA
(https://www.ema.europa.eu/en/partners-networks/eu-partners/eu-member-states/national-competent-authorities-human),
which are the authorities issuing GMP certificates and non-compliance statements in EudraGMDP, and
for Germany, where GMP inspection is a matter of the Länder, the Länder authorities in the ZLG's
directory of German GMP inspectorates (https://www.zlg.de) plus the two federal authorities (PEI for
ATMPs, vaccines and blood products; BfArM). Codes are `<ISO 3166-1 alpha-2>-<the authority's usual
abbreviation>`, as tokens already carry them (`DE-PEI`); `EMA` is the European Medicines Agency, which
files and coordinates but inspects and certifies through the member states' authorities.

To add one: a line below (code, name, state), and the identity provider may then put the code into
regulators' tokens. Never rename a code: certificates, approvals and events keep it.
"""

from dataclasses import dataclass

# The EU member states and the EEA states (Iceland, Liechtenstein, Norway), ISO 3166-1 alpha-2.
EEA_STATES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()
)


@dataclass(frozen=True)
class Authority:
    code: str
    name: str
    state: str | None  # the EU/EEA state it acts for; None for the EU's own agency (EMA)


_AUTHORITIES = [
    ("EMA", "European Medicines Agency", None),
    ("AT-BASG", "Bundesamt für Sicherheit im Gesundheitswesen (BASG / AGES Medizinmarktaufsicht)", "AT"),
    ("BE-FAMHP", "Federal Agency for Medicines and Health Products (FAMHP / AFMPS / FAGG)", "BE"),
    ("BG-BDA", "Bulgarian Drug Agency", "BG"),
    ("HR-HALMED", "Agency for Medicinal Products and Medical Devices of Croatia (HALMED)", "HR"),
    ("CY-PHS", "Ministry of Health, Pharmaceutical Services", "CY"),
    ("CZ-SUKL", "State Institute for Drug Control (SÚKL)", "CZ"),
    ("DK-DKMA", "Danish Medicines Agency (Lægemiddelstyrelsen)", "DK"),
    ("EE-SAM", "State Agency of Medicines (Ravimiamet)", "EE"),
    ("FI-FIMEA", "Finnish Medicines Agency (Fimea)", "FI"),
    ("FR-ANSM", "Agence nationale de sécurité du médicament et des produits de santé (ANSM)", "FR"),
    ("DE-PEI", "Paul-Ehrlich-Institut (federal: ATMPs, vaccines, blood products)", "DE"),
    ("DE-BfArM", "Bundesinstitut für Arzneimittel und Medizinprodukte", "DE"),
    ("DE-RPF", "Regierungspräsidium Freiburg (Baden-Württemberg)", "DE"),
    ("DE-RPK", "Regierungspräsidium Karlsruhe (Baden-Württemberg)", "DE"),
    ("DE-RPS", "Regierungspräsidium Stuttgart (Baden-Württemberg)", "DE"),
    ("DE-RPT", "Regierungspräsidium Tübingen (Baden-Württemberg)", "DE"),
    ("DE-RegOB", "Regierung von Oberbayern (Bayern)", "DE"),
    ("DE-RegOF", "Regierung von Oberfranken (Bayern)", "DE"),
    ("DE-LAGeSo", "Landesamt für Gesundheit und Soziales (Berlin)", "DE"),
    ("DE-LAVG", "Landesamt für Arbeitsschutz, Verbraucherschutz und Gesundheit (Brandenburg)", "DE"),
    ("DE-SGFV", "Die Senatorin für Gesundheit, Frauen und Verbraucherschutz (Bremen)", "DE"),
    ("DE-BJV", "Behörde für Justiz und Verbraucherschutz, Amt für Verbraucherschutz (Hamburg)", "DE"),
    ("DE-RPDA", "Regierungspräsidium Darmstadt (Hessen)", "DE"),
    ("DE-LAGuS", "Landesamt für Gesundheit und Soziales (Mecklenburg-Vorpommern)", "DE"),
    ("DE-GAAH", "Staatliches Gewerbeaufsichtsamt Hildesheim (Niedersachsen)", "DE"),
    ("DE-BRA", "Bezirksregierung Arnsberg (Nordrhein-Westfalen)", "DE"),
    ("DE-BRDT", "Bezirksregierung Detmold (Nordrhein-Westfalen)", "DE"),
    ("DE-BRD", "Bezirksregierung Düsseldorf (Nordrhein-Westfalen)", "DE"),
    ("DE-BRK", "Bezirksregierung Köln (Nordrhein-Westfalen)", "DE"),
    ("DE-BRMS", "Bezirksregierung Münster (Nordrhein-Westfalen)", "DE"),
    ("DE-LSJV", "Landesamt für Soziales, Jugend und Versorgung (Rheinland-Pfalz)", "DE"),
    ("DE-LAV", "Landesamt für Verbraucherschutz (Saarland)", "DE"),
    ("DE-LDS", "Landesdirektion Sachsen (Sachsen)", "DE"),
    ("DE-LVwA", "Landesverwaltungsamt (Sachsen-Anhalt)", "DE"),
    ("DE-LAsD", "Landesamt für soziale Dienste (Schleswig-Holstein)", "DE"),
    ("DE-TLV", "Thüringer Landesamt für Verbraucherschutz (Thüringen)", "DE"),
    ("GR-EOF", "National Organization for Medicines (EOF)", "GR"),
    ("HU-NNGYK", "National Center for Public Health and Pharmacy (NNGYK, formerly OGYÉI)", "HU"),
    ("IE-HPRA", "Health Products Regulatory Authority", "IE"),
    ("IT-AIFA", "Agenzia Italiana del Farmaco", "IT"),
    ("LV-ZVA", "State Agency of Medicines (Zāļu valsts aģentūra)", "LV"),
    ("LT-VVKT", "State Medicines Control Agency (VVKT)", "LT"),
    ("LU-ALMPS", "Agence luxembourgeoise des médicaments et produits de santé", "LU"),
    ("MT-MMA", "Malta Medicines Authority", "MT"),
    ("NL-IGJ", "Inspectie Gezondheidszorg en Jeugd (Health and Youth Care Inspectorate)", "NL"),
    ("NL-CBG", "College ter Beoordeling van Geneesmiddelen (Medicines Evaluation Board)", "NL"),
    ("PL-GIF", "Główny Inspektorat Farmaceutyczny (Chief Pharmaceutical Inspectorate)", "PL"),
    ("PL-URPL", "Office for Registration of Medicinal Products, Medical Devices and Biocidal Products", "PL"),
    ("PT-INFARMED", "INFARMED, Autoridade Nacional do Medicamento e Produtos de Saúde", "PT"),
    ("RO-ANMDMR", "National Agency for Medicines and Medical Devices of Romania", "RO"),
    ("SK-SUKL", "State Institute for Drug Control (ŠÚKL)", "SK"),
    ("SI-JAZMP", "Agency for Medicinal Products and Medical Devices (JAZMP)", "SI"),
    ("ES-AEMPS", "Agencia Española de Medicamentos y Productos Sanitarios", "ES"),
    ("SE-MPA", "Swedish Medical Products Agency (Läkemedelsverket)", "SE"),
    ("IS-IMA", "Icelandic Medicines Agency (Lyfjastofnun)", "IS"),
    ("LI-AG", "Amt für Gesundheit (Liechtenstein)", "LI"),
    ("NO-NOMA", "Norwegian Medical Products Agency (DMP)", "NO"),
]
AUTHORITIES: dict[str, Authority] = {code: Authority(code, name, state) for code, name, state in _AUTHORITIES}


def competent_authorities(country: str) -> list[str]:
    """Who may certify a site in `country`: that state's authorities, or any EU/EEA one elsewhere
    (registry enforces it; the portal offers only what it would accept)."""
    return [
        a.code
        for a in AUTHORITIES.values()
        if a.state is not None and (a.state == country or country not in EEA_STATES)
    ]
