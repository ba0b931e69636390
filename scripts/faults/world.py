"""The world of the fault suite and load profile, built through the public API (black box):
an admin, a township with a village, its collective and staff, investors, and listings in
auction with every investor an eligible bidder."""
import asyncio
import datetime as dt
import uuid

import aiohttp

J = {"Content-Type": "application/json"}
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
PASSWORD = "faults-password-2027"


def resident_id(n):
    body = f"31011619800101{n % 1000:03d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * k for c, k in zip(body, w)) % 11]


def rfc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


class Api:
    """A small client with retries for setup calls (the cluster is healthy then)."""

    def __init__(self, base, session):
        self.base = base
        self.s = session

    async def call(self, method, path, token=None, body=None, expect=(200, 201, 204), tries=5,
                   headers=None, data=None, content_type=None):
        """JSON `body`, or raw bytes `data` with their `content_type` (a document)."""
        h = dict(J) if data is None else {"Content-Type": content_type}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if headers:
            h.update(headers)
        last = None
        for _ in range(tries):
            try:
                async with self.s.request(method, self.base + path, headers=h,
                                          json=body if data is None else None, data=data,
                                          timeout=aiohttp.ClientTimeout(total=30)) as r:
                    text = await r.text()
                    if r.status in expect:
                        return r.status, (await r.json(content_type=None)) if text else None
                    last = f"{r.status} {text[:300]}"
                    if r.status < 500:
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                last = repr(e)
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{method} {path}: {last}")

    async def attach_listing_documents(self, listing_id, token):
        """The villagers' resolution and the commission letters, which submitting needs."""
        for kind in ("resolution", "commission"):
            pdf = f"%PDF-1.4\n% {kind} scan\n%%EOF\n".encode()
            await self.call("POST", f"/api/v1/listings/{listing_id}/documents?kind={kind}"
                            f"&filename={kind}.pdf", token, expect=(201,), data=pdf,
                            content_type="application/pdf")

    async def login(self, email, password=PASSWORD):
        _, b = await self.call("POST", "/api/v1/auth/login", body={"email": email, "password": password})
        return b["access_token"]


async def build(api, cluster, listings, bidders, tag="f"):
    """Returns {admin, staff, coll, investors: [(email, token, i)], listings: [ids], t0}."""
    r = cluster.landx_cli("admin", "create", "--email", "ops@faults.test", "--password", PASSWORD)
    if r.returncode != 0 and "exists" not in (r.stdout + r.stderr):
        raise RuntimeError(f"admin create: {r.stdout} {r.stderr}")
    admin = await api.login("ops@faults.test")
    _, clock = await api.call("GET", "/api/v1/admin/clock", admin)
    t0 = parse_time(clock["now"])
    _, ts = await api.call("POST", "/api/v1/townships", admin, {"code": "CJ", "name": "漕泾镇"})
    _, vl = await api.call("POST", "/api/v1/villages", admin,
                           {"township_id": ts["id"], "code": "HT", "name": "护塘村"})

    async def user(email, name, role, extra):
        await api.call("POST", "/api/v1/users", admin,
                       {"email": email, "password": PASSWORD, "display_name": name, "role": role, **extra})
        return await api.login(email)

    coll = await user("ht@faults.test", "护塘村股份经济合作社", "collective", {"village_id": vl["id"]})
    staff = await user("cj@faults.test", "漕泾镇农经站", "staff", {"township_id": ts["id"]})
    investors = []
    for i in range(bidders):
        email = f"farm{i}@faults.test"
        investors.append((email, await user(email, f"家庭农场{i}", "investor", {}), i))

    closes = t0 + dt.timedelta(hours=1)
    term_start = (t0 + dt.timedelta(days=10)).astimezone(SHANGHAI).date()
    term_end = term_start.replace(year=term_start.year + 10) - dt.timedelta(days=1)
    ids = []
    for k in range(1, listings + 1):
        _, p = await api.call("POST", "/api/v1/parcels", coll, {
            "code": f"JS-CJ-{tag.upper()}-{k:03d}", "area_mu": "50.00", "land_type": "arable",
            "permanent_basic_farmland": True, "quality_grade": 3, "households": 12,
            "household_contract_end": "2058-12-31", "location": f"漕泾镇护塘村{k}组"})
        ends = closes + dt.timedelta(hours=k)
        _, l = await api.call("POST", "/api/v1/listings", coll, {
            "title": f"护塘村土地经营权流转 第{k}批", "description": "粮食生产",
            "parcel_ids": [p["id"]], "intended_use": "grain",
            "term_start": term_start.isoformat(), "term_end": term_end.isoformat(),
            "reserve_price_fen": 120000, "min_increment_fen": 1000, "deposit_fen": 100000,
            "registration_closes_at": rfc(closes), "auction_starts_at": rfc(closes),
            "auction_ends_at": rfc(ends), "extension_secs": 60,
            "consent": {"resolution_date": (t0 - dt.timedelta(days=3)).astimezone(SHANGHAI).date().isoformat(),
                        "members_agreeing": 20, "members_total": 30, "commissions_received": 12}})
        await api.attach_listing_documents(l["id"], coll)
        await api.call("POST", f"/api/v1/listings/{l['id']}/submit", coll, {})
        await api.call("POST", f"/api/v1/listings/{l['id']}/approve", staff, {})
        for email, tok, i in investors:
            _, reg = await api.call("POST", f"/api/v1/listings/{l['id']}/registrations", tok, {
                "legal_name": f"张{i}", "id_type": "resident_id", "id_number": resident_id(i),
                "phone": "13800138000", "experience": "十年水稻种植", "business_plan": "优质稻米",
                "claims_membership": False})
            await api.call("POST", f"/api/v1/registrations/{reg['id']}/qualify", staff, {})
            await api.call("POST", f"/api/v1/registrations/{reg['id']}/deposit", staff,
                           {"amount_fen": 100000, "receipt_ref": f"ICBC-{uuid.uuid4().hex[:10]}"})
        ids.append(l["id"])
    # Registration closes: every listing goes to auction (≥ 2 eligible bidders each).
    await api.call("POST", "/api/v1/admin/clock/advance", admin, {"seconds": 3600 + 5})
    for lid in ids:
        for _ in range(60):
            _, l = await api.call("GET", f"/api/v1/listings/{lid}")
            if l["status"] == "auction":
                break
            await asyncio.sleep(0.5)
        else:
            raise RuntimeError(f"listing {lid} never went to auction: {l['status']}")
    return {"admin": admin, "staff": staff, "coll": coll, "investors": investors,
            "listings": ids, "t0": t0, "township_id": ts["id"]}
