# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Restore benchmark: a PostgreSQL database of 1 GB or more restored through the collection
against plain pg_restore (a benchmark, not a test: nothing asserts).

On a private PostgreSQL 15 of its own (tests/integration/pg.py's PrivateServer, in a
temporary directory; the drill's server is not used) it

  1. builds database `bench`: pgbench's tables at scale N (--size-scale, 70 by default: about
     1.2 GB), their rows generated on the server with a filler that compresses like real data
     (pgbench's blank one makes a dump of a few MB), pgbench's primary and foreign keys, two
     secondary indexes, --txn-seconds of pgbench transactions, then VACUUM ANALYZE;
  2. backs it up with plain `pg_dump -Fc` (the reference) and with the collection's module
     postgresql_backup (tools_via local): the backup the role restores, and the cost of
     the safety backup the role takes first;
  3. restores the module's dump with plain `pg_restore --exit-on-error -j 1`, then `-j 2`,
     into a new empty database each time (dropped after);
  4. restores it through the role: playbooks/db_restore.yml includes
     ai_orchestrator.incident_response.db_recovery (tasks_from restore: the plan, then the
     guarded restore with its confirmation), db_recovery_jobs 2, once with
     db_recovery_safety_backup false and once true; the `bench_pre_restore_*` database each
     run keeps, and the safety backup, are removed between runs; steps 3 and 4 run in
     --repeat rounds (3 by default; medians reported, every run listed);
  5. prints the results and writes them into the section "Database restore" of
     docs/benchmarks.md (replaced when it exists; no other section is touched).

A sampler reads /proc every 50 ms and records when each module process, pg_dump and
pg_restore ran (`--file=/dev/null` is the module reading the archive through), so the role's
time is split by step; downtime_seconds comes from the module's own result.

It first checks the free space where the temporary directory goes (about 5 times the
database: data directory, dumps, restored copies, the safety backup): when it is short it
says what is needed and what is free (in the docs too, unless --no-doc or --quick) and
exits 2. `--quick` (scale 5, nothing written to the docs) is a fast self-check.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import benchdoc  # noqa: E402  (beside this script)
from pg import PG_BINDIR, PrivateServer  # noqa: E402  (tests/integration on the path first)

DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Database restore"
PLAYBOOK = HERE / "playbooks" / "db_restore.yml"
BIN = Path(sys.executable).parent  # ansible and ansible-playbook of the venv running the benchmark
COLLECTION = "ai_orchestrator.incident_response"
DB = "bench"
BYTES_PER_SCALE = 16_500_000  # pg_database_size per pgbench scale unit with the indexes added here (about)
SPACE_FACTOR = 5  # data directory, dumps, restored copies, safety backup
GB = 1e9
# A small production-like server, not the 16 MB test default; fsync on, as in production.
SERVER_CONF = {
    "shared_buffers": "256MB",
    "maintenance_work_mem": "256MB",
    "fsync": True,
    "max_wal_size": "1GB",
    "shared_preload_libraries": "",
}
ENV = dict(
    os.environ,
    PATH="%s:%s" % (BIN, os.environ.get("PATH", "")),
    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    ANSIBLE_COLLECTIONS_PATH=os.environ.get("ANSIBLE_COLLECTIONS_PATH", str(Path.home() / ".cache/aio-collections")),
    ANSIBLE_RETRY_FILES_ENABLED="0",
    ANSIBLE_NOCOLOR="1",
    ANSIBLE_FORCE_COLOR="0",
)


def log(msg):
    print("[restore-bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# --- what ran when: a /proc sampler ------------------------------------------------------------


def classify(argv):
    """The step a process is, from its command line; None for everything else."""
    if not argv:
        return None
    prog = os.path.basename(argv[0])
    if prog in ("pg_dump", "pg_restore") and "--version" in argv:
        return "version"
    if prog == "pg_dump":
        return "pg_dump"
    if prog == "pg_restore":
        if "--file=/dev/null" in argv:
            return "read_through"
        if "--list" in argv:
            return "toc"
        return "pg_restore"
    joined = " ".join(argv)
    if "chmod " in joined:  # Ansible making the module's file executable, not the module
        return None
    for module in ("postgresql_backup_info", "postgresql_restore", "postgresql_backup"):
        if "AnsiballZ_%s.py" % module in joined:
            return "module:" + module
    return None


class Sampler(threading.Thread):
    """Every `period` seconds: which processes of interest run. A process is seen from its first
    sample to its last (so each time is short by up to one period at each end)."""

    def __init__(self, period=0.05):
        super().__init__(daemon=True)
        self.period = period
        self.known = {}  # pid -> [category, first seen, last seen, argv]
        self.done = []  # (category, first, last, argv)
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.ours = {os.getpid(): True}  # pid -> whether it descends from this benchmark

    def mine(self, pid):
        """Only this benchmark's processes: other users of the machine run the same modules."""
        chain = []
        while pid not in self.ours:
            chain.append(pid)
            try:
                with open("/proc/%d/stat" % pid) as handle:
                    pid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                pid = 0
            if pid <= 1:
                self.ours.update((p, False) for p in chain)
                return False
        verdict = self.ours[pid]
        self.ours.update((p, verdict) for p in chain)
        return verdict

    @staticmethod
    def cmdline(pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                return [a.decode("utf-8", "replace") for a in handle.read().split(b"\0") if a]
        except OSError:
            return None

    def poll(self):
        now = time.monotonic()
        pids = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        with self.lock:
            for pid in pids:
                entry = self.known.get(pid)
                if entry is None:
                    argv = self.cmdline(pid) if self.mine(pid) else None
                    self.known[pid] = [classify(argv), now, now, argv]
                    continue
                if not self.ours.get(pid):
                    continue
                # A fork runs its parent's command line until it execs: look again while young,
                # and at module processes (their children are pg_dump and pg_restore).
                if now - entry[1] < 2.0 or (entry[0] or "").startswith("module:"):
                    argv = self.cmdline(pid)
                    if argv is not None:
                        category = classify(argv)
                        if category != entry[0]:
                            if entry[0]:
                                self.done.append(tuple(entry))
                            entry[0], entry[1], entry[3] = category, now, argv
                entry[2] = now
            for pid in set(self.known) - pids:
                entry = self.known.pop(pid)
                self.ours.pop(pid, None)
                if entry[0]:
                    self.done.append(tuple(entry))

    def run(self):
        while not self.halt.is_set():
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - a sampler hiccup must not end the run
                log("sampler: %s" % exc)
            self.halt.wait(self.period)

    def stop(self):
        self.halt.set()
        self.join()

    def dump(self, path, origin):
        """Every process seen, for a look at what the split is made of (in the work directory)."""
        with self.lock:
            rows = sorted(list(self.done) + [tuple(e) for e in self.known.values() if e[0]], key=lambda r: r[1])
        Path(path).write_text("".join("%9.2f %9.2f %-32s %s\n" % (f - origin, l - origin, c, " ".join(a or [])[:300])
                                      for c, f, l, a in rows))

    def intervals(self, category, start, end):
        """Merged intervals of one category that began in [start, end] (overlapping processes,
        a shell and its python, pg_restore and its workers, count once)."""
        with self.lock:
            spans = [(f, l) for c, f, l, _ in self.done if c == category and start <= f <= end]
            spans += [(e[1], e[2]) for e in self.known.values() if e[0] == category and start <= e[1] <= end]
        merged = []
        for first, last in sorted(spans):
            if merged and first <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([first, last])
        return merged


def total(spans):
    return sum(last - first for first, last in spans)


# --- running things ------------------------------------------------------------------------------


def run(cmd, label, ctx, env=None, check=True):
    """Run a command; its output goes to <workdir>/<label>.log. Returns (seconds, stdout, start, end)."""
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV, cwd=ctx["workdir"], check=False)
    end = time.monotonic()
    (Path(ctx["workdir"]) / ("%s.log" % label)).write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if check and proc.returncode:
        raise RuntimeError("%s failed (exit %d): %s\n%s" % (label, proc.returncode, " ".join(map(str, cmd[:6])),
                                                             (proc.stderr or proc.stdout)[-3000:]))
    return end - start, proc.stdout, start, end


def pg(name):
    return str(PG_BINDIR / name)


def checkpoint(srv):
    """Every run starts from the same state: nothing dirty in shared buffers."""
    srv.query("CHECKPOINT")


def db_size(srv, name=DB):
    return srv.query("SELECT pg_database_size(%s)", (name,))[0][0]


def drop(srv, name):
    srv.query('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name.replace('"', '""'))


def leftovers(srv):
    return [r[0] for r in srv.query("SELECT datname FROM pg_database WHERE datname LIKE %s", (DB + r"\_%",))]


# pgbench's own server-side generation (init step G), except the filler: pgbench leaves it blank,
# which compresses to almost nothing, so a dump would be a few MB for a gigabyte. Hex digits
# compress about as much as real rows do (a dump of about a third of the database).
GENERATE_SQL = """
INSERT INTO pgbench_branches (bid, bbalance) SELECT bid, 0 FROM generate_series(1, {scale}) AS bid;
INSERT INTO pgbench_tellers (tid, bid, tbalance) SELECT tid, (tid - 1) / 10 + 1, 0
  FROM generate_series(1, 10 * {scale}) AS tid;
INSERT INTO pgbench_accounts (aid, bid, abalance, filler)
  SELECT aid, (aid - 1) / 100000 + 1, 0, md5(aid::text) || md5((aid::bigint * 7919)::text) || left(md5((aid::bigint * 104729)::text), 20)
  FROM generate_series(1, 100000 * {scale}) AS aid;
"""


def build_database(srv, args, ctx):
    log("building %s: pgbench tables, scale %d" % (DB, args.size_scale))
    srv.query("CREATE DATABASE %s" % DB)
    env = srv.env(DB)
    scale = ["-s", str(args.size_scale)]
    steps = {}
    steps["tables"], _, _, _ = run([pg("pgbench"), "-i", "-q", "-I", "dt"] + scale, "load-tables", ctx, env)
    start = time.monotonic()
    srv.query(GENERATE_SQL.format(scale=int(args.size_scale)), dbname=DB)
    steps["generate"] = time.monotonic() - start
    # pgbench's vacuum, primary keys and foreign keys (init steps v, p, f).
    steps["keys"], _, _, _ = run([pg("pgbench"), "-i", "-q", "-I", "vpf"] + scale, "load-keys", ctx, env)
    start = time.monotonic()
    for statement in ("CREATE INDEX pgbench_accounts_bid_idx ON pgbench_accounts (bid)",
                      "CREATE INDEX pgbench_history_aid_mtime_idx ON pgbench_history (aid, mtime)"):
        srv.query(statement, dbname=DB)
    steps["indexes"] = time.monotonic() - start
    steps["transactions"], out, _, _ = run([pg("pgbench"), "-c", "2", "-j", "2", "-T", str(args.txn_seconds), "-n"],
                                           "load-transactions", ctx, env)
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    ctx["transactions"] = int(m.group(1)) if m else None
    start = time.monotonic()
    srv.query("VACUUM ANALYZE", dbname=DB)
    steps["vacuum_analyze"] = time.monotonic() - start
    ctx["load"] = steps
    ctx["size"] = db_size(srv)
    ctx["rows"] = {t: srv.query("SELECT count(*) FROM %s" % t, dbname=DB)[0][0]
                   for t in ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")}
    ctx["indexes"] = srv.query("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'", dbname=DB)[0][0]
    ctx["foreign_keys"] = srv.query("SELECT count(*) FROM pg_constraint WHERE contype = 'f'", dbname=DB)[0][0]
    log("%s: %.2f GB in %.0f s (%s)" % (DB, ctx["size"] / GB, sum(steps.values()),
                                        ", ".join("%s %.1f s" % kv for kv in steps.items())))


def plain_dump(srv, ctx):
    """The reference for the backup module: pg_dump -Fc alone."""
    checkpoint(srv)
    path = Path(ctx["workdir"]) / "plain.dump"
    seconds, _, _, _ = run([pg("pg_dump"), "-Fc", "--file=%s" % path, "-w", "-d", DB], "pg_dump-plain", ctx, srv.env(DB))
    ctx["plain_dump"] = {"seconds": seconds, "size_bytes": path.stat().st_size}
    path.unlink()
    log("plain pg_dump -Fc: %.1f s" % seconds)


def module_backup(srv, ctx, sampler):
    """The collection's postgresql_backup, ad hoc as an operator runs one module."""
    checkpoint(srv)
    module_args = {"login_host": srv.host, "login_port": srv.port, "login_user": srv.user, "login_db": DB,
                   "database": DB, "tools_via": "local", "backup_dir": ctx["backup_dir"]}
    cmd = [str(BIN / "ansible"), "localhost", "-m", "%s.postgresql_backup" % COLLECTION, "-a", json.dumps(module_args),
           "-e", "ansible_python_interpreter=%s" % sys.executable, "-o"]
    # The password through libpq's environment, not the command line.
    env = dict(ENV, PGPASSWORD=srv.password, ANSIBLE_LOAD_CALLBACK_PLUGINS="0")
    seconds, out, start, end = run(cmd, "module-backup", ctx, env)
    try:
        result = json.loads(out.split("=>", 1)[1])
    except (IndexError, ValueError):
        raise RuntimeError("unexpected output of postgresql_backup: %s" % out[-2000:])
    if "| FAILED!" in out.split("=>", 1)[0] or "backup" not in result:
        raise RuntimeError("postgresql_backup failed: %s" % result.get("msg"))
    backup = result["backup"]
    dump = total(sampler.intervals("pg_dump", start, end))
    module = total(sampler.intervals("module:postgresql_backup", start, end))
    ctx["backup"] = {"seconds": seconds, "id": backup["id"], "path": backup["path"],
                     "size_bytes": backup["manifest"]["size_bytes"], "tables": backup["manifest"]["tables"],
                     "toc_entries": backup["manifest"].get("toc_entries"), "pg_dump": dump, "module": module,
                     "pg_dump_version": backup["manifest"]["pg_dump_version"]}
    start = time.monotonic()
    digest = hashlib.sha256()
    with open(backup["path"], "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    ctx["sha256_seconds"] = time.monotonic() - start
    log("postgresql_backup: %.1f s (module %.1f s, pg_dump %.1f s), %s, %.0f MB"
        % (seconds, module, dump, backup["id"], backup["manifest"]["size_bytes"] / 1e6))


def plain_restore(srv, ctx, jobs):
    """pg_restore of the module's dump into a new empty database, as the module runs it."""
    target = "%s_plain_j%d" % (DB, jobs)
    drop(srv, target)
    checkpoint(srv)
    start = time.monotonic()
    srv.query("CREATE DATABASE %s TEMPLATE template0" % target)
    created = time.monotonic() - start
    cmd = [pg("pg_restore"), "--exit-on-error", "-w", "-d", target] + (["-j", str(jobs)] if jobs > 1 else [])
    seconds, _, _, _ = run(cmd + [ctx["backup"]["path"]], "pg_restore-j%d-r%d" % (jobs, ctx["round"]), ctx, srv.env(target))
    size = db_size(srv, target)
    drop(srv, target)
    log("plain pg_restore -j %d: %.1f s (CREATE DATABASE %.2f s), restored %.2f GB" % (jobs, seconds, created, size / GB))
    return {"seconds": seconds, "createdb": created, "size": size}


def role_restore(srv, ctx, sampler, safety):
    """ansible-playbook playbooks/db_restore.yml: the db_recovery role's plan and restore."""
    label = "role-safety-%s-r%d" % ("on" if safety else "off", ctx["round"])
    backup_id = ctx["backup"]["id"]
    extra = {
        "db_recovery_connection": {"login_host": srv.host, "login_port": srv.port, "login_user": srv.user,
                                   "login_password": srv.password},
        "db_recovery_tools": {"tools_via": "local", "backup_dir": ctx["backup_dir"]},
        "db_recovery_database": DB,
        "db_recovery_backup": backup_id,
        "db_recovery_confirm": backup_id,
        "db_recovery_jobs": 2,
        "db_recovery_safety_backup": safety,
        # pgbench has no workflows table: the runbook's check, on this database's own table.
        "db_recovery_checks": [{"name": "accounts", "sql": "SELECT count(*) FROM pgbench_accounts",
                                "expect_equal": ctx["backup"]["tables"]["public.pgbench_accounts"]}],
        # The previous run restored this very backup; its kept copy is dropped, but say so anyway.
        "db_recovery_repeat": True,
        "ansible_python_interpreter": sys.executable,
    }
    varfile = Path(ctx["workdir"]) / ("%s.vars.json" % label)
    varfile.write_text(json.dumps(extra))
    varfile.chmod(0o600)
    checkpoint(srv)
    cmd = [str(BIN / "ansible-playbook"), "-i", "localhost,", str(PLAYBOOK), "-e", "@%s" % varfile]
    env = dict(ENV, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    seconds, out, start, end = run(cmd, label, ctx, env, check=False)
    try:
        report = json.loads(out[out.index("{"):])
    except ValueError:
        raise RuntimeError("%s: no JSON output; see %s/%s.log" % (label, ctx["workdir"], label))
    tasks = {}
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            name = task["task"]["name"]
            duration = task["task"].get("duration", {})
            tasks[name] = {"result": task["hosts"].get("localhost", {}), "duration": duration}
    restore_task = next((t for n, t in tasks.items() if n.endswith("verify it, stop writers and swap it in")), None)
    failed = [n for n, t in tasks.items() if t["result"].get("failed")]
    if restore_task is None or failed or not restore_task["result"].get("changed"):
        raise RuntimeError("%s failed (tasks %s): %s; see %s/%s.log" % (
            label, ", ".join(failed) or "-", (tasks[failed[0]]["result"].get("msg") if failed else "no restore"),
            ctx["workdir"], label))
    result = restore_task["result"]
    modules = sampler.intervals("module:postgresql_restore", start, end)
    if len(modules) != 2:
        log("%s: expected two postgresql_restore processes (plan, restore), saw %d" % (label, len(modules)))
    plan_span, real_span = (modules[0], modules[-1]) if modules else ((start, start), (start, end))

    def inside(category, span):
        return sampler.intervals(category, span[0], span[1])

    restores = inside("pg_restore", real_span)
    dumps = inside("pg_dump", real_span)
    split = {
        "backup_info": total(sampler.intervals("module:postgresql_backup_info", start, end)),
        "plan": plan_span[1] - plan_span[0],
        "plan_read_through": total(inside("read_through", plan_span)),
        "restore": real_span[1] - real_span[0],
        "read_through": total(inside("read_through", real_span)),
        "safety_pg_dump": total(dumps),
        "pg_restore": total(restores),
        "before_pg_restore": (restores[0][0] - real_span[0]) if restores else None,
        "after_pg_restore": (real_span[1] - restores[-1][1]) if restores else None,
    }
    if dumps and restores:
        # The safety backup: its counts before pg_dump start with it; its toc and checksum after.
        split["safety_after_pg_dump"] = restores[0][0] - dumps[-1][1]
    counted = split["backup_info"] + split["plan"] + split["restore"]
    split["ansible"] = seconds - counted
    previous = result.get("previous_database")
    run_result = {
        "seconds": seconds,
        "downtime": result.get("downtime_seconds"),
        "previous_database": previous,
        "safety_backup": (result.get("safety_backup") or {}).get("id"),
        "verification": result.get("verification") or {},
        "msg": result.get("msg"),
        "split": split,
        "tasks": {n: t["duration"] for n, t in tasks.items()},
        "serving": result.get("serving"),
        "size": db_size(srv),
    }
    # Back to one database and one backup: drop the kept copy, remove the safety backup.
    for name in leftovers(srv):
        if "_pre_restore_" in name or "__restoring_" in name:
            drop(srv, name)
    if run_result["safety_backup"]:
        for path in Path(ctx["backup_dir"]).glob(run_result["safety_backup"] + ".*"):
            path.unlink()
    log("role, safety backup %s: %.1f s, downtime %s s; %s" % ("on" if safety else "off", seconds,
                                                                result.get("downtime_seconds"), result.get("msg")))
    log("  split: %s" % ", ".join("%s %s" % (k, "%.1f" % v if v is not None else "-") for k, v in split.items()))
    return run_result


# --- report ----------------------------------------------------------------------------------------


def s(value):
    return "-" if value is None else ("%.1f" % value if abs(value) >= 10 else "%.2f" % value)


def median(runs):
    return statistics.median(r["seconds"] for r in runs)


def middle(runs):
    """The run of median wall time (the lower of the two middle ones for an even count)."""
    return sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]


def spread(runs):
    text = s(median(runs))
    if len(runs) > 1:
        text += " (%s-%s)" % (s(min(r["seconds"] for r in runs)), s(max(r["seconds"] for r in runs)))
    return text


def versions(srv):
    galaxy = re.search(r"^version:\s*(\S+)", (ROOT / "galaxy.yml").read_text(), re.M)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    # Plumbing that reads only (no index refresh): does the working tree differ from HEAD?
    dirty = commit and subprocess.run(["git", "-C", str(ROOT), "diff-index", "--quiet", "HEAD", "--"],
                                      capture_output=True, check=False).returncode == 1
    ansible = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True, env=ENV,
                             check=False).stdout.splitlines()
    return {
        "collection": "%s %s (commit %s%s)" % (COLLECTION, galaxy.group(1) if galaxy else "?", commit or "?",
                                               " with uncommitted changes" if dirty else ""),
        "ansible-core": ansible[0].rsplit("core ", 1)[-1].rstrip("]") if ansible else "?",
        "PostgreSQL": srv.query("SHOW server_version")[0][0],
        "Python": sys.version.split()[0],
    }


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 os.uname().machine)
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return "%s, %d cores (`nproc`), %.0f GB RAM" % (model, os.cpu_count(), mem / 1024 / 1024)


def intro(meta):
    return [
        SECTION,
        "",
        "Issue #10: restoring a PostgreSQL database of 1 GB or more through the collection (the",
        "`db_recovery` role's guarded restore, runbook \"Database Recovery\") against plain",
        "`pg_restore` of the same dump. `tests/benchmarks/restore_bench.py` builds the database on a",
        "private PostgreSQL 15 of its own in a temporary directory (`tests/integration/pg.py`'s",
        "`PrivateServer`, not the drill's server), takes the backup with the module",
        "`postgresql_backup`, restores it with `pg_restore -j 1` and `-j 2` into a new empty",
        "database each, then runs `tests/benchmarks/playbooks/db_restore.yml` (the role with",
        "`tasks_from: restore`, `db_recovery_jobs: 2`) with the safety backup off and on; the four",
        "restores run in rounds (`--repeat`, 3 by default). Between runs it drops the kept",
        "`bench_pre_restore_*` database and the safety backup, and checkpoints. A sampler reads",
        "`/proc` every 50 ms to see when each of its module processes, `pg_dump` and `pg_restore`",
        "ran; `downtime_seconds` is the module's own.",
        "",
        "```sh",
        "make bench RESTORE_BENCH_ARGS=--size-scale=200             # after diagnosis_bench.py; make test-long runs it",
        "python tests/benchmarks/restore_bench.py                   # scale 70 (about 1.2 GB), 3 rounds, 8 minutes here",
        "python tests/benchmarks/restore_bench.py --size-scale 200  # about 3.3 GB",
        "python tests/benchmarks/restore_bench.py --quick           # scale 5, one round, a self-check; writes no docs",
        "```",
        "",
        "The script rewrites this section (up to the next `## ` heading) on every full run.",
        "",
    ]


def render(ctx, meta):
    b, plain, roles = ctx["backup"], ctx["plain"], ctx["roles"]
    j2 = median(plain[2])
    off, on = middle(roles[False]), middle(roles[True])  # the median runs, for the split
    off_s, on_s = median(roles[False]), median(roles[True])
    repeat = len(plain[2])
    load = ctx["load"]
    lines = intro(meta) + [
        "### Results",
        "",
        "Run of %s on %s; load average %s at start, %s at end, %s at most (read after each step); "
        "%s min in all. Versions: %s. Command: `%s`."
        % (meta["date"], meta["machine"], meta["load_start"], meta["load_end"], meta["load_peak"], meta["minutes"],
           ", ".join("%s %s" % kv for kv in meta["versions"].items()), meta["command"]),
        "",
        "Server: %s; everything else default. The dump, the server and the clients on one"
        " file system of the same machine." % ", ".join("`%s = %s`" % (k, ("on" if v is True else v))
                                                      for k, v in SERVER_CONF.items() if k != "shared_preload_libraries"),
        "",
        "Database `bench`: **%.2f GB** (`pg_database_size`, %d bytes): pgbench's tables at scale %d (%s), "
        "generated on the server as pgbench's init step G does but with 84 hex digits of filler per account "
        "instead of blanks (a blank filler compresses to a dump of a few MB), pgbench's primary keys and "
        "%d foreign keys, %d indexes in all (plus `pgbench_accounts (bid)` and `pgbench_history (aid, mtime)`), "
        "then %d s of pgbench transactions (%s, 2 clients) and `VACUUM ANALYZE`. Built in %s s: tables %s s, "
        "rows %s s, vacuum and keys %s s, the two indexes %s s, transactions %s s, `VACUUM ANALYZE` %s s. "
        "Dump (custom format, the module's): %.0f MB, %s table-of-contents entries."
        % (ctx["size"] / GB, ctx["size"], ctx["args"].size_scale,
           ", ".join("`%s` %d rows" % kv for kv in ctx["rows"].items()), ctx["foreign_keys"], ctx["indexes"],
           ctx["args"].txn_seconds,
           "%s transactions" % ctx["transactions"] if ctx["transactions"] is not None else "count unknown",
           s(sum(load.values())), s(load["tables"]), s(load["generate"]), s(load["keys"]), s(load["indexes"]),
           s(load["transactions"]), s(load["vacuum_analyze"]), b["size_bytes"] / 1e6, b["toc_entries"]),
        "",
        "| Step | Wall time, s | What it does |",
        "|---|---:|---|",
        "| `pg_dump -Fc` (plain) | %s | the dump alone |" % s(ctx["plain_dump"]["seconds"]),
        "| module `postgresql_backup` (`ansible -m`, tools_via local) | %s | pg_dump %s s under an exported snapshot, "
        "exact row counts of every table in that snapshot, `pg_restore --list`, sha256, manifest |"
        % (s(b["seconds"]), s(b["pg_dump"])),
        "| `pg_restore -j 1` into a new database | %s | `--exit-on-error` |" % spread(plain[1]),
        "| `pg_restore -j 2` into a new database | **%s** | the baseline below |" % spread(plain[2]),
        "| role `db_recovery` restore, safety backup off | **%s** | plan, then the guarded restore (`-j 2`) |"
        % spread(roles[False]),
        "| role `db_recovery` restore, safety backup on (the default) | **%s** | the same plus a safety backup of `bench` first |"
        % spread(roles[True]),
        "",
        "The restores ran %d time%s each, in rounds (`-j 1`, `-j 2`, role without, role with the safety backup)%s."
        % (repeat, "" if repeat == 1 else "s", ": median (min-max) above; every run in the order run: "
           + "; ".join("%s %s" % (name, ", ".join(s(r["seconds"]) for r in runs)) for name, runs in (
               ("`-j 1`", plain[1]), ("`-j 2`", plain[2]), ("role without", roles[False]),
               ("role with", roles[True]))) if repeat > 1 else ""),
        "",
        "| Role run | Wall time, s | Overhead over `pg_restore -j 2`, s | Overhead, % | Downtime (writers stopped), s |",
        "|---|---:|---:|---:|---:|",
    ]
    for safety in (False, True):
        wall = median(roles[safety])
        downtimes = [r["downtime"] for r in roles[safety] if r["downtime"] is not None]
        lines.append("| safety backup %s | %s | +%s | +%.0f%% | %s |" % (
            "on" if safety else "off", s(wall), s(wall - j2), 100 * (wall - j2) / j2,
            "-" if not downtimes else "%.3f" % statistics.median(downtimes)
            + (" (%.3f-%.3f)" % (min(downtimes), max(downtimes)) if len(downtimes) > 1 else "")))
    lines += [
        "",
        "Overhead: median of the role's runs minus the median of `pg_restore -j 2`.",
        "",
        "Where the role's time goes%s (sampled; each process seen from its first to its last 50 ms sample):"
        % (", in the median run of each" if repeat > 1 else ""),
        "",
        "| Part | Safety backup off, s | Safety backup on, s |",
        "|---|---:|---:|",
    ]

    def row(text, key, fn=None, fmt=s):
        values = [(fn(r) if fn else r["split"].get(key)) for r in (off, on)]
        lines.append("| %s | %s | %s |" % (text, fmt(values[0]), fmt(values[1])))

    row("plan: `postgresql_backup_info` (find the backup; checksum, table of contents)", "backup_info")
    row("plan: `postgresql_restore` in check mode (checksum, table of contents, archive read through, "
        "row counts of `bench`, disk)", "plan")
    row("&nbsp;&nbsp;of which reading the archive through (`pg_restore --file=/dev/null`)", "plan_read_through")
    row("restore: `postgresql_restore`, the whole module run", "restore")
    row("&nbsp;&nbsp;before `pg_restore`: the same checks again, the safety backup, `CREATE DATABASE`",
        "before_pg_restore")
    row("&nbsp;&nbsp;&nbsp;&nbsp;of which reading the archive through", "read_through")
    row("&nbsp;&nbsp;&nbsp;&nbsp;of which the safety backup's `pg_dump`", "safety_pg_dump")
    row("&nbsp;&nbsp;`pg_restore -j 2` into `bench__restoring_*`", "pg_restore")
    row("&nbsp;&nbsp;after `pg_restore`: row counts of every table against the manifest, the check, settings, "
        "stop writers and swap, a new session", "after_pg_restore")
    row("&nbsp;&nbsp;&nbsp;&nbsp;of which downtime (`downtime_seconds`)", None, lambda r: r["downtime"],
        lambda v: "-" if v is None else "%.3f" % v)
    row("Ansible itself: start, the role's other tasks, module start-up (wall time minus the three modules)",
        "ansible")
    row("total (`ansible-playbook` wall time)", None, lambda r: r["seconds"])
    checks = on["verification"].get("checks") or []
    counts = on["verification"].get("counts") or {}
    reads = off["split"]["plan_read_through"] + off["split"]["read_through"]

    def downtime(runs):
        values = [r["downtime"] for r in runs if r["downtime"] is not None]
        return "%.3f" % statistics.median(values) if values else "-"

    lines += [
        "",
        "Sha256 of the %.0f MB dump in Python alone: %s s; the role computes it three times per run "
        "(`postgresql_backup_info`, then `postgresql_restore` in the plan and in the restore)."
        % (b["size_bytes"] / 1e6, s(ctx["sha256_seconds"])),
        "",
        "**Reading.** With the safety backup off the role took %s s against %s s for plain `pg_restore -j 2`: "
        "+%s s (+%.0f%%). The `pg_restore -j 2` inside the module took %s s%s; the rest is what the guard adds, "
        "and it buys: the backup proven whole before anything changes (its sha256 compared with the manifest "
        "and its table of contents read in each of the three module runs, and every byte read through "
        "`pg_restore --file=/dev/null` in the plan and again in the restore, %s s of reading); the restore into "
        "a new database while `bench` keeps serving; the row counts of the %d tables compared with the "
        "backup's manifest, and the check (%s), before anything is swapped; the database's settings and "
        "grants carried over; and a swap that stopped writers for %s s, with the replaced database kept as "
        "`bench_pre_restore_*` to go back to. Plain `pg_restore` into the live database, as the runbook's "
        "command does, leaves the applications on a half-restored database for the whole %s s and keeps "
        "nothing to go back to. With the safety backup on (the default; never off in production) the role "
        "took %s s: +%s s (+%.0f%%) over plain `pg_restore -j 2` and %s s more than without it (its `pg_dump` "
        "alone %s s%s; the module `postgresql_backup` on its own took %s s), with a downtime of %s s."
        % (s(off_s), s(j2), s(off_s - j2), 100 * (off_s - j2) / j2,
           s(off["split"]["pg_restore"]), " in the median run" if repeat > 1 else "", s(reads), len(counts),
           ", ".join("%s = %s" % (c.get("name"), c.get("value")) for c in checks) or "none",
           downtime(roles[False]), s(j2), s(on_s), s(on_s - j2), 100 * (on_s - j2) / j2,
           s(on_s - off_s), s(on["split"]["safety_pg_dump"]), " in the median run" if repeat > 1 else "",
           s(b["seconds"]), downtime(roles[True])),
    ]
    if ctx["size"] < GB:
        lines += ["", "Note: the database was %.2f GB, below the 1 GB the issue asks for (--size-scale %d)."
                  % (ctx["size"] / GB, ctx["args"].size_scale)]
    return "\n".join(lines) + "\n"


def render_short(need, free, base, meta):
    lines = intro(meta) + [
        "### Results",
        "",
        "Not run on %s (%s): a database of about %.1f GB (pgbench scale %d) needs about %.1f GB free under %s "
        "(%d times the database: data directory, dumps, restored copies, the safety backup); %.1f GB were free."
        % (meta["date"], meta["machine"], need / SPACE_FACTOR / GB, meta["scale"], need / GB, base,
           SPACE_FACTOR, free / GB),
    ]
    return "\n".join(lines) + "\n"


def write_doc(block):
    """Replace the section (up to the next `## ` heading) or append it; nothing else changes."""
    benchdoc.replace_section(DOC, SECTION, block)
    log("wrote %s (section %s)" % (DOC, SECTION))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--size-scale", type=int, default=70,
                        help="pgbench scale of the database (70: about 1.2 GB; default %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast self-check: scale 5, 5 s of transactions, nothing written to the docs")
    parser.add_argument("--txn-seconds", type=int, default=30, help="seconds of pgbench transactions after the load")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of the four restores (medians reported; default %(default)s, --quick 1)")
    parser.add_argument("--tmpdir", default=None,
                        help="where the temporary directory goes (default: the system's, $TMPDIR or /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, dumps, data)")
    parser.add_argument("--no-doc", action="store_true", help="print the results only")
    args = parser.parse_args()
    if args.quick:
        args.size_scale, args.txn_seconds, args.no_doc, args.repeat = 5, 5, True, 1
    if args.size_scale < 1 or args.txn_seconds < 1 or args.repeat < 1:
        parser.error("--size-scale, --txn-seconds and --repeat must be at least 1")
    return args


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a cancelled job cleans up like Ctrl-C
    started, load_start = time.monotonic(), os.getloadavg()[0]
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "scale": args.size_scale,
            "command": " ".join(["restore_bench.py"] + sys.argv[1:])}
    base = Path(args.tmpdir or tempfile.gettempdir())
    need = SPACE_FACTOR * BYTES_PER_SCALE * args.size_scale
    free = shutil.disk_usage(base).free
    log("free space under %s: %.1f GB; needed about %.1f GB (%d x %.2f GB)"
        % (base, free / GB, need / GB, SPACE_FACTOR, need / SPACE_FACTOR / GB))
    if free < need:
        print("not enough free space under %s: about %.1f GB needed (%d times a database of about %.1f GB), "
              "%.1f GB free; choose another place with --tmpdir or a smaller --size-scale"
              % (base, need / GB, SPACE_FACTOR, need / SPACE_FACTOR / GB, free / GB))
        if not args.no_doc:
            write_doc(render_short(need, free, base, meta))
        sys.exit(2)
    workdir = tempfile.mkdtemp(prefix="restore-bench-", dir=str(base))
    os.chmod(workdir, 0o755)  # the server runs as postgres
    backup_dir = Path(workdir) / "backups"
    backup_dir.mkdir()
    ctx = {"workdir": workdir, "backup_dir": str(backup_dir), "args": args}
    log("work directory %s (logs of every step)" % workdir)
    sampler = Sampler()
    sampler.start()
    peak = [load_start]

    def step(fn, *a):
        value = fn(*a)
        peak[0] = max(peak[0], os.getloadavg()[0])
        return value

    srv = PrivateServer(workdir, conf=SERVER_CONF, name="bench")
    try:
        srv.start()
        log("PostgreSQL %s on 127.0.0.1:%d, data in %s" % (srv.query("SHOW server_version")[0][0], srv.port,
                                                             srv.data_dir))
        step(build_database, srv, args, ctx)
        actual_need = (SPACE_FACTOR - 1) * ctx["size"]
        free = shutil.disk_usage(base).free
        if free < actual_need:
            raise RuntimeError("%.2f GB database: %.1f GB more free space needed, %.1f GB free"
                               % (ctx["size"] / GB, actual_need / GB, free / GB))
        step(plain_dump, srv, ctx)
        step(module_backup, srv, ctx, sampler)
        # Rounds, so that a slow spell of the shared machine does not land on one way's runs only.
        ctx["plain"], ctx["roles"] = {1: [], 2: []}, {False: [], True: []}
        for round_ in range(args.repeat):
            log("round %d of %d" % (round_ + 1, args.repeat))
            ctx["round"] = round_ + 1
            for jobs in (1, 2):
                ctx["plain"][jobs].append(step(plain_restore, srv, ctx, jobs))
            for safety in (False, True):
                ctx["roles"][safety].append(step(role_restore, srv, ctx, sampler, safety))
        meta["versions"] = versions(srv)
    finally:
        sampler.stop()
        sampler.dump(Path(workdir) / "processes.txt", started)
        srv.destroy()
        if args.keep:
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.keep:
        Path(workdir, "results.json").write_text(json.dumps({"ctx": ctx, "meta": meta}, indent=1, default=str))
    meta.update(load_start="%.2f" % load_start, load_end="%.2f" % os.getloadavg()[0], load_peak="%.2f" % peak[0],
                minutes="%.0f" % ((time.monotonic() - started) / 60))
    block = render(ctx, meta)
    print(block)
    if not args.no_doc:
        write_doc(block)


if __name__ == "__main__":
    main()
