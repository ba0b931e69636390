#!/usr/bin/env python3
"""The walk-through of scripts/walkthrough.sh again, through a Python client generated from the
server's own /openapi.json (openapi-python-client): every request is built and every answer
parsed by the generated code, so a document that doesn't describe the behaviour (a missing
field, a wrong type, an undocumented status, an ambiguous schema) fails here.

Usage (CI: .ci/run): generate the client into a directory on PYTHONPATH as `landx_client`,
then run with the same environment as walkthrough.sh (B, ADMIN_EMAIL, ADMIN_PASSWORD, LANDX).
"""

import io
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from landx_client import AuthenticatedClient, Client
from landx_client.types import File
from landx_client.api.auction import place_bid
from landx_client.api.deals import get_deal
from landx_client.api.documents import upload_document
from landx_client.api.auth import (
    confirm_password_reset,
    login_account,
    register_account,
    request_password_reset,
    verify_email,
)
from landx_client.api.listings import approve_listing, create_listing, get_listing, search_listings, submit_listing
from landx_client.api.organisations import create_township, create_village
from landx_client.api.parcels import create_parcel
from landx_client.api.registrations import (
    confirm_deposit,
    create_registration,
    list_listing_registrations,
    qualify_registration,
)
from landx_client.api.test_clock import advance_clock, get_clock
from landx_client.api.users import create_user
from landx_client import models

API = os.environ.get("B", "http://127.0.0.1:8080/api/v1")
BASE = API.removesuffix("/api/v1")
LANDX = shlex.split(os.environ.get("LANDX", "landx"))


def step(text):
    print(f"--- {text}", file=sys.stderr)


def call(op, want, token=None, **kw):
    """Calls a generated operation; the parsed answer, after checking its status."""
    client = AuthenticatedClient(base_url=BASE, token=token) if token else Client(base_url=BASE)
    r = op.sync_detailed(client=client, **kw)
    name = op.__name__.rsplit(".", 1)[-1]
    if r.status_code != want:
        sys.exit(f"walkthrough (client): {name} answered {r.status_code}, expected {want}: {r.content!r}")
    if r.content and r.parsed is None:
        sys.exit(f"walkthrough (client): {name}: the generated client could not read {r.content!r}")
    return r.parsed


def login(email, password):
    return call(login_account, 200, body=models.LoginBody(email=email, password=password)).access_token


def mailed_token(addr, page):
    for _ in range(50):
        out = subprocess.run(LANDX + ["mail", "list", "--to", addr], capture_output=True, text=True, check=True).stdout
        m = re.search(rf"/{page}\?token=([A-Za-z0-9_-]+)", out)
        if m:
            return m.group(1)
        time.sleep(0.2)
    sys.exit(f"walkthrough (client): no {page} mail to {addr}")


