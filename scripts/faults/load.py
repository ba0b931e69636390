#!/usr/bin/env python3
"""landx load profile (issue 14): public search and bid history at fixed offered rates (hey -q),
SSE watchers held open on the hot auction and bids at a fixed offered rate (open loop, here),
through HAProxy with 1 and then 3 instances on a private PostgreSQL. Prints a Markdown table.
Run it through scripts/load.sh.
"""
import argparse
import asyncio
import csv
import io
import json
import os
import statistics
import sys
import time
import uuid

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import Cluster  # noqa: E402
from world import Api, build  # noqa: E402

T_START = time.time()


def log(msg):
    print(f"[{time.time() - T_START:6.1f}s] {msg}", flush=True)


def pct(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def hey(url, rate, secs, workers):
    """hey at `rate` req/s in all (`workers` each limited to rate/workers): latencies, codes."""
    q = max(1, round(rate / workers))
    proc = await asyncio.create_subprocess_exec(
        "hey", "-z", f"{secs}s", "-c", str(workers), "-q", str(q), "-t", "10", "-o", "csv", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    lat, codes = [], {}
    for row in csv.DictReader(io.StringIO(out.decode())):
        try:
            lat.append(float(row["response-time"]))
            codes[row["status-code"]] = codes.get(row["status-code"], 0) + 1
        except (KeyError, ValueError):
            continue
    return {"offered": q * workers, "n": len(lat), "lat": lat, "codes": codes, "secs": secs}


class Watchers:
    def __init__(self):
        self.connected = 0
        self.dropped = 0
        self.refused = {}
        self.events = 0


async def watcher(session, url, w, stop):
    while not stop.is_set():
        try:
            async with session.get(url, headers={"Accept": "text/event-stream"},
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=60)) as r:
                if r.status != 200:
                    w.refused[r.status] = w.refused.get(r.status, 0) + 1
                    await asyncio.sleep(1)
                    continue
                w.connected += 1
                try:
                    async for line in r.content:
                        if line.startswith(b"event: bid"):
                            w.events += 1
                        if stop.is_set():
                            break
                finally:
                    w.connected -= 1
                if not stop.is_set():
                    w.dropped += 1
        except (aiohttp.ClientError, asyncio.TimeoutError):
            if not stop.is_set():
                w.dropped += 1
            await asyncio.sleep(0.5)


async def bids_open_loop(session, base, listing, tokens, rate, secs):
    """Offers `rate` bids/s whatever the answers' speed; latency from the planned start."""
    lat, codes = [], {}
    interval = 1.0 / rate
    price = [120000]

    async def one(i, planned):
        amount = price[0] + 1000
        t = tokens[i % len(tokens)]
        try:
            async with session.post(f"{base}/api/v1/listings/{listing}/bids",
                                    headers={"Authorization": f"Bearer {t}",
                                             "Idempotency-Key": str(uuid.uuid4())},
                                    json={"amount_fen": amount},
                                    timeout=aiohttp.ClientTimeout(total=10)) as r:
                body = await r.json(content_type=None)
                if r.status == 201:
                    price[0] = max(price[0], body["current_price_fen"])
                elif r.status == 422 and isinstance(body, dict) and body.get("code") == "bid_too_low":
                    price[0] += 1000
                st = str(r.status)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            st = "no answer"
        lat.append(time.monotonic() - planned)
        codes[st] = codes.get(st, 0) + 1

    start = time.monotonic()
    tasks, i = [], 0
    while time.monotonic() - start < secs:
        planned = start + i * interval
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, planned)))
        i += 1
    await asyncio.gather(*tasks)
    return {"offered": rate, "n": len(lat), "lat": lat, "codes": codes}


def fmt(r):
    ms = lambda x: f"{x * 1000:.0f}"  # noqa: E731
    errors = sum(v for k, v in r["codes"].items() if not k.startswith("2") and k not in ("409", "422"))
    return f"{ms(pct(r['lat'], .5))} / {ms(pct(r['lat'], .99))}", errors


