#!/usr/bin/env python3
"""landx fault suite (issue 14): a PostgreSQL primary + streaming replica, an SMTP sink, three
landx instances and HAProxy on loopback ports; bidders, SSE watchers, signups and searches run
while faults are injected one after another. Prints a Markdown table; exits 1 when a
must-be-zero isn't zero. Run it through scripts/faults.sh.
"""
import argparse
import asyncio
import collections
import json
import os
import random
import sys
import time
import uuid

import aiohttp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster import MAIL_DOMAIN, Cluster, http_get  # noqa: E402
from world import PASSWORD, Api, build  # noqa: E402

J = {"Content-Type": "application/json"}
T_START = time.time()


def log(msg):
    print(f"[{time.time() - T_START:6.1f}s] {msg}", flush=True)


class Phase:
    """What the clients saw during one fault."""

    def __init__(self, name):
        self.name = name
        self.statuses = collections.Counter()
        self.bad5xx = []  # (actor, status, method, path, body)
        self.failures = []  # times of requests that got no useful answer (5xx or none)
        self.transport = 0
        self.acked = {}  # bid id -> (amount, key)
        self.key_ids = collections.defaultdict(set)
        self.bids_tried = 0
        self.signups = set()  # addresses whose account exists (so a mail is owed)
        self.watchers = []
        self.fault_at = None
        self.repaired_at = None
        self.notes = []
        self.samples = []  # the first 5xx answers: (t, actor, status, method, path, body)


class Clients:
    def __init__(self, base, session, phase):
        self.base, self.s, self.p = base, session, phase

    async def req(self, actor, method, path, token=None, body=None, key=None, timeout=15.0):
        h = dict(J)
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["Idempotency-Key"] = key
        try:
            async with self.s.request(method, self.base + path, headers=h, json=body,
                                      timeout=aiohttp.ClientTimeout(total=timeout)) as r:
                text = await r.text()
                st = r.status
                self.p.statuses[(actor, st)] += 1
                if st >= 500:
                    self.p.failures.append(time.time())
                    if len(self.p.samples) < 8:
                        self.p.samples.append((round(time.time() - T_START, 1), actor, st, method,
                                               path.split("?")[0], text[:160]))
                    if st != 503:
                        self.p.bad5xx.append((actor, st, method, path, text[:200]))
                try:
                    js = json.loads(text) if text else None
                except ValueError:
                    js = None
                return st, js, r.headers
        except (aiohttp.ClientError, asyncio.TimeoutError):
            self.p.statuses[(actor, "no answer")] += 1
            self.p.transport += 1
            self.p.failures.append(time.time())
            return None, None, {}


async def bidder(c, listing, token, stop):
    while not stop.is_set():
        st, l, _ = await c.req("bidder", "GET", f"/api/v1/listings/{listing}")
        if st != 200:
            await asyncio.sleep(0.3)
            continue
        if l["status"] != "auction":
            return
        cur = l.get("current_price_fen")
        amount = 120000 if cur is None else cur + 1000
        key = f"bid-{uuid.uuid4()}"
        c.p.bids_tried += 1
        deadline = time.time() + 25
        while True:
            st, b, h = await c.req("bidder", "POST", f"/api/v1/listings/{listing}/bids", token,
                                   {"amount_fen": amount}, key)
            if st == 201:
                c.p.acked[b["id"]] = (amount, key)
                c.p.key_ids[key].add(b["id"])
                break
            code = (b or {}).get("code") if isinstance(b, dict) else None
            retry = st is None or st >= 500 or (st == 409 and code == "conflict")
            if not retry or time.time() > deadline:
                break
            await asyncio.sleep(0.5)  # same key, same body
        await asyncio.sleep(random.uniform(0.05, 0.3))


async def signups(c, phase_no, stop, n_tasks=2):
    async def one(t):
        n = 0
        while not stop.is_set():
            n += 1
            email = f"s{phase_no}-{t}-{n}-{uuid.uuid4().hex[:6]}@faults.test"
            body = {"email": email, "password": PASSWORD, "display_name": f"用户{n}"}
            uncertain = False
            deadline = time.time() + 40
            while True:
                st, b, _ = await c.req("signup", "POST", "/api/v1/auth/register", None, body)
                if st == 201 or (st == 409 and uncertain):
                    c.p.signups.add(email)
                    break
                if (st is None or st >= 500) and time.time() < deadline:
                    uncertain = True
                    await asyncio.sleep(0.5)
                    continue
                break
            await asyncio.sleep(0.3)
    await asyncio.gather(*(one(t) for t in range(n_tasks)))


