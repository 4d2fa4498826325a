"""Suspension cascades on a tree of about 300 approvals: seeds a throw-away embedded PostgreSQL
through the approvals migrations with an approved platform, its products and their indications,
then times suspending the root and reinstating it through the use cases the API calls (tree lock,
domain cascade, rows, signature, one outbox event per changed approval, commit).
Run: `python -m benchmarks.approvals.bench_cascade [runs]`."""

import asyncio
import math
import statistics
import sys
import time
import uuid

from benchmarks.throwaway import service_database
from services.approvals import approvals, models
from services.approvals.repository import ApprovalsUnitOfWork
from shared.auth import Principal, Role
from shared.database import Database

CHILDREN, GRANDCHILDREN = 20, 14  # 1 + 20 + 280 = 301 approvals
OWN_SUSPENSION_EVERY = 25  # some indications suspended on their own: the cascade must leave them
REGULATOR = Principal(sub="bench", role=Role.REGULATOR, authority="DE-PEI")


def approval(
    root_id: uuid.UUID | None, parent_id: uuid.UUID | None, covers: str, title: str, status: str
) -> models.Approval:
    approval_id = uuid.uuid4()
    return models.Approval(
        id=approval_id, version=4, parent_id=parent_id, root_id=root_id or approval_id,
        level="child" if parent_id else "parent", covers=covers, title=title, holder_org_id="ORG-1",
        authority="DE-PEI", facility_ids=[], relied_on_parts=[], assessment={"quality": "acceptable"},
        status=status, created_by="bench", updated_by="bench",
    )  # fmt: skip


async def seed(db: Database) -> tuple[uuid.UUID, int]:
    root = approval(None, None, "platform", "AAV9 platform", "approved")
    rows = [root]
    for c in range(CHILDREN):
        product = approval(root.id, root.id, "product", f"Product {c}", "approved")
        rows.append(product)
        for g in range(GRANDCHILDREN):
            own = (c * GRANDCHILDREN + g) % OWN_SUSPENSION_EVERY == 0
            rows.append(
                approval(root.id, product.id, "indication", f"Indication {c}.{g}", "suspended" if own else "approved")
            )
    async with db.sessions() as session, session.begin():
        session.add_all(rows)
    return root.id, len(rows)


async def timed(db: Database, action, root_id: uuid.UUID, reason: str) -> tuple[float, int]:
    """One cascade as the API runs it; returns (ms, approvals it changed)."""
    started = time.perf_counter()
    async with db.unit_of_work(REGULATOR.actor) as uow:
        await action(uow, REGULATOR, root_id, approvals.SignatureRequest(f"{reason} by DE-PEI", reason))
        await uow.commit()
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, len({e.subject for e in uow.envelopes})


async def run(url: str, runs: int) -> None:
    db = Database(url, unit_of_work=ApprovalsUnitOfWork)
    root_id, total = await seed(db)
    own = sum(1 for i in range(CHILDREN * GRANDCHILDREN) if i % OWN_SUSPENSION_EVERY == 0)
    print(f"seeded {total} approvals (1 platform, {CHILDREN} products, {CHILDREN * GRANDCHILDREN} indications, "
          f"{own} suspended on their own); {runs} runs each")  # fmt: skip
    timings: dict[str, list[float]] = {"suspend root": [], "reinstate root": []}
    changed: dict[str, set[int]] = {name: set() for name in timings}
    for _ in range(runs + 1):  # the first round warms the pool and the plans: not counted
        for name, action in (("suspend root", approvals.suspend), ("reinstate root", approvals.reinstate)):
            ms, count = await timed(db, action, root_id, "Sterility failure" if "suspend" in name else "CAPA closed")
            timings[name].append(ms)
            changed[name].add(count)
    print(f"{'cascade':<16} {'changed':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, values in timings.items():
        values = sorted(values[1:])
        p95 = values[math.ceil(0.95 * len(values)) - 1]
        count = "/".join(str(c) for c in sorted(changed[name]))
        print(f"{name:<16} {count:>8} {statistics.median(values):>10.1f} {p95:>8.1f} {values[-1]:>8.1f}")
    await db.dispose()


def main() -> None:
    with service_database("approvals") as url:
        asyncio.run(run(url, int(sys.argv[1]) if len(sys.argv) > 1 else 20))


if __name__ == "__main__":
    main()