async def run(binary, n, args):
    cl = Cluster(binary, instances=n, replica=not args.no_replica, log=log,
                 pool_size=args.pool_size)
    rows = []
    try:
        await asyncio.to_thread(cl.start)
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as s:
            world = await build(Api(cl.lb, s), cl, 1, 4, tag=f"L{n}")
            listing = world["listings"][0]
            tokens = [t for _, t, _ in world["investors"]]
            # More public listings to search over.
            await more_listings(Api(cl.lb, s), world, args.listings)
            w, stop = Watchers(), asyncio.Event()
            wt = [asyncio.create_task(watcher(s, f"{cl.lb}/api/v1/listings/{listing}/events", w, stop))
                  for _ in range(args.watchers)]
            for _ in range(60):
                if w.connected >= args.watchers:
                    break
                await asyncio.sleep(0.5)
            log(f"{n} instance(s): {w.connected} SSE watchers connected")
            search = (f"{cl.lb}/api/v1/listings?township_id={world['township_id']}"
                      f"&q=%E6%8A%A4%E5%A1%98&sort=-reserve_price_fen&limit=20")
            history = f"{cl.lb}/api/v1/listings/{listing}/bids?limit=50"
            for rate in args.rates:
                dropped0 = w.dropped
                half = rate // 2
                rs, rh, rb = await asyncio.gather(
                    hey(search, half, args.step_secs, args.hey_workers),
                    hey(history, half, args.step_secs, args.hey_workers),
                    bids_open_loop(s, cl.lb, listing, tokens, args.bid_rate, args.step_secs))
                (s_p, s_e), (h_p, h_e), (b_p, b_e) = fmt(rs), fmt(rh), fmt(rb)
                achieved = (rs["n"] + rh["n"]) / args.step_secs
                row = {"instances": n, "offered": rs["offered"] + rh["offered"], "achieved": achieved,
                       "search": s_p, "history": h_p, "bids": b_p,
                       "bid_offered": args.bid_rate, "errors": s_e + h_e + b_e,
                       "codes": {"search": rs["codes"], "history": rh["codes"], "bids": rb["codes"]},
                       "watchers": w.connected, "dropped": w.dropped - dropped0}
                rows.append(row)
                log(json.dumps(row, ensure_ascii=False))
            stop.set()
            for t in wt:
                t.cancel()
            await asyncio.gather(*wt, return_exceptions=True)
    finally:
        await asyncio.to_thread(cl.stop, args.keep)
    return rows


async def more_listings(api, world, count):
    coll, staff = world["coll"], world["staff"]
    for k in range(count):
        _, p = await api.call("POST", "/api/v1/parcels", coll, {
            "code": f"JS-CJ-X-{k:05d}", "area_mu": f"{10 + k % 90}.00", "land_type": "arable",
            "permanent_basic_farmland": False, "quality_grade": 3, "households": 12,
            "household_contract_end": "2058-12-31", "location": f"漕泾镇护塘村{k}组"})
        _, l = await api.call("POST", "/api/v1/listings", coll, {
            "title": f"护塘村土地经营权流转 {k}", "description": "粮食生产", "parcel_ids": [p["id"]],
            "intended_use": "grain", "term_start": "2030-02-01", "term_end": "2040-01-31",
            "reserve_price_fen": 100000 + 1000 * (k % 50), "min_increment_fen": 1000,
            "deposit_fen": 10000,
            "registration_closes_at": "2030-01-01T00:00:00Z", "auction_starts_at": "2030-01-02T00:00:00Z",
            "auction_ends_at": "2030-01-02T02:00:00Z",
            "consent": {"resolution_date": world["t0"].date().isoformat(),
                        "members_agreeing": 20, "members_total": 30, "commissions_received": 12}})
        await api.attach_listing_documents(l["id"], coll)
        await api.call("POST", f"/api/v1/listings/{l['id']}/submit", coll, {})
        await api.call("POST", f"/api/v1/listings/{l['id']}/approve", staff, {})


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--instances", default="1,3")
    ap.add_argument("--rates", default="100,200,400,800", help="search + history, req/s in all")
    ap.add_argument("--bid-rate", type=int, default=20)
    ap.add_argument("--watchers", type=int, default=500)
    ap.add_argument("--listings", type=int, default=100)
    ap.add_argument("--step-secs", type=int, default=15)
    ap.add_argument("--hey-workers", type=int, default=25)
    ap.add_argument("--pool-size", type=int, default=10)
    ap.add_argument("--no-replica", action="store_true")
    ap.add_argument("--report", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    args.rates = [int(r) for r in args.rates.split(",")]
    rows = []
    for n in [int(x) for x in args.instances.split(",")]:
        rows += await run(args.bin, n, args)
    lines = ["## Load profile", "",
             f"Through HAProxy, private PostgreSQL (primary{'' if args.no_replica else ' + replica'}); "
             f"{args.watchers} SSE watchers on the hot auction, bids offered at {args.bid_rate}/s (open loop), "
             f"search and bid history at the offered rate below (hey, {args.hey_workers} workers each, "
             f"-q per worker), {args.step_secs} s per step. Latencies p50 / p99 in ms; errors = answers "
             f"other than 2xx, 409 and 422 (lost races of bidders are 409/422) plus no answer.", "",
             "| instances | search+history offered req/s | achieved req/s | search p50/p99 | history p50/p99 | "
             "bids p50/p99 | errors | SSE watchers open / dropped |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['instances']} | {r['offered']} | {r['achieved']:.0f} | {r['search']} | "
                     f"{r['history']} | {r['bids']} | {r['errors']} | {r['watchers']} / {r['dropped']} |")
    text = "\n".join(lines)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")
            f.write("\n<!-- raw -->\n" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
