# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cache warm-up benchmark: the same key set written by the collection's warm-up code and by
`redis-cli --pipe`, side by side, on a private redis-server (a benchmark, not a test: the only
checks are that every run wrote the same data).

On a redis-server of its own (tests/integration/redisenv.py's PrivateRedis, in a temporary
directory, with a password; the drill's Redis is not used) it

  1. generates --keys keys (100000 by default) of every type with about 100 bytes of value each
     (strings of 100 bytes; hashes, lists, sets and sorted sets of 4 elements of about 25 bytes),
     a quarter of them with a TTL, from a fixed seed;
  2. writes them, FLUSHALL between runs, in rounds (--repeat, 3 by default; the order alternates):
       - module_utils: plugins/module_utils/redis/warmup.py as redis_cache_warmup runs it, in this
         process through open_redis (entries checked, EXISTS per batch, the writes, then every
         key verified), batch_size 500;
       - redis-cli --pipe: the same commands (warmup.write_commands) as a RESP file, piped;
       - the module: `ansible localhost -m redis_cache_warmup src=<the keys as JSON lines>`, as an
         operator runs it (Ansible's start-up and reading the file included);
     and, once, module_utils with batch_size 100 and 2000 and with replace=true;
  3. checks after every run that the server holds exactly the key set: DBSIZE, the keys with a
     TTL, and DEBUG DIGEST-VALUE of every key equal to the redis-cli run's;
  4. prints a Markdown table; with --write-docs it replaces the section "Cache warm-up" of
     docs/benchmarks.md (no other section is touched).

--quick: 10000 keys, one round, nothing written to the docs (a self-check).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import benchdoc  # noqa: E402  (beside this script)
import redisenv  # noqa: E402  (tests/integration on the path first)

DOC = ROOT / "docs" / "benchmarks.md"
SECTION = "## Cache warm-up"
BIN = Path(sys.executable).parent
COLLECTION = "ai_orchestrator.incident_response"
NAMESPACE, NAME = COLLECTION.split(".")
SEED = 20261128
TYPE_SHARES = (("string", 0.55), ("hash", 0.15), ("list", 0.10), ("set", 0.10), ("zset", 0.10))
TTL_SHARE = 0.25
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.{}\"' "


def log(msg):
    print("[warmup-bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def collections_tree():
    """A directory holding ansible_collections/<ns>/<name> that is this checkout (as tests/unit/conftest.py finds it)."""
    if ROOT.parts[-3:] == ("ansible_collections", NAMESPACE, NAME):
        return ROOT.parents[2]
    for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep) + [str(Path.home() / ".cache/aio-collections")]:
        candidate = Path(entry).expanduser() / "ansible_collections" / NAMESPACE / NAME
        if entry and candidate.exists() and candidate.resolve() == ROOT:
            return Path(entry).expanduser()
    root = Path(tempfile.gettempdir()) / ("aio-bench-collections-%d" % os.getuid())
    link = root / "ansible_collections" / NAMESPACE / NAME
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and link.resolve() != ROOT:
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(ROOT)
    return root


TREE = collections_tree()
ENV = dict(os.environ, PATH="%s:%s" % (BIN, os.environ.get("PATH", "")), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
           ANSIBLE_COLLECTIONS_PATH=str(TREE), ANSIBLE_LOAD_CALLBACK_PLUGINS="0", ANSIBLE_NOCOLOR="1")


def load_collection():
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(TREE)])
    from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.redis import (
        connection,
        flush,
        warmup,
    )

    return connection, flush, warmup


# --- the key set ------------------------------------------------------------------------------------------