def main():
    step("the admin sets up the township, a village and two accounts")
    admin = login(os.environ.get("ADMIN_EMAIL", "admin@landx.local"), os.environ["ADMIN_PASSWORD"])
    now = call(get_clock, 200, admin).now
    ts = call(create_township, 201, admin, body=models.CreateTownshipBody.from_dict({"code": "CJ2", "name": "金山卫镇"})).id
    vl = call(create_village, 201, admin, body=models.CreateVillageBody.from_dict(
        {"township_id": ts, "code": "XY", "name": "星火村"})).id
    call(create_user, 201, admin, body=models.CreateUserBody.from_dict({
        "email": "xh@example.cn", "password": "xinghuo-2027-pw", "display_name": "星火村股份经济合作社",
        "role": "collective", "village_id": vl}))
    call(create_user, 201, admin, body=models.CreateUserBody.from_dict({
        "email": "jsw@example.cn", "password": "jinshanwei-2027", "display_name": "金山卫镇农经站",
        "role": "staff", "township_id": ts}))
    coll, staff = login("xh@example.cn", "xinghuo-2027-pw"), login("jsw@example.cn", "jinshanwei-2027")

    step("a parcel, a listing, submitted and approved")
    parcel = call(create_parcel, 201, coll, body=models.CreateParcelBody.from_dict({
        "code": "JS-JSW-0001-001", "area_mu": "88.50", "land_type": "arable", "permanent_basic_farmland": True,
        "quality_grade": 2, "households": 7, "household_contract_end": "2057-12-31", "location": "金山卫镇星火村1组"})).id
    closes = now + timedelta(days=11)
    starts = closes + timedelta(days=1)
    ends = starts + timedelta(hours=2)
    term_start = (ends + timedelta(days=30)).date().replace(day=1)
    iso = lambda t: t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    listing = call(create_listing, 201, coll, body=models.CreateListingBody.from_dict({
        "title": "星火村土地经营权流转", "description": "蔬菜种植", "parcel_ids": [parcel], "intended_use": "grain",
        "term_start": term_start.isoformat(), "term_end": f"{term_start.year + 9}-12-31",
        "reserve_price_fen": 100000, "min_increment_fen": 1000, "deposit_fen": 150000,
        "registration_closes_at": iso(closes), "auction_starts_at": iso(starts), "auction_ends_at": iso(ends),
        "consent": {"resolution_date": (now - timedelta(days=30)).date().isoformat(),
                    "members_agreeing": 20, "members_total": 25, "commissions_received": 7}})).id
    # Before it is submitted, the listing needs its villagers' meeting resolution and the
    # households' commission letters: scans, the file itself as the body.
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
    for kind, name in (("resolution", "星火村村民会议决议.png"), ("commission", "星火村委托书.png")):
        doc = call(upload_document, 201, coll, owner=models.DocumentOwner.LISTINGS, id=listing,
                   kind=kind, filename=name, body=File(payload=io.BytesIO(png), file_name=name, mime_type="image/png"))
        assert doc.kind == kind and doc.filename == name, doc
    submitted = call(submit_listing, 200, coll, id=listing)
    assert submitted.listing_no, submitted
    call(approve_listing, 200, staff, id=listing)

    step("public search with Chinese text (the generated client encodes the query)")
    page = call(search_listings, 200, None, township_id=ts, q="星火", land_type=models.LandType.ARABLE)
    assert [i.id for i in page.items] == [listing], page

    step("two operators verify their e-mail from the mailed link and register")
    people = [("farm2@example.cn", "family-farm-2027", "金山绿野家庭农场二", "李建国", "11010519491231002X"),
              ("coop2@example.cn", "coop-farm-2027", "漕泾丰收合作社二", "王丰收", "310116198506150029")]
    for n, (email, pw, name, legal, id_number) in enumerate(people, 1):
        call(register_account, 201, body=models.RegisterAccountBody(email=email, password=pw, display_name=name))
        user = call(verify_email, 200, body=models.TokenBody(token=mailed_token(email, "verify-email")))
        assert user.email_verified is True
        tok = login(email, pw)
        reg = call(create_registration, 201, tok, id=listing, body=models.RegistrationBody.from_dict({
            "legal_name": legal, "id_type": "resident_id", "id_number": id_number, "phone": f"1390013900{n}",
            "experience": "蔬菜种植", "business_plan": "订单农业", "claims_membership": False}))
        call(qualify_registration, 200, staff, id=reg.id, body=models.QualifyBody())
        call(confirm_deposit, 200, staff, id=reg.id,
             body=models.DepositBody(amount_fen=150000, receipt_ref=f"ABC-000{n}"))
    # The staff's list (full registrations) and the collective's (summaries) both parse.
    full = call(list_listing_registrations, 200, staff, id=listing).items
    summary = call(list_listing_registrations, 200, coll, id=listing).items
    assert all(isinstance(i, models.RegistrationOut) for i in full), full
    assert all(isinstance(i, models.RegistrationSummary) for i in summary), summary

    step("the auction (test clock moved) and its deal")
    call(advance_clock, 200, admin, body=models.AdvanceBody(seconds=int((starts - now).total_seconds()) + 60))
    assert call(get_listing, 200, None, id=listing).status == models.ListingStatus.AUCTION
    farm, coop = login(people[0][0], people[0][1]), login(people[1][0], people[1][1])
    call(place_bid, 201, farm, id=listing, body=models.BidBody(amount_fen=100000))
    call(place_bid, 201, coop, id=listing, body=models.BidBody(amount_fen=101000))
    call(advance_clock, 200, login(os.environ.get("ADMIN_EMAIL", "admin@landx.local"), os.environ["ADMIN_PASSWORD"]),
         body=models.AdvanceBody(seconds=7200))
    deal = call(get_deal, 200, None, id=listing)
    assert deal.price_fen == 101000, deal

    step("a password reset from the mailed link")
    call(request_password_reset, 202, body=models.ResetRequestBody(email="farm2@example.cn"))
    token = mailed_token("farm2@example.cn", "reset-password")
    call(confirm_password_reset, 204, body=models.ResetConfirmBody(token=token, new_password="family-farm-2028"))
    login("farm2@example.cn", "family-farm-2028")
    print("walkthrough (generated client): ok", file=sys.stderr)


if __name__ == "__main__":
    main()
