"""Drive approvals through the API as each role would."""

from typing import Any

PEI = "DE-PEI"


class Flow:
    def __init__(self, approvals, tokens, org: str = "ORG-1", authority: str = PEI) -> None:
        self.client = approvals.client
        self.dev = tokens.developer(org)
        self.reg = tokens.regulator(authority)

    async def ok(self, method: str, path: str, headers: dict, body: Any = None, expect: int = 200) -> dict:
        response = await self.client.request(method, path, headers=headers, json=body)
        assert response.status_code == expect, response.text
        return response.json()

    async def draft(
        self, parent_id: str | None = None, covers: str | None = None, headers: dict | None = None, **kw
    ) -> dict:
        body = {
            "level": "child" if parent_id else "parent",
            "covers": covers or ("product" if parent_id else "platform"),
            "title": kw.pop("title", "AAV9 capsid platform" if not parent_id else "SMA gene therapy"),
            "authority": kw.pop("authority", PEI),
            "parent_id": parent_id,
            **kw,
        }
        return await self.ok("POST", "/v1/approvals", headers or self.dev, body, expect=201)

    async def submit(self, approval_id: str, headers: dict | None = None) -> dict:
        return await self.ok("POST", f"/v1/approvals/{approval_id}/submit", headers or self.dev)

    async def review(self, approval_id: str) -> dict:
        return await self.ok("POST", f"/v1/approvals/{approval_id}/review", self.reg)

    async def decide(self, approval_id: str, outcome: str = "approved", **kw) -> dict:
        body = {
            "outcome": outcome,
            "meaning": "Decision of the competent authority",
            "reason": "Data acceptable.",
            **kw,
        }
        return await self.ok("POST", f"/v1/approvals/{approval_id}/decision", self.reg, body)

    async def approved(self, parent_id: str | None = None, assessment: dict | None = None, **kw) -> dict:
        a = await self.draft(parent_id, **kw)
        await self.submit(a["approval_id"], headers=kw.get("headers"))
        await self.review(a["approval_id"])
        return await self.decide(a["approval_id"], assessment=assessment or {})

    async def act(self, approval_id: str, action: str, expect: int = 200) -> dict:
        body = {"meaning": f"{action} by the competent authority", "reason": f"{action}: inspection finding"}
        return await self.ok("POST", f"/v1/approvals/{approval_id}/{action}", self.reg, body, expect=expect)

    async def get(self, approval_id: str, headers: dict | None = None) -> dict:
        return await self.ok("GET", f"/v1/approvals/{approval_id}", headers or self.dev)