def generate(count, seed=SEED):
    """The benchmark's entries (redis_cache_warmup's `keys` format), the same for a seed."""
    rng = random.Random(seed)

    def text(size):
        return "".join(rng.choice(ALPHABET) for _i in range(size))
    kinds = [k for k, share in TYPE_SHARES for _i in range(int(share * 100))]
    items = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        key = "bench:%s:%07d" % (kind, n)
        if kind == "string":
            value = text(100)
        elif kind == "hash":
            value = dict(("field%d" % i, text(19)) for i in range(4))
        elif kind in ("list", "set"):
            value = ["%d-%s" % (i, text(23)) for i in range(4)]
        else:
            value = dict(("member%d-%s" % (i, text(14)), round(rng.uniform(0, 1e6), 3)) for i in range(4))
        item = {"key": key, "type": kind, "value": value}
        if rng.random() < TTL_SHARE:
            item["ttl"] = 3600 + rng.randint(0, 3600)
        items.append(item)
    return items


def value_bytes(items):
    total = 0
    for item in items:
        value = item["value"]
        if isinstance(value, str):
            total += len(value)
        elif isinstance(value, dict):
            total += sum(len(str(k)) + len(str(v)) for k, v in value.items())
        else:
            total += sum(len(v) for v in value)
    return total


def resp(args):
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


# --- the runs ------------------------------------------------------------------------------------------------