async def searcher(c, listing, township, year, stop):
    paths = [f"/api/v1/listings?township_id={township}&q=%E6%8A%A4%E5%A1%98&sort=-reserve_price_fen&limit=20",
             f"/api/v1/listings/{listing}/bids?limit=50",
             f"/api/v1/open-data/deals?township_id={township}&limit=20",
             f"/api/v1/stats?year={year}&township_id={township}"]
    i = 0
    while not stop.is_set():
        await c.req("search", "GET", paths[i % len(paths)])
        i += 1
        await asyncio.sleep(0.05)


class Watcher:
    def __init__(self):
        self.seen = {}  # seq -> amount
        self.closed = []
        self.reconnects = 0
        self.statuses = collections.Counter()


async def watch(c, listing, w, done):
    last_id = None
    while not done.is_set():
        h = {"Accept": "text/event-stream"}
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        try:
            async with c.s.get(f"{c.base}/api/v1/listings/{listing}/events", headers=h,
                               timeout=aiohttp.ClientTimeout(total=None, sock_read=40)) as r:
                w.statuses[r.status] += 1
                c.p.statuses[("watcher", r.status)] += 1
                if r.status >= 500 and r.status != 503:
                    c.p.bad5xx.append(("watcher", r.status, "GET", "events", (await r.text())[:200]))
                if r.status != 200:
                    await asyncio.sleep(0.5)
                    continue
                ev, data, eid = None, [], None
                async for raw in r.content:
                    line = raw.decode().rstrip("\r\n")
                    if line == "":
                        if ev == "bid":
                            d = json.loads("\n".join(data))
                            w.seen[int(eid)] = d["amount_fen"]
                            last_id = int(eid)
                        elif ev == "closed":
                            w.closed.append(json.loads("\n".join(data)))
                            return
                        ev, data, eid = None, [], None
                    elif line.startswith("event:"):
                        ev = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif line.startswith("id:"):
                        eid = line[3:].strip()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            pass
        w.reconnects += 1
        await asyncio.sleep(0.3)


async def probe(c, listing, stop, marks):
    """Reads the listing every 250 ms: when the service answered and when it didn't."""
    while not stop.is_set():
        st, _, _ = await c.req("probe", "GET", f"/api/v1/listings/{listing}", timeout=5)
        marks.append((time.time(), st == 200))
        await asyncio.sleep(0.25)


async def health_monitor(cl, p, marks, timeout=240):
    """From the repair on: when the service is whole again (every instance up behind the LB,
    the replica streaming, the probe answered) and when every mail that was waiting at the
    repair has been sent."""
    waiting = set()
    for _ in range(40):
        try:
            waiting = {r[0] for r in await asyncio.to_thread(
                cl.psql, "SELECT id FROM outbox WHERE sent_at IS NULL")}
            break
        except RuntimeError:
            await asyncio.sleep(0.25)
    p.mail_waiting = len(waiting)
    p.service_at = p.mail_at = None
    t0 = time.time()
    while time.time() - t0 < timeout and (p.service_at is None or p.mail_at is None):
        now = time.time()
        if p.service_at is None:
            up = await asyncio.to_thread(cl.backends_up)
            streaming = (not cl.want_replica) or await asyncio.to_thread(cl.replica_streaming)
            probe_ok = bool(marks) and marks[-1][1] and marks[-1][0] > p.repaired_at
            if up == cl.n and streaming and probe_ok:
                p.service_at = now
        if p.mail_at is None:
            try:
                unsent = {r[0] for r in await asyncio.to_thread(
                    cl.psql, "SELECT id FROM outbox WHERE sent_at IS NULL")}
                if not (unsent & waiting):
                    p.mail_at = now
            except RuntimeError:
                pass
        await asyncio.sleep(0.25)


def replica_reads(cl):
    """landx_replica_reads_total of every running instance, by who served them."""
    out = collections.Counter()
    for i, port in enumerate(cl.inst_ports):
        st, text = http_get(f"http://127.0.0.1:{port}/metrics", 3)
        for line in text.splitlines() if st == 200 else []:
            if line.startswith("landx_replica_reads_total{"):
                who = line.split('served_by="')[1].split('"')[0]
                out[who] += int(float(line.rsplit(" ", 1)[1]))
    return out


def outbox_ids(cl):
    return {r[0] for r in cl.psql("SELECT id FROM outbox")}


