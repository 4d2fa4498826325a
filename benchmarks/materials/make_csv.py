"""Write a catalogue CSV of N plausible materials (default 10,000) for the bulk-import benchmark.

    python benchmarks/materials/make_csv.py /tmp/materials.csv --rows 10000 --supplier "Miltenyi Biotec"

Rows reference one supplier by name (register it first); --bad N adds N invalid rows to see them
reported by line."""

import argparse
import csv
import random

from services.materials.domain import Category
from services.materials.importing import COLUMNS

NAMES = ["TexMACS", "X-VIVO", "OpTmizer", "ImmunoCult", "StemSpan", "CryoStor", "Dynabeads", "CliniMACS",
         "PRIME-XV", "LentiBOOST", "TransAct", "Benzonase", "Proleukin", "CellGenix", "Plasmalyte"]  # fmt: skip
WHAT = ["medium", "IL-2", "IL-7", "IL-15", "beads", "reagent", "serum replacement", "buffer", "enzyme", "bag"]


def row(i: int, supplier: str, rng: random.Random) -> dict[str, str]:
    origin = rng.choice(["animal_origin_free"] * 6 + ["human"] * 3 + ["animal"])
    return {
        "name": f"{rng.choice(NAMES)} {rng.choice(WHAT)} {i}",
        "synonyms": f"{rng.choice(WHAT)} {i};product {i}",
        "category": rng.choice(list(Category)).value,
        "supplier": supplier,
        "catalogue_number": f"BM-{i:06d}",
        "grade": rng.choice(["gmp", "gmp", "ancillary", "research_use_only"]),
        "usp1043_tier": str(rng.randint(1, 4)),
        "origin": origin,
        "origin_species": "bovine" if origin == "animal" else "",
        "tse_bse_statement": "EDQM CEP R1-CEP 2000-001, NZ origin" if origin == "animal" else "",
        "ph_eur_5_2_12": rng.choice(["true", "false"]),
        "coa_reference": f"https://supplier.example/coa/BM-{i:06d}",
        "dmf_cep_reference": rng.choice(["", f"US DMF {10000 + i}"]),
        "regulatory_support_file": "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bad", type=int, default=0, help="invalid rows to mix in")
    parser.add_argument("--supplier", default="Miltenyi Biotec")
    parser.add_argument("--seed", type=int, default=1043)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for i in range(args.rows):
            writer.writerow(row(i, args.supplier, rng))
        for i in range(args.bad):
            writer.writerow(row(args.rows + i, args.supplier, rng) | {"grade": "premium"})


if __name__ == "__main__":
    main()
