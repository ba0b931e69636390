#!/usr/bin/env python3
"""SMTP sink for the fault suite: records every message it accepts and can be told to refuse.

    smtp_sink.py --smtp-port P --control-port C --out FILE

SMTP on 127.0.0.1:P (aiosmtpd). Each accepted message is appended to FILE as one JSON line
{"message_id", "to", "subject", "at"} (flushed before the 250 answer) and kept in memory.
Control over HTTP on 127.0.0.1:C:
    GET  /messages          -> JSON list of what was accepted
    POST /mode/accept       -> answer normally
    POST /mode/421          -> answer MAIL FROM with "421 4.3.2 service not available"
    POST /mode/451          -> take the message, answer DATA with "451 4.3.0 try again later"
                               (nothing is recorded: the sender must send it again)
"""
import argparse
import asyncio
import email
import email.header
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

STATE = {"mode": "accept", "messages": [], "refused": 0}
LOCK = threading.Lock()


def decode(value):
    if value is None:
        return None
    return str(email.header.make_header(email.header.decode_header(value)))


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if STATE["mode"] == "421":
            with LOCK:
                STATE["refused"] += 1
            return "421 4.3.2 service not available (fault suite)"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if STATE["mode"] == "451":
            with LOCK:
                STATE["refused"] += 1
            return "451 4.3.0 try again later (fault suite)"
        msg = email.message_from_bytes(envelope.original_content or envelope.content)
        rec = {
            "message_id": (msg.get("Message-ID") or "").strip(),
            "to": [a.lower() for a in envelope.rcpt_tos],
            "subject": decode(msg.get("Subject")),
            "at": time.time(),
        }
        with LOCK:
            STATE["messages"].append(rec)
            self.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self.out.flush()
        return "250 2.0.0 queued"


class Control(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, obj):
        body = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            if self.path == "/messages":
                return self.reply(list(STATE["messages"]))
            return self.reply({"mode": STATE["mode"], "accepted": len(STATE["messages"]),
                               "refused": STATE["refused"]})

    def do_POST(self):
        mode = self.path.rsplit("/", 1)[-1]
        if mode not in ("accept", "421", "451"):
            self.send_error(404)
            return
        with LOCK:
            STATE["mode"] = mode
        self.reply({"mode": mode})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtp-port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    try:  # a restarted sink goes on from what it accepted before
        with open(a.out, encoding="utf-8") as f:
            STATE["messages"] = [json.loads(l) for l in f if l.strip()]
    except FileNotFoundError:
        pass
    out = open(a.out, "a", encoding="utf-8")
    ctl = Controller(Handler(out), hostname="127.0.0.1", port=a.smtp_port)
    ctl.start()
    httpd = ThreadingHTTPServer(("127.0.0.1", a.control_port), Control)
    try:
        httpd.serve_forever()
    finally:
        ctl.stop()


if __name__ == "__main__":
    main()