async def wait_drained(cl, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if int(cl.psql("SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]) == 0:
                return time.time()
        except RuntimeError:
            pass
        await asyncio.sleep(0.5)
    return None


# ---- the faults -------------------------------------------------------------------------------
async def fault_kill(cl, p, args):
    i = 0
    log(f"kill -9 landx{i} (pid {cl.procs[f'landx{i}'].pid})")
    p.fault_at = time.time()
    cl.kill(f"landx{i}")
    await asyncio.sleep(args.down_secs)
    log(f"restart landx{i}")
    p.repaired_at = time.time()
    cl.start_instance(i, wait=False)
    await asyncio.to_thread(cl.wait_ready, i)
    p.notes.append(f"landx{i} killed mid-auction, restarted after {args.down_secs}s")


async def fault_pg_restart(cl, p, args):
    log("PostgreSQL primary: stop -m fast")
    p.fault_at = time.time()
    await asyncio.to_thread(cl.pg_stop, "primary", "fast")
    await asyncio.sleep(args.down_secs)
    log("PostgreSQL primary: start")
    await asyncio.to_thread(cl.pg_start, "primary")
    p.repaired_at = time.time()
    p.notes.append(f"primary down {args.down_secs}s (fast shutdown: open transactions rolled back)")


async def fault_smtp(cl, p, args):
    third = args.smtp_secs / 3
    log(f"SMTP: 421 for {third:.0f}s, 451 for {third:.0f}s, stopped for {third:.0f}s")
    p.fault_at = time.time()
    cl.sink_mode("421")
    await asyncio.sleep(third)
    cl.sink_mode("451")
    await asyncio.sleep(third)
    cl.stop_sink()
    await asyncio.sleep(third)
    cl.start_sink()
    p.repaired_at = time.time()
    log("SMTP: accepting again")
    p.notes.append(f"SMTP refused {args.smtp_secs:.0f}s (421 at MAIL, 451 at DATA, then stopped)")


async def fault_replica(cl, p, args):
    log("replica: stop")
    p.fault_at = time.time()
    await asyncio.to_thread(cl.pg_stop, "replica", "fast")
    await asyncio.sleep(args.replica_secs)
    log("replica: start")
    await asyncio.to_thread(cl.pg_start, "replica")
    p.repaired_at = time.time()
    p.notes.append(f"replica down {args.replica_secs}s")


FAULTS = {
    "kill": ("kill -9 an instance mid-auction", fault_kill),
    "pg": ("restart the PostgreSQL primary", fault_pg_restart),
    "smtp": ("SMTP refuses (421/451/stopped)", fault_smtp),
    "replica": ("stop the replica", fault_replica),
}


async def run_phase(no, fault, cl, world, session, args, mail_before):
    title, inject = FAULTS[fault]
    p = Phase(title)
    listing = world["listings"][no]
    c = Clients(cl.lb, session, p)
    stop, done = asyncio.Event(), asyncio.Event()
    watchers = [Watcher() for _ in range(args.watchers)]
    p.watchers = watchers
    marks = []
    tasks = [asyncio.create_task(watch(c, listing, w, done)) for w in watchers]
    traffic = [asyncio.create_task(bidder(c, listing, tok, stop)) for _, tok, _ in world["investors"]]
    traffic.append(asyncio.create_task(signups(c, no, stop)))
    traffic.append(asyncio.create_task(searcher(c, listing, world["township_id"], world["t0"].year, stop)))
    traffic.append(asyncio.create_task(probe(c, listing, stop, marks)))
    reads0 = await asyncio.to_thread(replica_reads, cl)
    await asyncio.sleep(args.before_secs)
    await inject(cl, p, args)
    monitor = asyncio.create_task(health_monitor(cl, p, marks, args.mail_timeout))
    await asyncio.sleep(args.after_secs)
    await asyncio.wait_for(monitor, args.mail_timeout + 30)
    stop.set()
    await asyncio.gather(*traffic)
    p.replica_reads = (await asyncio.to_thread(replica_reads, cl)) - reads0
    p.recovered = None if p.service_at is None else p.service_at - p.repaired_at
    p.mail_recovered = None if p.mail_at is None else p.mail_at - p.repaired_at
    await wait_drained(cl, args.mail_timeout)
    fails = [t for t, ok in marks if not ok and t >= p.fault_at]
    p.outage = (max(fails) - min(fails) + 0.25) if fails else 0.0
    mail_now = outbox_ids(cl)
    p.mail_expected = mail_now - mail_before
    # Close the auction: the clock moves past its end; the worker of any instance closes it.
    _, _, _ = await c.req("admin", "POST", "/api/v1/admin/clock/advance", world["admin"], {"seconds": 3600})
    status = None
    for _ in range(60):
        st, l, _ = await c.req("admin", "GET", f"/api/v1/listings/{listing}")
        if st == 200 and l["status"] in ("awarded", "failed"):
            status = l["status"]
            break
        await asyncio.sleep(0.5)
    p.final_status = status
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), 20)
    except asyncio.TimeoutError:
        done.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # What the database holds.
    rows = cl.psql(f"SELECT id, amount_fen, seq FROM bids WHERE listing_id = '{listing}'")
    db_bids = {r[0]: int(r[1]) for r in rows}
    db_seq = {int(r[2]): int(r[1]) for r in rows}
    deals = cl.psql(f"SELECT id, price_fen FROM deals WHERE listing_id = '{listing}'")
    # The public bid history, every page (what a client sees, not only the table).
    public_amounts, cursor = set(), None
    for _ in range(1000):
        q = f"?limit=200&cursor={cursor}" if cursor else "?limit=200"
        st, hist, _ = await c.req("admin", "GET", f"/api/v1/listings/{listing}/bids{q}")
        if st != 200:
            await asyncio.sleep(0.5)
            continue
        public_amounts |= {b["amount_fen"] for b in hist["items"]}
        cursor = hist.get("next_cursor")
        if not cursor:
            break
    p.acked_n = len(p.acked)
    p.lost = [i for i, (amt, _) in p.acked.items() if db_bids.get(i) != amt]
    top = max(db_bids.values()) if db_bids else None
    p.lost += [i for i, (amt, _) in p.acked.items() if amt not in public_amounts]
    p.lost = sorted(set(p.lost))
    p.dup_bids = (len(db_bids) - len(set(db_bids.values()))) + sum(
        1 for ids in p.key_ids.values() if len(ids) > 1)
    p.deals = len(deals)
    closed_ok = (status == "awarded" and len(deals) == 1 and int(deals[0][1]) == top)
    got_closed = [w for w in watchers if w.closed]
    closed_right = all(len(w.closed) == 1 and w.closed[0].get("winning_price_fen") == top
                       for w in got_closed)
    p.closed_once = closed_ok and closed_right and len(got_closed) == len(watchers)
    p.feed_gaps = sum(1 for w in watchers for s, a in db_seq.items() if w.seen.get(s, a) != a)
    p.feed_missing = sum(len(set(db_seq) - set(w.seen)) for w in watchers if w.closed)
    p.watch_reconnects = sum(w.reconnects for w in watchers)
    p.db_bids = len(db_bids)
    return p, mail_now


def mail_check(p, sink):
    by_id = collections.Counter(m["message_id"] for m in sink)
    p.mail_lost = sorted(i for i in p.mail_expected if by_id[f"<{i}@{MAIL_DOMAIN}>"] == 0)
    p.mail_dup = sorted(i for i in p.mail_expected if by_id[f"<{i}@{MAIL_DOMAIN}>"] > 1)
    verify = collections.Counter(
        to for m in sink if (m["subject"] or "").endswith("Verify your e-mail") for to in m["to"])
    p.signup_bad = sorted(e for e in p.signups if verify[e] != 1)


def table(phases):
    out = ["| fault | bids tried / acked (201) | acked lost | duplicate bids | deals | closed once, one deal | "
           "mails owed | mails lost | mails duplicated | signups without exactly one mail | 5xx ≠ 503 | 503 | no answer | "
           "client-visible outage (s) | service whole after repair (s) | mail caught up after repair (s) | "
           "SSE reconnects / missed events |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in phases:
        n503 = sum(v for (a, s), v in p.statuses.items() if s == 503)
        rec = f"{p.recovered:.1f}" if p.recovered is not None else "never"
        mrec = f"{p.mail_recovered:.1f} ({p.mail_waiting} waiting)" if p.mail_recovered is not None else "never"
        out.append(
            f"| {p.name} | {p.bids_tried} / {p.acked_n} | {len(p.lost)} | {p.dup_bids} | {p.deals} | "
            f"{'yes' if p.closed_once else 'NO'} | {len(p.mail_expected)} | {len(p.mail_lost)} | "
            f"{len(p.mail_dup)} | {len(p.signup_bad)} | {len(p.bad5xx)} | {n503} | {p.transport} | "
            f"{p.outage:.1f} | {rec} | {mrec} | {p.watch_reconnects} / {p.feed_missing} |")
    return "\n".join(out)


def failed(p):
    return bool(p.lost or p.dup_bids or p.deals != 1 or not p.closed_once or p.mail_lost
                or p.mail_dup or p.signup_bad or p.bad5xx or p.recovered is None
                or p.mail_recovered is None)


async def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--faults", default="kill,pg,smtp,replica")
    ap.add_argument("--bidders", type=int, default=4)
    ap.add_argument("--watchers", type=int, default=30)
    ap.add_argument("--before-secs", type=float, default=8)
    ap.add_argument("--after-secs", type=float, default=10)
    ap.add_argument("--down-secs", type=float, default=5)
    ap.add_argument("--smtp-secs", type=float, default=60)
    ap.add_argument("--replica-secs", type=float, default=20)
    ap.add_argument("--mail-timeout", type=float, default=150)
    ap.add_argument("--report", default=None, help="also write the Markdown report here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--show-5xx", type=int, default=0, help="list the first n 5xx answers per phase")
    args = ap.parse_args()
    faults = [f for f in args.faults.split(",") if f]
    for f in faults:
        if f not in FAULTS:
            raise SystemExit(f"unknown fault {f}; known: {', '.join(FAULTS)}")
    cl = Cluster(args.bin, instances=3, replica=True, log=log)
    ok = False
    try:
        await asyncio.to_thread(cl.start)
        replica_known = await asyncio.to_thread(cl.replica_in_use)
        log(f"3 instances up behind HAProxy at {cl.lb}; database.replica_url "
            f"{'in use' if replica_known else 'unknown to this landx: instances read the primary'}")
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as session:
            api = Api(cl.lb, session)
            world = await build(api, cl, len(faults), args.bidders)
            log(f"world ready: {len(faults)} auctions, {args.bidders} eligible bidders each")
            phases = []
            mail_before = outbox_ids(cl)
            for no, f in enumerate(faults):
                log(f"== phase {no + 1}: {FAULTS[f][0]}")
                p, mail_before = await run_phase(no, f, cl, world, session, args, mail_before)
                phases.append(p)
                log(f"   acked {p.acked_n}, lost {len(p.lost)}, dup {p.dup_bids}, deals {p.deals}, "
                    f"status {p.final_status}, 5xx≠503 {len(p.bad5xx)}, outage {p.outage:.1f}s")
            # Everything owed is delivered, once, at the end too (a late re-send shows here).
            await wait_drained(cl, args.mail_timeout)
            await asyncio.sleep(3)
            sink = cl.sink_messages()
            for p in phases:
                mail_check(p, sink)
        report = ["## Fault suite", "",
                  f"3 landx instances (release) behind HAProxy (health check GET /readyz every 1 s), "
                  f"PostgreSQL primary + streaming replica "
                  f"({'used for public reads' if replica_known else 'replica_url unknown to this build: reads on the primary'}), "
                  f"SMTP sink; {args.bidders} bidders, {args.watchers} SSE watchers, 2 signup loops and "
                  f"a search loop per phase. Run {time.strftime('%Y-%m-%d %H:%M')}, "
                  f"{time.time() - T_START:.0f} s in all.", "", table(phases), ""]
        for p in phases:
            rr = p.replica_reads
            report.append(f"- **{p.name}**: {'; '.join(p.notes)}. Public reads served by the replica "
                          f"{rr.get('replica', 0)}, by the primary {rr.get('primary', 0)}. Status codes: "
                          + ", ".join(f"{a} {s}×{n}" for (a, s), n in sorted(p.statuses.items(), key=str)))
            for smp in p.samples[:args.show_5xx]:
                report.append(f"  - first 5xx: {smp}")
            for b in p.bad5xx[:5]:
                report.append(f"  - 5xx: {b}")
            if p.lost:
                report.append(f"  - lost acked bids: {p.lost[:5]}")
            if p.mail_lost or p.mail_dup or p.signup_bad:
                report.append(f"  - mails lost {p.mail_lost[:3]}, duplicated {p.mail_dup[:3]}, "
                              f"signups {p.signup_bad[:3]}")
        text = "\n".join(report)
        print(text)
        if args.report:
            with open(args.report, "w") as f:
                f.write(text + "\n")
        ok = not any(failed(p) for p in phases)
        print("\nRESULT:", "every must-be-zero is zero" if ok else "FAILED (see the table)")
    finally:
        await asyncio.to_thread(cl.stop, args.keep or not ok)
        if args.keep or not ok:
            print(f"logs kept in {cl.tmp}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