class Bench(object):
    def __init__(self, srv, items, workdir, connection, flush, warmup):
        self.srv = srv
        self.items = items
        self.workdir = Path(workdir)
        self.connection = connection
        self.flush = flush
        self.warmup = warmup
        self.client = srv.client()
        self.reference = None  # (dbsize, keys with a ttl, digests) of the redis-cli load
        self.src = self.workdir / "keys.jsonl"
        with open(self.src, "w") as out:
            for item in items:
                out.write(json.dumps(item) + "\n")
        start = time.monotonic()
        entries = warmup.normalize_entries(items)
        with open(self.workdir / "keys.resp", "wb") as out:
            for entry in entries:
                for command in warmup.write_commands(entry, replace=False):
                    out.write(resp(command))
        self.resp_seconds = time.monotonic() - start
        self.resp_bytes = (self.workdir / "keys.resp").stat().st_size

    def empty(self):
        self.client.flushall()  # synchronous: the next run starts from an empty server
        assert self.client.dbsize() == 0

    def state(self):
        """(DBSIZE, keys with a TTL, sorted DEBUG DIGEST-VALUE of every key)."""
        keys = sorted(self.client.scan_iter(count=5000))
        with_ttl, digests = 0, []
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            pipe = self.client.pipeline(transaction=False)
            for key in chunk:
                pipe.pttl(key)
            with_ttl += sum(1 for p in pipe.execute() if p > 0)
            digests += self.client.execute_command("DEBUG", "DIGEST-VALUE", *chunk)
        return self.client.dbsize(), with_ttl, digests

    def check(self, name):
        state = self.state()
        if self.reference is None:
            self.reference = state
        elif state != self.reference:
            raise RuntimeError("%s left a different data set: dbsize %d (expected %d), %d keys with a TTL (expected %d), "
                               "digests %s" % (name, state[0], self.reference[0], state[1], self.reference[1],
                                               "equal" if state[2] == self.reference[2] else "differ"))
        if state[0] != len(self.items):
            raise RuntimeError("%s: %d keys on the server, %d generated" % (name, state[0], len(self.items)))

    def redis_cli(self):
        self.empty()
        argv = self.srv.cli_argv("--pipe")
        env = dict(os.environ, REDISCLI_AUTH=self.srv.password)
        with open(self.workdir / "keys.resp", "rb") as data:
            start = time.monotonic()
            proc = subprocess.run(argv, stdin=data, capture_output=True, env=env, check=False)
            seconds = time.monotonic() - start
        out = proc.stdout.decode(errors="replace")
        m = re.search(r"errors: (\d+), replies: (\d+)", out)
        if proc.returncode or not m or m.group(1) != "0":
            raise RuntimeError("redis-cli --pipe failed (rc %s): %s %s" % (proc.returncode, out[-2000:], proc.stderr[-2000:]))
        self.check("redis-cli --pipe")
        return {"seconds": seconds, "replies": int(m.group(2))}

    def module_utils(self, batch_size=500, replace=False):
        self.empty()
        params = self.srv.params()
        start = time.monotonic()
        entries = self.warmup.normalize_entries(self.items)
        parsed = time.monotonic()
        with self.connection.open_redis(params) as conn:
            result = self.warmup.warmup(conn, entries, replace=replace, batch_size=batch_size, default_db=conn.db,
                                        select_db=conn.select_db)
        seconds = time.monotonic() - start
        if result["written"] != len(self.items) or result["missing"] or result["failed_keys"]:
            raise RuntimeError("module_utils warm-up: %s" % result["msg"])
        self.check("module_utils batch %d%s" % (batch_size, " replace" if replace else ""))
        return {"seconds": seconds, "parse": parsed - start, "write": result["write_seconds"],
                "verify": result["duration_seconds"] - result["write_seconds"], "batches": result["batches"],
                "keys_per_second": result["keys_per_second"]}

    def save(self):
        """Every key's DUMP and PTTL into a save file, as a forced flush writes it (flush.save_keys)."""
        path = self.workdir / "saved.jsonl"
        if path.exists():
            path.unlink()
        names = dict((c, c) for c in ("DUMP", "PTTL"))
        start = time.monotonic()
        with self.connection.open_redis(self.srv.params()) as conn:
            keys = []
            for batch in self.flush.typed_batches(conn, {"SCAN": "SCAN", "TYPE": "TYPE"}, "*", 1000):
                keys += [(0, name, key_type) for name, key_type in batch]
            saved = self.flush.save_keys(lambda db: conn, keys, names, str(path))
        seconds = time.monotonic() - start
        if saved["keys"] != len(self.items):
            raise RuntimeError("saved %d keys of %d" % (saved["keys"], len(self.items)))
        return {"seconds": seconds, "bytes": saved["bytes"], "path": path}

    def restore(self, path):
        """The save file back through the warm-up code (RESTORE of each DUMP, with what is left of its TTL)."""
        self.empty()
        start = time.monotonic()
        entries = self.warmup.normalize_entries(self.warmup.load_src(str(path)))
        parsed = time.monotonic()
        with self.connection.open_redis(self.srv.params()) as conn:
            result = self.warmup.warmup(conn, entries, default_db=conn.db, select_db=conn.select_db)
        seconds = time.monotonic() - start
        if result["written"] != len(self.items) or result["missing"] or result["failed_keys"]:
            raise RuntimeError("restore from the save file: %s" % result["msg"])
        self.check("restore from the save file")
        return {"seconds": seconds, "parse": parsed - start, "write": result["write_seconds"],
                "verify": result["duration_seconds"] - result["write_seconds"], "batches": result["batches"]}

    def module(self):
        self.empty()
        args = dict(self.srv.params(), src=str(self.src))
        cmd = [str(BIN / "ansible"), "localhost", "-m", "%s.redis_cache_warmup" % COLLECTION, "-a", json.dumps(args),
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-o"]
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=str(self.workdir), check=False)
        seconds = time.monotonic() - start
        out = proc.stdout.strip()
        try:
            result = json.loads(out.split("=>", 1)[1])
        except (IndexError, ValueError):
            raise RuntimeError("the module's output: %s %s" % (out[-2000:], proc.stderr[-2000:]))
        if "| FAILED!" in out.split("=>", 1)[0] or result.get("written") != len(self.items):
            raise RuntimeError("the module failed: %s" % result.get("msg"))
        self.check("redis_cache_warmup module")
        return {"seconds": seconds, "module": result["duration_seconds"], "write": result["write_seconds"],
                "keys_per_second": result["keys_per_second"]}


# --- the report ---------------------------------------------------------------------------------------------


def med(runs, key="seconds"):
    return statistics.median(r[key] for r in runs)


def spread(runs, key="seconds"):
    values = [r[key] for r in runs]
    text = "%.2f" % statistics.median(values)
    if len(values) > 1:
        text += " (%.2f-%.2f)" % (min(values), max(values))
    return text


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 os.uname().machine)
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return "%s, %d cores (`nproc`), %.0f GB RAM" % (model, os.cpu_count(), mem / 1024 / 1024)


