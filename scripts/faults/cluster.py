"""The fault suite's private cluster: a PostgreSQL primary and its streaming replica, an SMTP
sink, N landx instances and HAProxy in front, all on loopback ports of this machine, under one
temporary directory. Used by driver.py (faults) and load.py (load profile).

Every process started here is remembered by its pid and stopped by it; nothing else is touched.
"""
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Secrets shared by every instance (they sign tokens, seal personal data, key the audit
# chain): test values, never production ones.
SECRETS = {
    "LANDX_AUTH__JWT_SECRET": "faults-jwt-secret-faults-jwt-secret-0123456789",
    "LANDX_CRYPTO__KEY": "faults-crypto-key-faults-crypto-key-0123456789",
    "LANDX_AUDIT__KEY": "faults-audit-key-faults-audit-key-0123456789ab",
}
MAIL_DOMAIN = "landx.local"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def http_get(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception:
        return None, ""


def pg_bindir():
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")):
            return d
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found")


class Cluster:
    def __init__(self, binary, instances=3, replica=True, log=print, tick_ms=500, workers=2,
                 pool_size=10, extra_env=None):
        self.binary = binary
        self.n = instances
        self.want_replica = replica
        self.log = log
        self.tick_ms = tick_ms
        self.workers = workers
        self.pool_size = pool_size
        self.extra_env = extra_env or {}
        self.tmp = tempfile.mkdtemp(prefix="landx-faults-")
        os.chmod(self.tmp, 0o755)
        self.pgbin = pg_bindir()
        self.as_root = os.geteuid() == 0
        self.ports = {
            "primary": free_port(), "replica": free_port(), "smtp": free_port(),
            "smtp_ctl": free_port(), "lb": free_port(), "stats": free_port(),
        }
        self.inst_ports = [free_port() for _ in range(instances)]
        self.procs = {}  # name -> Popen
        self.sink_out = os.path.join(self.tmp, "sink.jsonl")

    # ---- helpers ---------------------------------------------------------------------------
    def path(self, *p):
        return os.path.join(self.tmp, *p)

    def pg(self, tool, *args, check=True, timeout=120):
        cmd = [os.path.join(self.pgbin, tool), *args]
        if self.as_root:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r

    def psql(self, sql, port=None, db="landx"):
        r = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port or self.ports["primary"]), "-U", "postgres",
             "-d", db, "-AtX", "-F", "\t", "-c", sql],
            capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return [l.split("\t") for l in r.stdout.splitlines() if l]

    @property
    def primary_url(self):
        return f"postgres://postgres@127.0.0.1:{self.ports['primary']}/landx"

    @property
    def replica_url(self):
        return f"postgres://postgres@127.0.0.1:{self.ports['replica']}/landx"

    @property
    def lb(self):
        return f"http://127.0.0.1:{self.ports['lb']}"

    # ---- PostgreSQL --------------------------------------------------------------------------
    def start_postgres(self):
        # Everything of PostgreSQL's under pg/ (owned by postgres when run as root).
        sock = self.path("pg", "sock")
        for d in ("pg", "pg/sock", "pg/primary", "pg/replica"):
            os.makedirs(self.path(d), exist_ok=True)
            os.chmod(self.path(d), 0o700 if d != "pg" else 0o755)
            if self.as_root:
                shutil.chown(self.path(d), "postgres", "postgres")
        self.pg("initdb", "-D", self.path("pg", "primary"), "-U", "postgres", "--auth=trust",
                "-E", "UTF8", "--locale=C")
        with open(self.path("pg", "primary", "postgresql.conf"), "a") as f:
            f.write(f"""
port = {self.ports['primary']}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sock}'
max_connections = 300
wal_level = replica
max_wal_senders = 5
hot_standby = on
shared_buffers = 128MB
""")
        self.pg_start("primary")
        self.psql("CREATE DATABASE landx", db="postgres")
        if self.want_replica:
            self.pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.ports["primary"]),
                    "-U", "postgres", "-D", self.path("pg", "replica"), "-R", "-X", "stream",
                    "-c", "fast")
            with open(self.path("pg", "replica", "postgresql.auto.conf"), "a") as f:
                f.write(f"port = {self.ports['replica']}\n")
            self.pg_start("replica")

    def pg_start(self, which):
        self.pg("pg_ctl", "-D", self.path("pg", which), "-l", self.path("pg", f"{which}.log"), "-w",
                "-t", "60", "start")

    def pg_stop(self, which, mode="fast"):
        self.pg("pg_ctl", "-D", self.path("pg", which), "-m", mode, "-w", "-t", "60", "stop",
                check=False)

    def replica_streaming(self):
        try:
            rows = self.psql("SELECT state FROM pg_stat_replication", db="postgres")
        except RuntimeError:
            return False
        return any(r[0] == "streaming" for r in rows)

    def replica_lag_bytes(self):
        rows = self.psql("SELECT COALESCE(MAX(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)),0)"
                         " FROM pg_stat_replication", db="postgres")
        return int(float(rows[0][0])) if rows else None

    # ---- SMTP sink ---------------------------------------------------------------------------
    def start_sink(self):
        self.procs["sink"] = subprocess.Popen(
            ["python3", os.path.join(HERE, "smtp_sink.py"), "--smtp-port", str(self.ports["smtp"]),
             "--control-port", str(self.ports["smtp_ctl"]), "--out", self.sink_out],
            stdout=open(self.path("sink.log"), "a"), stderr=subprocess.STDOUT,
            start_new_session=True)
        if not (wait_port(self.ports["smtp"]) and wait_port(self.ports["smtp_ctl"])):
            raise RuntimeError("SMTP sink did not start")

    def stop_sink(self):
        self.kill("sink", signal.SIGTERM)

    def sink_mode(self, mode):
        req = urllib.request.Request(f"http://127.0.0.1:{self.ports['smtp_ctl']}/mode/{mode}",
                                     method="POST", data=b"")
        urllib.request.urlopen(req, timeout=5).read()

    def sink_messages(self):
        try:
            with open(self.sink_out, encoding="utf-8") as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []

    # ---- landx -------------------------------------------------------------------------------
    def env(self, i):
        e = {k: v for k, v in os.environ.items() if not k.startswith("LANDX_")}
        e.update(SECRETS)
        e.update({
            "LANDX_ENV": "test",
            "LANDX_DATABASE__URL": self.primary_url,
            "LANDX_DATABASE__POOL_SIZE": str(self.pool_size),
            "LANDX_DATABASE__POOL_TIMEOUT_MS": "3000",
            "LANDX_SERVER__HOST": "127.0.0.1",
            "LANDX_SERVER__PORT": str(self.inst_ports[i]),
            "LANDX_SERVER__WORKERS": str(self.workers),
            "LANDX_SERVER__PUBLIC_URL": self.lb,
            "LANDX_SERVER__FEEDS_PER_CLIENT": "100000",
            "LANDX_SERVER__FEEDS_TOTAL": "5000",
            "LANDX_AUTH__BOOTSTRAP_ADMIN": "false",
            "LANDX_AUTH__IP_ATTEMPTS_PER_MINUTE": "1000000",
            "LANDX_AUTH__ACCESS_TOKEN_MINUTES": "1440",
            "LANDX_RULES__MIN_ANNOUNCEMENT_DAYS": "0",
            "LANDX_JOBS__TICK_MS": str(self.tick_ms),
            "LANDX_MAIL__TRANSPORT": "smtp",
            "LANDX_MAIL__FROM": f"landx <noreply@{MAIL_DOMAIN}>",
            "LANDX_MAIL__SMTP_HOST": "127.0.0.1",
            "LANDX_MAIL__SMTP_PORT": str(self.ports["smtp"]),
            "LANDX_CLOCK__TRAVEL": "true",
            "LANDX_LOG__LEVEL": "warn",
        })
        if self.want_replica:
            e["LANDX_DATABASE__REPLICA_URL"] = self.replica_url
        e.update(self.extra_env)
        return e

    def landx_cli(self, *args):
        os.makedirs(self.path("inst0"), exist_ok=True)
        return subprocess.run([self.binary, *args], env=self.env(0), cwd=self.path("inst0"),
                              capture_output=True, text=True, timeout=120)

    def start_instance(self, i, wait=True):
        d = self.path(f"inst{i}")
        os.makedirs(d, exist_ok=True)
        self.procs[f"landx{i}"] = subprocess.Popen(
            [self.binary, "serve"], env=self.env(i), cwd=d,
            stdout=open(self.path(f"landx{i}.log"), "a"), stderr=subprocess.STDOUT,
            start_new_session=True)
        if wait:
            self.wait_ready(i)

    def wait_ready(self, i, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if http_get(f"http://127.0.0.1:{self.inst_ports[i]}/readyz", 1)[0] == 200:
                return time.time()
            p = self.procs.get(f"landx{i}")
            if p is not None and p.poll() is not None:
                raise RuntimeError(f"landx{i} exited: see {self.path(f'landx{i}.log')}")
            time.sleep(0.05)
        raise RuntimeError(f"landx{i} not ready after {timeout}s")

    def kill(self, name, sig=signal.SIGKILL):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    # ---- HAProxy -----------------------------------------------------------------------------
    def haproxy_config(self):
        servers = "\n".join(
            f"    server landx{i} 127.0.0.1:{p} check" for i, p in enumerate(self.inst_ports))
        return f"""global
    maxconn 8000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    # SSE: the server sends a keep-alive comment after 15 s of silence, so 60 s of silence
    # means a dead stream.
    timeout server 60s
    timeout http-request 10s
    timeout queue 10s
    timeout http-keep-alive 10s
    # A readiness check slower than this counts as failed.
    timeout check 2s

frontend api
    bind 127.0.0.1:{self.ports['lb']}
    default_backend landx

backend landx
    # Long-lived SSE streams: spread connections, not requests.
    balance leastconn
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2 maxconn 5000
    # A request that never reached an instance (refused connection) goes to another one.
    retries 3
    option redispatch 1
    # A request cut by a dying instance (no answer at all) is sent again only when that is
    # safe: GET/HEAD, or a POST carrying an Idempotency-Key (landx performs it once).
    retry-on conn-failure empty-response junk-response
    http-request disable-l7-retry if !METH_GET !METH_HEAD !{{ req.hdr(idempotency-key) -m found }}
{servers}

listen stats
    bind 127.0.0.1:{self.ports['stats']}
    stats enable
    stats uri /stats
"""

    def start_haproxy(self):
        cfg = self.path("haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(self.haproxy_config())
        self.procs["haproxy"] = subprocess.Popen(
            ["haproxy", "-f", cfg, "-db"], stdout=open(self.path("haproxy.log"), "a"),
            stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_port(self.ports["lb"]):
            raise RuntimeError("haproxy did not start")

    def backends_up(self):
        st, text = http_get(f"http://127.0.0.1:{self.ports['stats']}/stats;csv", 2)
        if st != 200:
            return 0
        up = 0
        for line in text.splitlines():
            f = line.split(",")
            if len(f) > 17 and f[0] == "landx" and f[1].startswith("landx") and f[17] == "UP":
                up += 1
        return up

    def wait_backends(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.backends_up() >= n:
                return time.time()
            time.sleep(0.1)
        return None

    # ---- all ---------------------------------------------------------------------------------
    def start(self):
        self.log(f"cluster in {self.tmp}")
        self.start_postgres()
        self.start_sink()
        r = self.landx_cli("migrate")
        if r.returncode != 0:
            raise RuntimeError(f"landx migrate: {r.stderr}")
        for i in range(self.n):
            self.start_instance(i)
        self.start_haproxy()
        if self.wait_backends(self.n, 30) is None:
            raise RuntimeError("haproxy never saw every instance up")

    def replica_in_use(self):
        """Whether this landx knows `database.replica_url` (`landx config` prints it)."""
        r = self.landx_cli("config")
        return "replica_url" in r.stdout

    def stop(self, keep=False):
        for name in list(self.procs):
            self.kill(name, signal.SIGKILL if name.startswith("landx") else signal.SIGTERM)
        for which in ("replica", "primary"):
            if os.path.exists(self.path("pg", which, "postmaster.pid")):
                self.pg_stop(which, "immediate")
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