def versions(srv):
    import redis

    galaxy = re.search(r"^version:\s*(\S+)", (ROOT / "galaxy.yml").read_text(), re.M)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    dirty = commit and subprocess.run(["git", "-C", str(ROOT), "diff-index", "--quiet", "HEAD", "--"],
                                      capture_output=True, check=False).returncode == 1
    ansible = subprocess.run([str(BIN / "ansible"), "--version"], capture_output=True, text=True, env=ENV,
                             check=False).stdout.splitlines()
    return {
        "collection": "%s %s (commit %s%s)" % (COLLECTION, galaxy.group(1) if galaxy else "?", commit or "?",
                                               " with uncommitted changes" if dirty else ""),
        "ansible-core": ansible[0].rsplit("core ", 1)[-1].rstrip("]") if ansible else "?",
        "Redis": srv.client().info("server")["redis_version"],
        "redis-py": redis.__version__,
        "Python": sys.version.split()[0],
    }


def render(ctx, meta):
    n = ctx["keys"]
    cli, utils, mod = ctx["runs"]["cli"], ctx["runs"]["utils"], ctx["runs"]["module"]
    base = med(cli)
    repeat = len(cli)

    def rate(seconds):
        return "{:,.0f}".format(n / seconds).replace(",", " ") if seconds > 0 else "-"

    def ratio(seconds):
        return "%.1fx" % (seconds / base) if base > 0 else "-"

    lines = [
        SECTION,
        "",
        "Issue #11: the runbook's cache warm-up as keys written straight to Redis. "
        "`tests/benchmarks/cache_warmup_bench.py` writes the same generated key set three ways into a "
        "private redis-server of its own (`tests/integration/redisenv.py`'s `PrivateRedis` in a temporary "
        "directory, with a password, no persistence; not the drill's Redis), `FLUSHALL` between runs, in "
        "rounds (`--repeat`, 3 by default, the order alternating):",
        "",
        "| Way | What runs |",
        "|---|---|",
        "| `redis-cli --pipe` | the same commands (`warmup.write_commands`: `SET ... PX ... NX`, `HSET`, `RPUSH`, "
        "`SADD`, `ZADD`, `PEXPIRE`) as a RESP file piped into `redis-cli --pipe`; the file is made before the clock "
        "starts (in Python, %.2f s, %.1f MB) |" % (ctx["resp_seconds"], ctx["resp_bytes"] / 1e6),
        "| module_utils | `plugins/module_utils/redis/warmup.py` as the module runs it, in the benchmark's process "
        "through `open_redis` (direct): the entries checked, one pipelined `EXISTS` round trip and one write round "
        "trip per batch of 500 keys, then every key verified (`EXISTS`, 500 per round trip) |",
        "| module | `ansible localhost -m ai_orchestrator.incident_response.redis_cache_warmup` with `src=` the key set "
        "as JSON lines (%.1f MB): what an operator runs, Ansible's start-up and reading the file included |"
        % (ctx["src_bytes"] / 1e6),
        "",
        "After every run the server must hold exactly the key set: `DBSIZE`, the number of keys with a TTL, and "
        "`DEBUG DIGEST-VALUE` of every key equal to the `redis-cli --pipe` run's.",
        "",
        "```sh",
        "make bench WARMUP_BENCH_ARGS=--keys=200000              # after the other benchmarks; make test-long runs it",
        "python tests/benchmarks/cache_warmup_bench.py --write-docs  # 100000 keys, 3 rounds, about a minute here",
        "python tests/benchmarks/cache_warmup_bench.py --quick       # 10000 keys, one round, a self-check; writes no docs",
        "```",
        "",
        "The script rewrites this section (up to the next `## ` heading) when run with `--write-docs`.",
        "",
        "### Results",
        "",
        "Run of %s on %s; load average %s at start, %s at end; %s s in all. Versions: %s. Command: `%s`."
        % (meta["date"], meta["machine"], meta["load_start"], meta["load_end"], meta["seconds"],
           ", ".join("%s %s" % kv for kv in meta["versions"].items()), meta["command"]),
        "",
        "Key set: **%d keys**, %s, about %.0f bytes of value per key (%.1f MB in all; strings of 100 bytes, "
        "collections of 4 elements of about 25 bytes), %d with a TTL; seed %d. `used_memory` after a load: %.1f MB."
        % (n, ", ".join("%s %d" % kv for kv in ctx["by_type"].items()), ctx["value_bytes"] / n,
           ctx["value_bytes"] / 1e6, ctx["with_ttl"], SEED, ctx["used_memory"] / 1e6),
        "",
        "| Way | Wall time, s | Keys per second | Against `redis-cli --pipe` |",
        "|---|---:|---:|---:|",
        "| `redis-cli --pipe` | **%s** | %s | 1.0x |" % (spread(cli), rate(base)),
        "| module_utils (batch 500), in all | **%s** | %s | %s |" % (spread(utils), rate(med(utils)), ratio(med(utils))),
        "| &nbsp;&nbsp;of which checking the entries | %s | | |" % spread(utils, "parse"),
        "| &nbsp;&nbsp;of which `EXISTS` and writes (`write_seconds`) | %s | %s | %s |"
        % (spread(utils, "write"), rate(med(utils, "write")), ratio(med(utils, "write"))),
        "| &nbsp;&nbsp;of which verifying every key | %s | | |" % spread(utils, "verify"),
        "| module through `ansible -m`, in all | **%s** | %s | %s |" % (spread(mod), rate(med(mod)), ratio(med(mod))),
        "| &nbsp;&nbsp;of which the module's own run (`duration_seconds`) | %s | | |" % spread(mod, "module"),
        "",
    ]
    if repeat > 1:
        lines += ["Median (min-max) of %d rounds; every run in the order run: %s." % (repeat, "; ".join(
            "%s %s" % (name, ", ".join("%.2f" % r["seconds"] for r in runs))
            for name, runs in (("redis-cli", cli), ("module_utils", utils), ("module", mod)))), ""]
    variants = ctx["variants"]
    if variants:
        lines += [
            "module_utils with other settings (one run each, in the first round):",
            "",
            "| Setting | Wall time, s | `EXISTS` and writes, s | Write round trips | Against `redis-cli --pipe` |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, run in variants:
            row = (label, run["seconds"], run["write"], run["batches"], ratio(run["seconds"]))
            lines.append("| %s | %.2f | %.2f | %d | %s |" % row)
        lines.append("")
    if ctx.get("save"):
        lines += ["Saving every key of the loaded server as a forced flush does (`flush.save_keys`: `SCAN`, `TYPE`, "
                  "then `PTTL` and `DUMP` of 200 keys per round trip, JSON lines to a file) took %.2f s (%.1f MB); "
                  "the restore row above reads that file back through the warm-up code (`RESTORE` without `REPLACE`, "
                  "what was left of each TTL)." % (ctx["save"]["seconds"], ctx["save"]["bytes"] / 1e6), ""]
    lines += [
        "**Reading.** `redis-cli --pipe` loaded %d keys in %.2f s (%s keys/s): the server's own speed, with the "
        "protocol prepared in advance and no replies looked at. The collection's warm-up code took %.2f s (%.1fx): "
        "%.2f s checking every entry, %.2f s finding the existing keys and writing (two round trips per 500 keys) and "
        "%.2f s verifying that every key exists; the difference is the Python client building each command and "
        "reading each reply, which `--pipe` does not do at all. Through Ansible the module took %.2f s, %.2f s of "
        "them its writes and verification (`duration_seconds`); the rest is Ansible starting up and shipping the "
        "module, and reading and checking %.1f MB of JSON lines. At these rates the warm-up of a runbook's critical "
        "keys (hundreds to a few thousand) costs well under a second of Redis time, and the Ansible task around it "
        "costs more than the writes."
        % (n, base, rate(base), med(utils), med(utils) / base if base else 0, med(utils, "parse"), med(utils, "write"),
           med(utils, "verify"), med(mod), med(mod, "module"), ctx["src_bytes"] / 1e6),
    ]
    return "\n".join(lines) + "\n"


def write_doc(block):
    """Replace the section (up to the next `## ` heading) or append it; nothing else changes."""
    benchdoc.replace_section(DOC, SECTION, block)
    log("wrote %s (section %s)" % (DOC, SECTION))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--keys", type=int, default=100000, help="keys in the key set (default %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (medians reported; default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="10000 keys, one round, no docs: a self-check")
    parser.add_argument("--no-variants", action="store_true", help="skip the batch-size and replace=true runs")
    parser.add_argument("--write-docs", action="store_true", help="replace the section in docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.quick:
        args.keys, args.repeat, args.write_docs = 10000, 1, False
    if args.keys < 100 or args.repeat < 1:
        parser.error("--keys must be at least 100 and --repeat at least 1")
    return args


def main():
    args = parse_args()
    if not redisenv.available():
        sys.exit("redis-server and redis-cli are needed (make system-packages)")
    started, load_start = time.monotonic(), os.getloadavg()[0]
    meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
            "command": " ".join(["cache_warmup_bench.py"] + sys.argv[1:])}
    connection, flush, warmup = load_collection()
    workdir = tempfile.mkdtemp(prefix="warmup-bench-")
    log("work directory %s" % workdir)
    items = generate(args.keys)
    ctx = {"keys": args.keys, "value_bytes": value_bytes(items), "with_ttl": sum(1 for i in items if "ttl" in i),
           "by_type": dict((kind, sum(1 for i in items if i["type"] == kind)) for kind, _share in TYPE_SHARES),
           "runs": {"cli": [], "utils": [], "module": []}, "variants": []}
    srv = redisenv.PrivateRedis(workdir, name="bench", password=redisenv.new_password(),
                                conf={"enable-debug-command": "yes"})
    try:
        srv.start()
        bench = Bench(srv, items, workdir, connection, flush, warmup)
        ctx.update(resp_seconds=bench.resp_seconds, resp_bytes=bench.resp_bytes, src_bytes=bench.src.stat().st_size)
        log("%d keys, %.1f MB of values; redis-server %s on 127.0.0.1:%d"
            % (args.keys, ctx["value_bytes"] / 1e6, srv.client().info("server")["redis_version"], srv.port))
        ways = [("cli", bench.redis_cli), ("utils", bench.module_utils), ("module", bench.module)]
        for round_ in range(args.repeat):
            # Round 1 starts with redis-cli: its load is the reference the others are checked against.
            order = ways if round_ % 2 == 0 else list(reversed(ways))
            for name, run in order:
                result = run()
                ctx["runs"][name].append(result)
                log("round %d: %-6s %.2f s" % (round_ + 1, name, result["seconds"]))
            if round_ == 0:
                ctx["used_memory"] = srv.client().info("memory")["used_memory"]
                if not args.no_variants:
                    for label, kwargs in (("batch_size 100", {"batch_size": 100}),
                                          ("batch_size 2000", {"batch_size": 2000}),
                                          ("replace=true (MULTI/EXEC per batch of 500)", {"replace": True})):
                        result = bench.module_utils(**kwargs)
                        ctx["variants"].append((label, result))
                        log("variant %s: %.2f s" % (label, result["seconds"]))
                    saved = bench.save()
                    ctx["save"] = saved
                    log("saved every key (DUMP + PTTL): %.2f s, %.1f MB" % (saved["seconds"], saved["bytes"] / 1e6))
                    result = bench.restore(saved["path"])
                    ctx["variants"].append(("the save file restored (`RESTORE` of each `DUMP`)", result))
                    log("restored the save file: %.2f s" % result["seconds"])
        meta["versions"] = versions(srv)
    finally:
        srv.stop()
        if args.keep:
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    meta.update(load_start="%.2f" % load_start, load_end="%.2f" % os.getloadavg()[0],
                seconds="%.0f" % (time.monotonic() - started))
    block = render(ctx, meta)
    print(block)
    if args.write_docs:
        write_doc(block)


if __name__ == "__main__":
    main()
