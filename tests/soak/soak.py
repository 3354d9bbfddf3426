#!/usr/bin/env python3
"""tests/soak/soak.py - fault-injection soak of seinpost (stdlib only).

Drives real processes on 127.0.0.1 (and ipc:// for the admin socket): one
seinpostd, two partners (`seinpost listen`: toeslagen, belastingdienst) and
emitters (`seinpost emit --stream`, and tests/tools/rawemit), all with CURVE
and the configuration of tests/lib.sh, while it injects faults:

  crashes     kill -9 of seinpostd at random moments under load, restart;
              some kills land during start-up (before the daemon is ready)
  partners    partners killed -9 and restarted, some while their output is
              stalled (lines written, no receipt sent yet); clean TERM and
              restart; SIGSTOP past the receipt timeout
  outage      a time-compressed 24-hour outage: toeslagen's endpoint gone
              and belastingdienst frozen (SIGSTOP, a black hole) at once
  disk full   the database's file system fills up: a tmpfs shrunk to what
              it holds, and RLIMIT_FSIZE (64 KiB) on the running daemon,
              then kill -9 and a restart under that limit; the daemon must
              answer STORAGE_UNAVAILABLE, lose no ACCEPTED signal, keep
              delivering, not spin on the failing transactions, and accept
              again by itself when space returns
  handlers    partner faults while the daemon stays up, at the partners'
              handlers: the partners run `seinpost listen --exec` (the
              handler HANDLER_SH below); kill -9 and restart, a handler
              that fails once, SIGSTOP past the receipt timeout, kill -9
              while a (slowed) handler runs; half under bursty traffic
              (50-200 signals at once, then a 0.6-1.5 s pause), half under
              a trickle (one signal every 50-100 ms)
  emitters    an emitter killed mid-stream and its signals resent (lost
              ACKs), two emitters resending the same signals at once, cut
              EMIT messages (rawemit) and cut ZMTP greetings (raw TCP)
  corrupt db  the database file damaged three ways: the daemon must refuse
              to start, say so, and leave the file as it was

Defaults: 50 crash cycles, 20 partner cycles, 16 handler faults (at most
90 s), a 24 h outage, both disk-full variants, 4 emitter rounds of 300
signals, 150 signals/s. --short (make check): 5, 3, 4 (at most 20 s; burst
pauses 0.3-0.8 s), a 4 h outage, one disk-full variant (tmpfs when
mountable, else RLIMIT_FSIZE), 1 round of 120, 60 signals/s.

Time compression: one real second models one hour (--time-scale 3600).
The retry policy is the one a production node would use with max_delay
1 h and max_age 72 h, divided by the scale: max_delay 1 s, max_age 72 s
(initial delay 50 ms, multiplier 2, jitter 0.1). An outage of 24 s then
makes the daemon go through the same number of retry cycles as a 24-hour
outage at a 1-hour cap (the ramp 50 ms..800 ms, then one attempt per
max_delay), and it ends a third of the way to max_age, as 24 h does of 72 h.

Every signal is numbered (id soak-RUN-N, or soak-RUN-xR-N and soak-RUN-rawR
for the emitter faults); the harness records every answer, and an emitter
resends whatever got no ACCEPTED (daemon killed, storage full), as a real
emitter would, until every signal is ACCEPTED (OK or DUPLICATE).

The checker counts at the partners' handlers, not in the router's tables.
What a partner's handler got is a file per process lifetime: its stdout
(out/NAME.NNN.out, one JSON line per signal handed on, with subscription,
seq, source and id) or, in exec mode, the file its --exec handler wrote
(out/NAME.NNN.handled, one line {"id","source","pid"} per signal handled;
the subscription is the partner's one whose filter the signal matches,
the seq the stored one). At the end it proves, per subscription, over
every lifetime:

  lost             every ACCEPTED signal whose filter matches was handled by
                   the partner's handler (the message says when the router
                   marked it delivered all the same); every ACCEPTED signal
                   is in the signals table
  phantom          nothing was handled that was not sent and ACCEPTED, nor
                   on a subscription it does not match; nothing stored that
                   was not sent
  duplicate        each signal handled once; a second time only for the id
                   whose hand-over a kill -9 of the partner interrupted (it
                   may have been handled and not yet recorded): once per
                   kill, the last line of a killed stdout lifetime, or the
                   last id an --exec handler started before the kill (that
                   handler is left to finish, as an orphan would in
                   production). Those are counted apart ("duplicates at a
                   kill -9"), and are no violation
  out_of_order     each id keeps one seq, equal to the stored one; a seq
                   handled for the first time is above every seq handled
                   before it; within one lifetime the seqs of a subscription
                   run seq, seq+1, ...; stored seqs are 1..N
  missing_receipt  (router tables, secondary) every delivery row is done
                   (state 1) with a stored receipt of the subscriber, a
                   64-byte signature, that covers it (SEINPOST2: lists
                   (subscription, seq) in handled; SEINPOST1: through_seq)

and some more: duplicate_stored, misrouted, dead_lettered, unaccepted,
rejected (a code other than STORAGE_UNAVAILABLE, OVERLOADED,
SHUTTING_DOWN), daemon (died by itself, did not come up, stopped with a
non-zero status), storage (the disk-full and corrupt-database rules),
emitter, partner, sanitizer (ASan/UBSan/LSan reports in any log) and audit
(`seinpost audit verify` must exit 0). Every violation is printed with the
signal id where there is one; the exit status is then 1.

  soak.py [--cycles N] [--partner-cycles N] [--handler-cycles N] [--short] ...
  soak.py --self-test          the checker on a small real run, then on
                               doctored copies: each doctoring must be found
  soak.py --check DIR          the checker alone, on a kept run directory
  soak.py --handler-only       only the handler faults (with --cycles N:
                               daemon kill -9 cycles under bursts before them)
  soak.py --old-build DIR      --handler-only against an older release (its
                               tree in DIR, built in DIR/build: tests/soak/run
                               --old-build DIR takes 738cff0 from git and
                               builds it); passes when the checker finds
                               lost signals, fails when it finds none

What it catches (measured on -O1 -g builds, --handler-only, 16 handler
faults, 25-35 s a run):
  this tree (SEINPOST2)   6 runs: 0 lost, 0 phantom, 0 other duplicates,
                           0 out of order; 5-6 duplicates at a kill -9 each
                           (a full run with the `make soak` defaults,
                           187 s: 0 violations over 24 772 signals)
  738cff0 (SEINPOST1)      7 runs of this version: lost 1, 1, 1, 1, 1, 1,
                           46, all marked delivered by the old router. The 1:
                           toeslagen's handler failed once in the trickle,
                           the partner NACKed that batch, handled the one
                           queued behind it, and its cumulative receipt
                           covered the failed seq before the router resent
                           it. The other 45: after a kill -9 of toeslagen in
                           a burst, the restarted partner's receipt covered
                           batches the killed one never read. Also 1-48
                           other duplicates and 18-47 out of order per
                           run. While the phase was tuned: 9 more runs since the
                           trickle waits for the bursts' backlog, each with
                           lost >= 1 (12 once: a failure inside a burst);
                           before that 1 run in 6 (34 lost), as the
                           "trickle" then reached handlers still busy with
                           the bursts; and 0 lost in one run of 30 daemon
                           kill -9 cycles under bursts (--handler-only
                           --cycles 30 --handler-cycles 0).

BIN (environment, default build) names the binaries; --bin overrides.
Every process is started by this script, stopped by its PID, and every
wait is bounded; a tmpfs it mounted is unmounted on the way out.
"""
import argparse
import collections
import fcntl
import hashlib
import json
import os
import random
import re
import resource
import shutil
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SOURCE = "urn:nld:oin:00000001001234567000:systeem:burgerzaken"
GDB = "nl.gemeente.burgerzaken.geen-dubbele-bewoning"
VNA = "nl.gemeente.burgerzaken.verblijft-niet-op-adres"
# kind -> (type, gemeentecode, subject); n % 4 picks the kind of signal n
KINDS = {
    "gdb-0855": (GDB, "0855", "999993653"),
    "gdb-0796": (GDB, "0796", "999993653"),
    "vna-0855": (VNA, "0855", "999990019"),
    "vna-0363": (VNA, "0363", "999990019"),
}
KIND_CYCLE = ["gdb-0855", "gdb-0796", "vna-0855", "vna-0363"]
# the filters of tests/lib.sh: kind -> {(subscriber, subscription)}
ROUTES = {
    "gdb-0855": {("toeslagen", "huurtoeslag-bewoning")},
    "gdb-0796": {("toeslagen", "huurtoeslag-bewoning"), ("belastingdienst", "bewoning-prefix")},
    "vna-0855": {("belastingdienst", "verblijf-tilburg")},
    "vna-0363": set(),
}
SUBSCRIPTIONS = {
    "toeslagen": ["huurtoeslag-bewoning"],
    "belastingdienst": ["verblijf-tilburg", "bewoning-prefix"],
}
PARTNERS = list(SUBSCRIPTIONS)
RETRYABLE = {"STORAGE_UNAVAILABLE", "OVERLOADED", "SHUTTING_DOWN"}
BURST_SIZE = (50, 200)          # signals emitted at once in the burst pattern
BURST_PAUSE = (0.6, 1.5)        # seconds between the end of a burst and the next
                                # (--short: 0.3-0.8; the self-test: 20-60 signals, 0.2-0.5 s)
TRICKLE_GAP = (0.05, 0.1)       # seconds between two signals in the trickle pattern
MAIN_CATEGORIES = ["lost", "phantom", "duplicate", "out_of_order", "missing_receipt"]
OTHER_CATEGORIES = ["duplicate_stored", "misrouted", "dead_lettered", "unaccepted",
                    "rejected", "daemon", "storage", "emitter", "partner", "sanitizer",
                    "audit"]
CATEGORIES = MAIN_CATEGORIES + OTHER_CATEGORIES
SANITIZER = re.compile(r"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:"
                       r"|SUMMARY: UndefinedBehaviorSanitizer")
ANSWER = re.compile(r"^(ACCEPTED|REJECTED) line-(\d+) (\S+): ?(.*)$")

T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


class HarnessTimeout(Exception):
    pass


def event_line(sid, kind):
    """The exact JSON line of a signal: built once, sent byte-identical."""
    etype, code, subject = KINDS[kind]
    if etype == GDB:
        data = {"gemeentecode": code, "nummeraanduidingIdentificatie": "0855200000123456",
                "bewonerBsn": subject, "vastgesteldOp": "2026-11-20"}
    else:
        data = {"gemeentecode": code, "vastgesteldOp": "2026-11-22"}
    event = {"specversion": "1.0", "id": sid, "source": SOURCE, "type": etype,
             "time": "2026-11-23T09:15:00Z", "subject": subject,
             "datacontenttype": "application/json", "data": data}
    return json.dumps(event, separators=(",", ":"))


def db_query(path, sql, args=()):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------- report


class Report:
    def __init__(self):
        self.violations = {c: [] for c in CATEGORIES}
        self.figures = collections.OrderedDict()

    def add(self, category, message):
        self.violations.setdefault(category, []).append(message)

    def merge(self, other):
        for c, msgs in other.violations.items():
            self.violations.setdefault(c, []).extend(msgs)
        self.figures.update(other.figures)

    def count(self, category):
        return len(self.violations.get(category, []))

    def total(self):
        return sum(len(v) for v in self.violations.values())

    def print_violations(self, limit=25):
        for c in CATEGORIES:
            msgs = self.violations.get(c, [])
            for m in msgs[:limit]:
                print(f"VIOLATION {c}: {m}", flush=True)
            if len(msgs) > limit:
                print(f"VIOLATION {c}: ... and {len(msgs) - limit} more", flush=True)

    def summary(self):
        main = ", ".join(f"{c.replace('_', ' ')} {self.count(c)}" for c in MAIN_CATEGORIES)
        other = sum(self.count(c) for c in OTHER_CATEGORIES)
        detail = ", ".join(f"{c} {self.count(c)}" for c in OTHER_CATEGORIES if self.count(c))
        return f"{main}; other violations {other}" + (f" ({detail})" if detail else "")


# ---------------------------------------------------------------- ledger


class Ledger:
    """Every signal the harness made, and every answer it got."""

    def __init__(self):
        self.lock = threading.Lock()
        self.kind = {}
        self.line = {}
        self.sends = collections.Counter()
        self.ok = collections.Counter()
        self.dup = collections.Counter()
        self.rej = collections.Counter()
        self.rej_codes = collections.Counter()
        self.accepted_at = {}
        self.sent_at = {}           # id -> when it was last sent
        self.ok_sent_at = []        # per OK answer: when that signal had been sent
        self.last_ok_at = 0.0
        self.problems = []

    def new(self, sid, kind):
        with self.lock:
            if sid in self.kind:
                raise ValueError(f"id {sid} made twice")
            self.kind[sid] = kind
            self.line[sid] = event_line(sid, kind)

    def sent(self, sid):
        with self.lock:
            self.sends[sid] += 1
            self.sent_at[sid] = time.monotonic()

    def answer(self, sid, accepted, code, reason):
        now = time.monotonic()
        with self.lock:
            if accepted:
                if code == "OK":            # a second OK is judged by check()
                    self.ok[sid] += 1
                    self.last_ok_at = now
                    self.ok_sent_at.append(self.sent_at.get(sid, 0.0))
                elif code == "DUPLICATE":
                    # another send must have stored it: one that was not
                    # REJECTED (a REJECTED send stores nothing)
                    if self.sends[sid] - self.rej[sid] < 2:
                        self.problems.append(("phantom", f"{sid}: answered DUPLICATE after "
                                              f"{self.sends[sid]} sends of which {self.rej[sid]} "
                                              "were REJECTED: something stored it that was "
                                              "never accepted"))
                    self.dup[sid] += 1
                else:
                    self.problems.append(("rejected", f"{sid}: ACCEPTED with code {code}"))
                self.accepted_at.setdefault(sid, now)
            else:
                self.rej[sid] += 1
                self.rej_codes[code] += 1
                if code not in RETRYABLE:
                    self.problems.append(("rejected", f"{sid}: REJECTED {code}: {reason}"))

    def accepted(self, sid):
        with self.lock:
            return sid in self.accepted_at

    def accepted_ids(self):
        with self.lock:
            return set(self.accepted_at)

    def counts(self):
        with self.lock:
            return {"signals": len(self.kind), "accepted": len(self.accepted_at),
                    "sends": sum(self.sends.values()), "ok_answers": sum(self.ok.values()),
                    "duplicate_answers": sum(self.dup.values()),
                    "rejected_answers": dict(self.rej_codes)}

    def dump(self, path):
        with self.lock:
            ids = {sid: {"kind": k, "sends": self.sends[sid], "ok": self.ok[sid],
                         "duplicate": self.dup[sid], "rejected": self.rej[sid]}
                   for sid, k in self.kind.items()}
            doc = {"ids": ids, "rejected_codes": dict(self.rej_codes),
                   "problems": list(self.problems)}
        with open(path, "w") as f:
            json.dump(doc, f)


# ---------------------------------------------------------------- processes


class Harness:
    def __init__(self, args, run_dir, port_base, run_id):
        self.args = args
        self.dir = run_dir
        # --old-build DIR: that tree's binaries (DIR/build) and its
        # tests/lib.sh (the configuration that release understands)
        self.src = os.path.abspath(args.old_build) if args.old_build else REPO
        self.bin = os.path.abspath(os.path.join(args.old_build, "build") if args.old_build
                                   else args.bin)
        self.seinpost = os.path.join(self.bin, "seinpost")
        self.seinpostd = os.path.join(self.bin, "seinpostd")
        self.rawemit = os.path.join(self.bin, "tools", "rawemit")
        self.port_base = port_base
        self.run_id = run_id
        self.conf = os.path.join(run_dir, "seinpost.yaml")
        self.client_conf = os.path.join(run_dir, "burgerzaken.yaml")
        self.db_dir = os.path.join(run_dir, "db")
        self.db = os.path.join(self.db_dir, "seinpost.db")
        self.out_dir = os.path.join(run_dir, "out")
        self.procs = []
        self.procs_lock = threading.Lock()
        self.mounted = False
        self.report = Report()
        self.segments = []
        self.deadline = time.monotonic() + args.max_seconds
        self.rng = random.Random(args.seed)
        self.ledger = Ledger()
        self.emit_err = open(os.path.join(run_dir, "emit.err"), "a")
        self.emit_err_lock = threading.Lock()
        self.daemon = None
        self.partners = {}

    # -- set-up -------------------------------------------------------

    def setup(self, tmpfs):
        scale = self.args.time_scale
        env = dict(os.environ, BIN=self.bin, SP_RECEIPT_TIMEOUT=f"{self.args.receipt_timeout_ms}ms",
                   SP_RETRY_INITIAL="50ms", SP_RETRY_MAX=f"{round(3600 * 1000 / scale)}ms",
                   SP_MAX_AGE=f"{round(72 * 3600 * 1000 / scale)}ms", SP_CHECKPOINT="10s")
        subprocess.run(["bash", "-c", '. tests/lib.sh && sp_setup "$1" "$2" >/dev/null', "sp_setup",
                        self.dir, str(self.port_base)], cwd=self.src, env=env, check=True,
                       timeout=120)
        with open(self.conf) as f:
            text = f.read()
        if "\ndatabase: seinpost.db\n" not in text:
            raise RuntimeError("tests/lib.sh config has no 'database: seinpost.db' line")
        with open(self.conf, "w") as f:
            f.write(text.replace("\ndatabase: seinpost.db\n", "\ndatabase: db/seinpost.db\n"))
        os.makedirs(self.db_dir, exist_ok=True)
        os.makedirs(self.out_dir, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "handler"), exist_ok=True)
        self.handler = os.path.join(self.dir, "handler", "handler.sh")
        with open(self.handler, "w") as f:
            f.write(HANDLER_SH)
        os.chmod(self.handler, 0o755)
        if tmpfs:
            try:
                rc = subprocess.run(["mount", "-t", "tmpfs", "-o",
                                     f"size={self.args.tmpfs_mb}m,mode=0700", "tmpfs", self.db_dir],
                                    capture_output=True, timeout=30)
                self.mounted = rc.returncode == 0
                why = rc.stderr.decode().strip()
            except OSError as e:
                why = str(e)
            if not self.mounted:
                log(f"tmpfs not mountable ({why}): disk full via RLIMIT_FSIZE only")
        with open(os.path.join(self.dir, "keys", "node.curvepub")) as f:
            self.node_curvepub = f.read().strip()
        self.daemon = Daemon(self)
        self.partners = {name: Partner(self, name) for name in PARTNERS}

    # -- processes ----------------------------------------------------

    def spawn(self, name, argv, **kw):
        proc = subprocess.Popen(argv, cwd=self.dir, **kw)
        with self.procs_lock:
            self.procs.append((name, proc))
        return proc

    def send_signal(self, proc, sig):
        if proc.poll() is None:
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                pass

    def wait_proc(self, proc, timeout):
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop_proc(self, proc, sig=signal.SIGTERM, timeout=10):
        """Signal one process by its PID; SIGKILL if it outlives timeout."""
        self.send_signal(proc, sig)
        if sig not in (signal.SIGKILL, signal.SIGCONT):
            self.send_signal(proc, signal.SIGCONT)      # a stopped process cannot act on TERM
        rc = self.wait_proc(proc, timeout)
        if rc is None:
            self.send_signal(proc, signal.SIGKILL)
            rc = self.wait_proc(proc, 10)
        return rc

    def cleanup(self, keep_db=True):
        with self.procs_lock:
            procs = list(self.procs)
        for name, proc in procs:
            if proc.poll() is None:
                self.send_signal(proc, signal.SIGCONT)
                self.send_signal(proc, signal.SIGKILL)
        for name, proc in procs:
            self.wait_proc(proc, 10)
        if self.mounted and keep_db:
            # the tmpfs goes away: keep its database for a post-mortem
            saved = os.path.join(self.dir, "db.saved")
            os.makedirs(saved, exist_ok=True)
            for name in os.listdir(self.db_dir):
                try:
                    shutil.copy(os.path.join(self.db_dir, name), saved)
                except OSError:
                    pass
        if self.mounted:
            for attempt in range(20):
                if subprocess.run(["umount", self.db_dir], capture_output=True).returncode == 0:
                    self.mounted = False
                    break
                time.sleep(0.25)
            if self.mounted:
                subprocess.run(["umount", "-l", self.db_dir], capture_output=True)
                self.mounted = False
        try:
            self.emit_err.close()
        except Exception:
            pass

    def check_time(self):
        if time.monotonic() > self.deadline:
            raise HarnessTimeout(f"the run exceeded --max-seconds {self.args.max_seconds}")

    def sleep(self, seconds):
        """Sleeps while watching that the daemon and partners that should be
        up still are; one that died by itself is a violation, restarted."""
        end = time.monotonic() + seconds
        while True:
            self.check_time()
            self.watch()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.05))

    def watch(self):
        d = self.daemon
        if d and d.expected_up and d.proc is not None and d.proc.poll() is not None:
            rc = d.proc.returncode
            d.expected_up = False
            self.report.add("daemon", f"seinpostd exited by itself (status {rc}); log tail: "
                            + " | ".join(tail(os.path.join(self.dir, "daemon.log"), 5)))
            log(f"!! seinpostd exited by itself with status {rc}; restarting it")
            d.start()
        for p in self.partners.values():
            if p.expected_up and p.proc is not None and p.proc.poll() is not None:
                rc = p.proc.returncode
                p.expected_up = False
                p.cur["end"] = f"exited {rc}"
                self.report.add("partner", f"{p.name} exited by itself (status {rc}); err tail: "
                                + " | ".join(tail(os.path.join(self.dir, p.name + ".err"), 3)))
                log(f"!! partner {p.name} exited by itself with status {rc}; restarting it")
                p.start()

    def wait_until(self, what, timeout, predicate, interval=0.1):
        end = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() > end:
                log(f"gave up waiting for {what} after {timeout:.0f} s")
                return False
            self.sleep(interval)

    def emit_log(self, text):
        with self.emit_err_lock:
            self.emit_err.write(text + "\n")
            self.emit_err.flush()

    # -- database views ------------------------------------------------

    def stored_ids(self):
        return {r[0] for r in db_query(self.db, "SELECT ce_id FROM signals")}

    def check_stored(self, label):
        """Every signal ACCEPTED so far is in the signals table."""
        accepted = self.ledger.accepted_ids()
        missing = accepted - self.stored_ids()
        for sid in sorted(missing):
            self.report.add("lost", f"{sid}: ACCEPTED, but not in the signals table {label}")
        if missing:
            log(f"!! {len(missing)} ACCEPTED signals missing from the database {label}")
        return len(accepted), len(missing)

    def pending_count(self):
        return db_query(self.db, "SELECT COUNT(*) FROM deliveries WHERE state = 0")[0][0]

    def partner_lines(self):
        return sum(p.line_count() + p.handled_count() for p in self.partners.values())

    def write_segments(self):
        with open(os.path.join(self.dir, "segments.json"), "w") as f:
            json.dump(self.segments, f, indent=1)


def tail(path, n):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            lines = f.read().decode(errors="replace").splitlines()
        return lines[-n:]
    except OSError:
        return []


class Daemon:
    """seinpostd; its stderr goes through a pipe that a pump thread copies
    to the log file, so the log survives a file-size limit on the daemon
    and the harness can count what it says."""

    def __init__(self, h, log_name="daemon.log"):
        self.h = h
        self.proc = None
        self.pump = None
        self.expected_up = False
        self.log_path = os.path.join(h.dir, log_name)
        self.starts = 0
        self.failed_tx = 0          # "transaction failed" lines, all lifetimes
        self.refused_receipts = 0   # "receipt from X refused" lines

    def spawn(self, fsize=None):
        """fsize: start under RLIMIT_FSIZE of that many bytes (a full disk)."""
        self.join_pump()
        argv = [self.h.seinpostd, "-c", self.h.conf]
        if fsize is not None:
            if shutil.which("prlimit"):
                argv = ["prlimit", f"--fsize={fsize}:unlimited"] + argv
            else:
                argv = ["bash", "-c", f"ulimit -S -f {max(1, fsize // 1024)} && exec \"$@\"",
                        "bash"] + argv
        self.proc = self.h.spawn("seinpostd", argv,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        self.pump = threading.Thread(target=self._pump, args=(self.proc.stderr,), daemon=True)
        self.pump.start()
        self.starts += 1
        return self.proc

    def _pump(self, pipe):
        with open(self.log_path, "ab") as logf:
            for line in iter(pipe.readline, b""):
                logf.write(line)
                logf.flush()
                if b"transaction failed" in line:
                    self.failed_tx += 1
                elif b"receipt from" in line and b"refused" in line:
                    self.refused_receipts += 1
        pipe.close()

    def join_pump(self, timeout=15):
        if self.pump is not None:
            self.pump.join(timeout)

    def status_ok(self):
        try:
            r = subprocess.run([self.h.seinpost, "status", "-c", self.h.conf], cwd=self.h.dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def start(self, timeout=60, fsize=None):
        self.spawn(fsize)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                break
            if self.status_ok():
                self.expected_up = True
                return True
            time.sleep(0.05)
        rc = self.proc.poll()
        self.h.report.add("daemon", f"seinpostd did not come up (status {rc}); log tail: "
                          + " | ".join(tail(self.log_path, 5)))
        log(f"!! seinpostd did not come up (status {rc})")
        if rc is None:
            self.h.stop_proc(self.proc, signal.SIGKILL)
        raise RuntimeError("seinpostd did not come up")

    def kill9(self):
        self.expected_up = False
        if self.proc is not None:
            self.h.stop_proc(self.proc, signal.SIGKILL)
            self.join_pump()

    def stop(self):
        self.expected_up = False
        if self.proc is None:
            return 0
        rc = self.h.stop_proc(self.proc, signal.SIGTERM, timeout=30)
        self.join_pump()
        return rc

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0


# The partners' handler in exec mode (`seinpost listen --exec`): one call
# per signal handed on, the event on stdin. It appends "PID ID" to STARTED
# when it starts and one JSON line {"id","source","pid"} to OUT when it
# has handled the signal, and exits 0 only then. CTL.fail (made by the
# harness, holding seconds) makes the one call that renames it away fail
# that long after it started (exit 1, nothing written, the id kept in
# CTL.failed.PID); CTL.slow holds seconds every call sleeps before it
# writes (a slow handler, for a kill -9 to land in).
HANDLER_SH = r"""#!/bin/sh
out=$1 started=$2 ctl=$3
IFS= read -r event || [ -n "$event" ] || exit 1
case $event in *'"id":"'*) ;; *) exit 1 ;; esac
id=${event#*\"id\":\"} id=${id%%\"*}
src=${event#*\"source\":\"} src=${src%%\"*}
[ -n "$id" ] || exit 1
echo "$$ $id" >> "$started"
if [ -e "$ctl.fail" ] && mv "$ctl.fail" "$ctl.failed.$$" 2>/dev/null; then
    read -r pause < "$ctl.failed.$$" || pause=0.1
    echo "$id" > "$ctl.failed.$$"
    sleep "${pause:-0.1}"
    exit 1
fi
if [ -r "$ctl.slow" ] && read -r pause < "$ctl.slow" && [ -n "$pause" ]; then
    sleep "$pause"
fi
printf '{"id":"%s","source":"%s","pid":%s}\n' "$id" "$src" "$$" >> "$out"
"""


def proc_children(pid):
    """The PIDs whose parent is pid (from /proc)."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(d))
    return kids


def pid_running(pid):
    """Alive and not a zombie (an orphan's zombie may wait for a reaper)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Partner:
    """One partner (`seinpost listen`). In stdout mode its handler output
    is its stdout: one JSON line per signal handed on, through a pipe that
    a pump thread copies to the file of this lifetime, so the harness can
    also stall the partner's output (block_output), as a stuck downstream
    would: the partner then hangs in its write and sends no receipt. In
    exec mode (`--exec`, HANDLER_SH) the handler writes its own file per
    lifetime (out/NAME.NNN.handled), can be made to fail once or be slow;
    a kill -9 then leaves the running handler to finish as an orphan (as
    it would in production) and records the one id whose hand-over it may
    have interrupted: the only duplicate the checker allows."""

    def __init__(self, h, name):
        self.h = h
        self.name = name
        self.proc = None
        self.pump = None
        self.seg = 0
        self.cur = None
        self.mode = "stdout"
        self.ctl = os.path.join(h.dir, "handler", name)
        self.expected_up = False
        self.paused = False
        self.block_output = False
        self.lines = 0
        self.lines_lock = threading.Lock()
        self.kills = 0
        self.terms = 0
        self.stops = 0
        self.blocked_kills = 0
        self.orphans_waited = 0
        self.orphans_killed = 0

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"harness: {self.name} started while running (pid {self.proc.pid})")
        self.seg += 1
        fname = f"{self.name}.{self.seg:03d}.out"
        self.cur = {"file": fname, "partner": self.name, "end": "running", "mode": self.mode}
        argv = [self.h.seinpost, "listen", "-c", os.path.join(self.h.dir, self.name + ".yaml")]
        if self.mode == "exec":
            base = f"{self.name}.{self.seg:03d}"
            self.cur.update(handled=base + ".handled", started=base + ".started", interrupted=[])
            argv += ["--exec", " ".join(shlex.quote(x) for x in (
                self.h.handler, os.path.join(self.h.out_dir, base + ".handled"),
                os.path.join(self.h.out_dir, base + ".started"), self.ctl))]
        self.h.segments.append(self.cur)
        out = open(os.path.join(self.h.out_dir, fname), "wb")
        with open(os.path.join(self.h.dir, self.name + ".err"), "ab") as err:
            self.proc = self.h.spawn(self.name, argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=err)
        self.cur.update(pid=self.proc.pid, at=round(time.monotonic() - T0, 2))
        self.block_output = False
        try:        # a small pipe, so that a stalled output stalls the partner soon
            fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
        except (AttributeError, OSError):
            pass
        self.pump = threading.Thread(target=self._pump, args=(self.proc.stdout, out), daemon=True)
        self.pump.start()
        self.expected_up = True
        self.paused = False

    def _pump(self, pipe, out):
        fd = pipe.fileno()
        try:
            while True:
                while self.block_output:
                    time.sleep(0.01)
                data = os.read(fd, 65536)
                if not data:
                    break
                out.write(data)
                out.flush()
                with self.lines_lock:
                    self.lines += data.count(b"\n")
        finally:
            out.close()
            pipe.close()

    def stop(self, sig=signal.SIGTERM):
        was_up, self.expected_up = self.expected_up, False
        if self.proc is None or self.proc.poll() is not None:
            if self.cur is not None and self.cur["end"] == "running":
                rc = self.proc.returncode
                self.cur["end"] = f"exited {rc}"
                if was_up:
                    self.h.report.add("partner", f"{self.name} exited by itself (status {rc})")
            self._join_pump()
            return
        if sig == signal.SIGKILL and self.mode == "exec":
            self._kill_exec()
            return
        rc = self.h.stop_proc(self.proc, sig)
        self.paused = False
        self._join_pump()
        if sig == signal.SIGKILL:
            self.cur["end"] = "killed"
            self.kills += 1
        else:
            self.cur["end"] = f"exited {rc}"
            self.terms += 1
            if rc not in (0, -signal.SIGTERM):     # -15: TERM came before its handler
                self.h.report.add("partner", f"{self.name} exited with status {rc} on SIGTERM")

    def _kill_exec(self):
        """kill -9 of an exec-mode partner. It is frozen first (SIGSTOP),
        so that it starts no handler between the look at its children and
        the kill; the handler it was running, if any, is left to finish
        (at most 15 s, then killed). The partner records a signal as
        handled only after its handler returned and starts the next one
        only after that, so the one id that may have been handled but not
        recorded is the last one a handler started: it is handed over
        again after the restart, unavoidably (allowed once per kill)."""
        self.h.send_signal(self.proc, signal.SIGSTOP)
        children = proc_children(self.proc.pid)
        self.h.stop_proc(self.proc, signal.SIGKILL)
        self.paused = False
        end = time.monotonic() + 15
        for child in children:
            self.orphans_waited += 1
            while pid_running(child) and time.monotonic() < end:
                time.sleep(0.02)
            if pid_running(child):
                log(f"!! {self.name}: handler {child} still running 15 s after the kill: killed")
                self.orphans_killed += 1
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._join_pump()
        try:
            with open(os.path.join(self.h.out_dir, self.cur["started"]), "rb") as f:
                last = f.read().split(b"\n")[:-1][-1:]
            if last:
                self.cur["interrupted"].append(last[0].decode().split()[-1])
        except (OSError, IndexError, UnicodeDecodeError):
            pass
        self.cur["end"] = "killed"
        self.kills += 1

    def fail_once(self, after=0.1):
        """The next call of the handler fails, `after` seconds into it
        (exec mode)."""
        with open(self.ctl + ".fail.tmp", "w") as f:
            f.write(f"{after}\n")
        os.rename(self.ctl + ".fail.tmp", self.ctl + ".fail")

    def fail_pending(self):
        return os.path.exists(self.ctl + ".fail")

    def set_slow(self, seconds):
        """Every call of the handler takes that long; None: as fast as it can."""
        if seconds:
            with open(self.ctl + ".slow.tmp", "w") as f:
                f.write(f"{seconds}\n")
            os.rename(self.ctl + ".slow.tmp", self.ctl + ".slow")
        elif os.path.exists(self.ctl + ".slow"):
            os.unlink(self.ctl + ".slow")

    def handled_count(self):
        """Lines the handlers of every exec lifetime wrote."""
        n = 0
        for seg in self.h.segments:
            if seg["partner"] == self.name and seg.get("mode") == "exec":
                try:
                    with open(os.path.join(self.h.out_dir, seg["handled"]), "rb") as f:
                        n += f.read().count(b"\n")
                except OSError:
                    pass
        return n

    def _join_pump(self):
        self.block_output = False
        if self.pump is not None:
            self.pump.join(15)

    def pause(self):
        self.h.send_signal(self.proc, signal.SIGSTOP)
        self.paused = True
        self.stops += 1

    def resume(self):
        self.h.send_signal(self.proc, signal.SIGCONT)
        self.paused = False

    def line_count(self):
        with self.lines_lock:
            return self.lines


# ---------------------------------------------------------------- emitters


class Session:
    """One `seinpost emit --stream` process; line N of its input is the
    signal whose answer carries correlation line-N."""
    serial = 0

    def __init__(self, h, window, timeout_ms, on_retry=None, tag="emit"):
        Session.serial += 1
        self.h = h
        self.name = f"{tag}{Session.serial}"
        self.on_retry = on_retry
        self.lines = []
        self.answered = set()
        self.lock = threading.Lock()
        self.input_closed = False
        self.broken = False
        self.proc = h.spawn(self.name, [h.seinpost, "emit", "-c", h.client_conf, "--stream",
                                        "--window", str(window), "--timeout", str(timeout_ms)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0)
        self.readers = [threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True),
                        threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True)]
        for t in self.readers:
            t.start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            m = ANSWER.match(line)
            if m:
                self._answer(m.group(1), int(m.group(2)), m.group(3), m.group(4))
            else:
                self.h.emit_log(f"{self.name}: {line}")
                if SANITIZER.search(line):
                    self.h.report.add("sanitizer", f"{self.name}: {line}")

    def _answer(self, verdict, n, code, reason):
        with self.lock:
            if n < 1 or n > len(self.lines):
                self.h.report.add("emitter", f"{self.name}: answer for line {n}, which was never sent")
                return
            if n in self.answered:
                self.h.report.add("emitter", f"{self.name}: two answers for line {n}")
                return
            self.answered.add(n)
            sid = self.lines[n - 1]
        self.h.ledger.answer(sid, verdict == "ACCEPTED", code, reason)
        if verdict == "REJECTED":
            self.h.emit_log(f"{self.name}: REJECTED {sid} {code}: {reason}")
            if self.on_retry and code in RETRYABLE:
                self.on_retry(sid)

    def send(self, sid):
        if self.input_closed or self.broken:
            return False
        data = (self.h.ledger.line[sid] + "\n").encode()
        with self.lock:
            self.lines.append(sid)
        self.h.ledger.sent(sid)
        try:
            self.proc.stdin.write(data)
            return True
        except (BrokenPipeError, OSError, ValueError):
            self.broken = True
            return False

    def outstanding(self):
        with self.lock:
            return len(self.lines) - len(self.answered)

    def close_input(self):
        self.input_closed = True
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def done(self):
        return self.proc.poll() is not None and not any(t.is_alive() for t in self.readers)

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while not self.done():
            if time.monotonic() > end:
                self.h.stop_proc(self.proc, signal.SIGKILL)
                for t in self.readers:
                    t.join(5)
                return False
            time.sleep(0.02)
        return True

    def unanswered(self):
        with self.lock:
            return [sid for i, sid in enumerate(self.lines) if (i + 1) not in self.answered]

    def kill(self):
        self.h.stop_proc(self.proc, signal.SIGKILL)


class SteadyEmitter:
    """A steady stream of numbered signals at `rate` per second through a
    chain of emit sessions; what a session leaves unanswered (it timed
    out: daemon killed) or gets REJECTED with a retryable code is resent
    in the next one, as a real emitter would."""

    def __init__(self, h, prefix, rate, window, timeout_ms):
        self.h = h
        self.prefix = prefix
        self.rate = rate
        # the traffic pattern: steady (rate), burst (50-200 at once, then a
        # pause) or trickle (one every 50-100 ms); set_pattern() switches
        self.pattern = "steady"
        self.prng = random.Random(h.args.seed ^ 0x5eed)
        self.queued = collections.deque()   # a burst's new ids, not yet sent
        self.next_burst_at = 0.0
        self.bursts = 0
        self.burst_signals = 0
        self.trickle_signals = 0
        self.burst_started_at = 0.0
        self.burst_size = BURST_SIZE
        self.burst_pause = (0.3, 0.8) if h.args.short else BURST_PAUSE
        self.window = window
        self.timeout_ms = timeout_ms
        self.resend = []
        self.rlock = threading.Lock()
        self.n = 0
        self.ids = []
        self.generating = False
        self.hold = False
        self.stop_flag = False
        self.session = None
        self.retiring = []          # sessions told to finish: input closed
        self.rotate_wanted = False
        self.next_session_at = 0.0
        self.next_new_at = time.monotonic()
        self.sessions = 0
        self.resent = 0
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.generating = True
        self.next_new_at = time.monotonic()
        self.thread.start()

    def set_generating(self, on):
        if on and not self.generating:
            self.next_new_at = time.monotonic()
        self.generating = on

    def set_pattern(self, pattern):
        """steady, burst or trickle, from now on."""
        now = time.monotonic()
        self.next_new_at = now
        self.next_burst_at = now
        self.pattern = pattern

    def wait_burst(self, timeout):
        """Until the next burst starts (burst pattern); False on timeout."""
        seen = self.bursts
        return self.h.wait_until("a burst", timeout, lambda: self.bursts > seen, interval=0.01)

    def _new_id(self):
        self.n += 1
        sid = f"{self.prefix}{self.n}"
        self.h.ledger.new(sid, KIND_CYCLE[self.n % 4])
        self.ids.append(sid)
        return sid

    def retry(self, sid, delay=0.25):
        with self.rlock:
            self.resend.append((time.monotonic() + delay, sid))
            self.resent += 1

    def _ready_resend(self, now, take):
        with self.rlock:
            for i, (t, sid) in enumerate(self.resend):
                if t <= now:
                    if take:
                        del self.resend[i]
                    return sid
        return None

    def _pick(self, now, take):
        if self.hold:
            return None
        sid = self._ready_resend(now, take)
        if sid is not None:
            return sid
        if self.queued:
            if not take:
                return True
            sid = self.queued.popleft()
            if not self.queued:         # the pause starts when the burst is out
                self.next_burst_at = now + self.prng.uniform(*self.burst_pause)
            return sid
        if not self.generating:
            return None
        if self.pattern == "burst":
            if now < self.next_burst_at:
                return None
            if not take:
                return True
            n = self.prng.randint(*self.burst_size)
            self.queued.extend(self._new_id() for _ in range(n))
            self.bursts += 1
            self.burst_signals += n
            self.burst_started_at = now
            self.next_burst_at = float("inf")
            return self._pick(now, take)
        if now >= self.next_new_at:
            if not take:
                return True
            sid = self._new_id()
            if self.pattern == "trickle":
                self.trickle_signals += 1
                self.next_new_at = now + self.prng.uniform(*TRICKLE_GAP)
            else:
                self.next_new_at = max(self.next_new_at + 1.0 / self.rate, now - 0.5)
            return sid
        return None

    def _finish(self, s):
        for sid in s.unanswered():
            if not self.h.ledger.accepted(sid):
                self.retry(sid, 0.0)

    def _run(self):
        try:
            self._loop()
        except Exception as e:          # surfaces in the main thread
            self.error = e

    def rotate(self):
        """After a daemon restart: the current session finishes in the
        background (what the dead daemon never answered times out there and
        is resent); a new session carries the stream on at once."""
        self.rotate_wanted = True

    def _loop(self):
        while not self.stop_flag:
            now = time.monotonic()
            for r in [r for r in self.retiring if r.done()]:
                self._finish(r)
                self.retiring.remove(r)
            if self.rotate_wanted:
                self.rotate_wanted = False
                if self.session is not None:
                    self.session.close_input()
                    self.retiring.append(self.session)
                    self.session = None
                    self.next_session_at = 0.0
            s = self.session
            if s is not None and s.done():
                self._finish(s)
                self.session = s = None
                continue
            if not self._pick(now, take=False):
                if s is not None and not s.input_closed and (self.hold or not self.generating):
                    s.close_input()     # EOF: it collects every answer and exits
                time.sleep(0.005)
                continue
            if s is None:
                if now < self.next_session_at:
                    time.sleep(0.01)
                    continue
                self.session = s = Session(self.h, self.window, self.timeout_ms, self.retry)
                self.sessions += 1
                self.next_session_at = now + 0.2
            if s.input_closed or s.broken or s.outstanding() >= self.window + 16:
                time.sleep(0.002)
                continue
            sid = self._pick(now, take=True)
            if sid is not None and sid is not True:
                s.send(sid)

    def all_accepted(self):
        accepted = self.h.ledger.accepted_ids()
        return all(sid in accepted for sid in self.ids)

    def drain(self, timeout):
        """Stops making new signals; True once every one is ACCEPTED."""
        self.set_generating(False)
        ok = self.h.wait_until("every signal ACCEPTED", timeout,
                               lambda: self.all_accepted() and not self.retiring
                               and (self.session is None or self.session.done()))
        if self.error:
            raise self.error
        return ok

    def stop(self):
        self.generating = False
        self.stop_flag = True
        self.thread.join(10)
        for s in self.retiring + [self.session]:
            if s is not None and not s.done():
                s.close_input()
                s.wait(15)


# ---------------------------------------------------------------- checker


def check(run_dir, db_path, verbose=True):
    """The checker: reads ledger.json, segments.json, out/*.out and the
    database; returns a Report."""
    rep = Report()
    with open(os.path.join(run_dir, "ledger.json")) as f:
        ledger = json.load(f)
    with open(os.path.join(run_dir, "segments.json")) as f:
        segments = json.load(f)
    ids = ledger["ids"]
    for category, message in ledger.get("problems", []):
        rep.add(category, message)
    accepted = {sid for sid, v in ids.items() if v["ok"] + v["duplicate"] > 0}
    for sid, v in sorted(ids.items()):
        if v["ok"] > 1:
            rep.add("lost", f"{sid}: ACCEPTED OK {v['ok']} times: the daemon had lost the copy "
                    "it accepted before")
        if sid not in accepted:
            rep.add("unaccepted", f"{sid}: never ACCEPTED ({v['sends']} sends, "
                    f"{v['rejected']} REJECTED)")

    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        signal_rows = con.execute("SELECT id, source, ce_id FROM signals").fetchall()
        delivery_rows = con.execute(
            "SELECT d.id, d.subscriber, d.subscription, d.seq, d.state, d.receipt_id, s.ce_id"
            " FROM deliveries d JOIN signals s ON s.id = d.signal_id").fetchall()
        receipt_rows = con.execute(
            "SELECT id, subscriber, length(signature), body FROM receipts").fetchall()
    finally:
        con.close()

    stored = {}
    per_id = collections.Counter()
    for rowid, source, ce_id in signal_rows:
        per_id[ce_id] += 1
        stored[ce_id] = rowid
        if source != SOURCE:
            rep.add("phantom", f"{ce_id}: stored with source {source}")
    for ce_id, n in sorted(per_id.items()):
        if n > 1:
            rep.add("duplicate_stored", f"{ce_id}: {n} rows in the signals table")
        if ce_id not in ids:
            rep.add("phantom", f"{ce_id}: in the signals table, but never sent")
    for sid in sorted(accepted):
        if sid not in stored:
            rep.add("lost", f"{sid}: ACCEPTED, but not in the signals table")

    routed = collections.defaultdict(set)
    db_seq = collections.defaultdict(dict)          # (subscriber, subscription) -> id -> seq
    db_state = collections.defaultdict(dict)        # ... -> id -> (state, receipt_id)
    receipts = {r[0]: r for r in receipt_rows}
    states = collections.Counter()
    for did, subscriber, subscription, seq, state, receipt_id, ce_id in delivery_rows:
        key = (subscriber, subscription)
        routed[ce_id].add(key)
        if ce_id in db_seq[key]:
            rep.add("duplicate_stored", f"{ce_id}: two deliveries to {subscriber}/{subscription}")
        db_seq[key][ce_id] = seq
        db_state[key][ce_id] = (state, receipt_id)
        states[state] += 1
        where = f"{ce_id}: delivery {did} to {subscriber}/{subscription} seq {seq}"
        if state == 2:
            rep.add("dead_lettered", f"{where} was dead-lettered")
            continue
        if state != 1:
            rep.add("missing_receipt", f"{where} is still pending (state {state}), no receipt")
            continue
        r = receipts.get(receipt_id)
        if receipt_id is None or r is None:
            rep.add("missing_receipt", f"{where} is done, but receipt {receipt_id} is not stored")
            continue
        if r[1] != subscriber:
            rep.add("missing_receipt", f"{where}: receipt {receipt_id} is from {r[1]}")
        elif r[2] != 64:
            rep.add("missing_receipt", f"{where}: receipt {receipt_id} has a {r[2]}-byte signature")
        elif not _receipt_covers(r[3], subscription, seq):
            rep.add("missing_receipt", f"{where}: receipt {receipt_id} does not acknowledge it")
    for ce_id, rowid in stored.items():
        if ce_id in ids:
            want = ROUTES[ids[ce_id]["kind"]]
            if routed.get(ce_id, set()) != want:
                rep.add("misrouted", f"{ce_id}: routed to {sorted(routed.get(ce_id, set()))}, "
                        f"its filters match {sorted(want)}")
    for key, seqs in sorted(db_seq.items()):
        got = sorted(seqs.values())
        if got != list(range(1, len(got) + 1)):
            missing = sorted(set(range(1, (got[-1] if got else 0) + 1)) - set(got))[:10]
            rep.add("out_of_order", f"{key[0]}/{key[1]}: stored seqs are not 1..{len(got)} "
                    f"(missing {missing})")

    # -- the handler level: what the partners' handlers wrote ------------
    # Every lifetime of a partner is a segment: in stdout mode its stdout
    # (JSON lines with subscription, seq, source, id), in exec mode the
    # file its --exec handler wrote (id, source; the subscription is the
    # one of this partner whose filter the signal's kind matches, the seq
    # the stored one). Per (partner, subscription), over every lifetime:
    # every ACCEPTED id routed there handled (else lost), nothing handled
    # that was not ACCEPTED and routed there (phantom), each id handled once
    # (a second time only for the id whose hand-over a kill -9 of the
    # partner interrupted: allowed, counted apart), and first hand-overs in
    # seq order, consecutive within one lifetime (out_of_order).
    before = {c: rep.count(c) for c in ("lost", "phantom", "duplicate", "out_of_order")}
    totals = collections.Counter()
    handled_lines = collections.Counter()          # (partner, sub, id) -> lines
    for partner in PARTNERS:
        seq_of = {sub: {} for sub in SUBSCRIPTIONS[partner]}
        id_of = {sub: {} for sub in SUBSCRIPTIONS[partner]}
        top = {sub: 0 for sub in SUBSCRIPTIONS[partner]}    # highest seq handled so far
        lines = collections.Counter()
        allowed = collections.Counter()            # id -> kills that interrupted it
        for seg in [s for s in segments if s["partner"] == partner]:
            exec_mode = seg.get("mode") == "exec"
            fname = seg["handled"] if exec_mode else seg["file"]
            path = os.path.join(run_dir, "out", fname)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                if exec_mode:
                    data = b""          # its handler never ran: nothing handled
                else:
                    rep.add("partner", f"{fname}: missing")
                    continue
            if exec_mode:
                try:
                    if os.path.getsize(os.path.join(run_dir, "out", seg["file"])):
                        rep.add("partner", f"{seg['file']}: an exec-mode partner wrote to stdout")
                except OSError:
                    pass
            pieces = data.split(b"\n")
            if pieces[-1]:
                if seg.get("end") == "killed":
                    totals["cut_lines"] += 1        # kill -9 in the middle of a write
                else:
                    rep.add("partner", f"{fname}: last line cut off, yet the partner "
                            f"was not killed ({seg.get('end')})")
            entries = []
            for lineno, raw in enumerate(pieces[:-1], 1):
                where = f"{fname}:{lineno}"
                try:
                    o = json.loads(raw)
                    sid = o["id"]
                    if exec_mode:
                        kind = ids.get(sid, {}).get("kind")
                        subs = [sub for sub in SUBSCRIPTIONS[partner]
                                if kind and (partner, sub) in ROUTES[kind]]
                        if not subs:
                            why = "never sent" if kind is None else "its filters do not match"
                            rep.add("phantom", f"{sid}: handled by {partner}'s handler ({where}); "
                                    f"{why}")
                            continue
                        sub = subs[0]
                        seq = db_seq[(partner, sub)].get(sid)
                    else:
                        sub, seq = o["subscription"], o["seq"]
                except (ValueError, KeyError, TypeError):
                    rep.add("partner", f"{where}: not a handler line")
                    continue
                entries.append((sub, seq, sid, o.get("source"), where))
            if seg.get("end") == "killed":
                if exec_mode:
                    for sid in seg.get("interrupted", []):
                        allowed[sid] += 1
                elif entries and not pieces[-1]:
                    # the last line written may not have been recorded yet
                    allowed[entries[-1][2]] += 1
            prev = {}
            for sub, seq, sid, source, where in entries:
                if sub not in seq_of:
                    rep.add("phantom", f"{sid}: delivered to {partner} on subscription {sub}, "
                            "which it does not have")
                    continue
                lines[sub] += 1
                handled_lines[(partner, sub, sid)] += 1
                if sid not in ids or sid not in accepted:
                    rep.add("phantom", f"{sid}: handled by {partner}/{sub}"
                            f"{'' if seq is None else ' as seq %d' % seq} ({where}), but never "
                            "ACCEPTED")
                elif (partner, sub) not in ROUTES[ids[sid]["kind"]]:
                    rep.add("phantom", f"{sid}: handled by {partner}/{sub} ({where}); "
                            "its filters do not match")
                elif sid not in stored:
                    rep.add("phantom", f"{sid}: handled by {partner}/{sub} ({where}), "
                            "but not in the signals table")
                if source != SOURCE:
                    rep.add("phantom", f"{sid}: handled with source {source} ({where})")
                if seq is None:
                    continue
                old = seq_of[sub].get(sid)
                if old is not None and old != seq:
                    rep.add("out_of_order", f"{sid}: delivered to {partner}/{sub} as seq {old} "
                            f"and as seq {seq} ({where})")
                other = id_of[sub].get(seq)
                if other is not None and other != sid:
                    rep.add("out_of_order", f"{sid}: {partner}/{sub} seq {seq} was already "
                            f"{other} ({where})")
                if old is None and seq < top[sub]:
                    rep.add("out_of_order", f"{sid}: {partner}/{sub} seq {seq} handled for the "
                            f"first time after seq {top[sub]} ({where})")
                seq_of[sub].setdefault(sid, seq)
                id_of[sub].setdefault(seq, sid)
                top[sub] = max(top[sub], seq)
                want = db_seq[(partner, sub)].get(sid)
                if want is not None and want != seq:
                    rep.add("out_of_order", f"{sid}: delivered to {partner}/{sub} as seq {seq}, "
                            f"stored as seq {want} ({where})")
                p = prev.get(sub)
                if p is not None and seq != p + 1:
                    rep.add("out_of_order", f"{sid}: {partner}/{sub} seq {seq} follows seq {p} "
                            f"within one partner lifetime ({where})")
                prev[sub] = seq
        for sub in SUBSCRIPTIONS[partner]:
            expected = {sid for sid in accepted if (partner, sub) in ROUTES[ids[sid]["kind"]]}
            handled = {sid for (pa, su, sid) in handled_lines if pa == partner and su == sub}
            for sid in sorted(expected - handled):
                state = db_state[(partner, sub)].get(sid)
                why = ("; the router marked it delivered (receipt %s)" % state[1]
                       if state and state[0] == 1 else "")
                rep.add("lost", f"{sid}: ACCEPTED, matches {partner}/{sub}, no handler of "
                        f"{partner} had it{why}")
            dup_allowed = dup_bad = 0
            for sid in sorted(handled):
                extra = handled_lines[(partner, sub, sid)] - 1
                if extra <= 0:
                    continue
                ok = min(extra, allowed[sid])
                dup_allowed += ok
                if extra > ok:
                    dup_bad += extra - ok
                    rep.add("duplicate", f"{sid}: handled {extra + 1} times by {partner}/{sub}; "
                            f"a kill -9 interrupted its hand-over {allowed[sid]} times")
            key = f"{partner}/{sub}"
            rep.figures[key] = {"expected": len(expected), "handled": len(handled & expected),
                                "lines": lines[sub], "duplicates_at_kill9": dup_allowed,
                                "duplicates_unexpected": dup_bad,
                                "max_seq": max(id_of[sub]) if id_of[sub] else 0}
            totals["expected"] += len(expected)
            totals["handled"] += len(handled & expected)
            totals["lines"] += lines[sub]
            totals["duplicates_at_kill9"] += dup_allowed
            totals["duplicates_unexpected"] += dup_bad
    delivered_unhandled = sum(1 for m in rep.violations["lost"] if "marked it delivered" in m)
    rep.figures["checker"] = {
        "signals": len(ids), "accepted": len(accepted),
        "handler_level": {
            "expected": totals["expected"], "handled": totals["handled"],
            "lines": totals["lines"], "cut_lines": totals["cut_lines"],
            "lost": rep.count("lost") - before["lost"],
            "lost_yet_marked_delivered": delivered_unhandled,
            "phantom": rep.count("phantom") - before["phantom"],
            "duplicates_at_kill9": totals["duplicates_at_kill9"],
            "duplicates_unexpected": totals["duplicates_unexpected"],
            "out_of_order": rep.count("out_of_order") - before["out_of_order"]},
        "router_tables": {
            "stored": len(stored), "delivery_rows": len(delivery_rows), "done": states[1],
            "pending": states[0], "dead": states[2], "receipts": len(receipt_rows),
            "missing_receipts": rep.count("missing_receipt")},
        "other_violations": sum(rep.count(c) for c in OTHER_CATEGORIES)}
    if verbose:
        c = rep.figures["checker"]
        hl, rt = c["handler_level"], c["router_tables"]
        print(f"checker: {c['signals']} signals sent, {c['accepted']} ACCEPTED", flush=True)
        print(f"checker: handler level: {hl['expected']} hand-overs expected, {hl['handled']} "
              f"handled, {hl['lines']} handler lines: lost {hl['lost']} (of them marked "
              f"delivered at the router {hl['lost_yet_marked_delivered']}), phantom "
              f"{hl['phantom']}, duplicates {hl['duplicates_unexpected']} (and "
              f"{hl['duplicates_at_kill9']} allowed: hand-over interrupted by a kill -9), "
              f"out of order {hl['out_of_order']}", flush=True)
        for partner in PARTNERS:
            for sub in SUBSCRIPTIONS[partner]:
                x = rep.figures[f"{partner}/{sub}"]
                print(f"checker:   {partner}/{sub}: expected {x['expected']}, handled "
                      f"{x['handled']} (seq 1..{x['max_seq']}), {x['lines']} lines, "
                      f"{x['duplicates_at_kill9']} duplicates at a kill -9, "
                      f"{x['duplicates_unexpected']} other duplicates", flush=True)
        print(f"checker: router tables (secondary): {rt['stored']} stored; {rt['delivery_rows']} "
              f"deliveries ({rt['done']} done, {rt['pending']} pending, {rt['dead']} dead), "
              f"{rt['receipts']} receipts, {rt['missing_receipts']} missing or not covering",
              flush=True)
    return rep


def _receipt_covers(body, subscription, seq):
    """SEINPOST2: the receipt lists (subscription, seq) in handled;
    SEINPOST1 (an --old-build run): an ack's through_seq covers seq."""
    try:
        doc = json.loads(body)
        if doc.get("v") == 2:
            return any(e.get("subscription") == subscription and e.get("seq") == seq
                       for e in doc.get("handled", []))
        return any(a.get("subscription") == subscription and a.get("through_seq", 0) >= seq
                   for a in doc.get("acks", []))
    except (ValueError, TypeError, AttributeError):
        return False


# ---------------------------------------------------------------- phases


def phase_crashes(h, em, cycles):
    log(f"== daemon crashes: {cycles} cycles of kill -9 under load")
    t = time.monotonic()
    kills = early = 0
    down = 0.0
    for i in range(1, cycles + 1):
        h.check_time()
        # mostly somewhere in a busy second; sometimes right after start-up
        wait = h.rng.uniform(0.0, 0.15) if i % 7 == 3 else h.rng.uniform(*h.args.crash_interval)
        h.sleep(wait)
        h.daemon.kill9()
        kills += 1
        t_down = time.monotonic()
        h.sleep(h.rng.uniform(0.0, 0.3))
        if i % 10 == 5:
            # a kill while it starts: recovery itself interrupted
            h.daemon.spawn()
            time.sleep(h.rng.uniform(0.02, 0.25))
            h.daemon.kill9()
            early += 1
        h.daemon.start()
        em.rotate()
        down += time.monotonic() - t_down
        n, missing = h.check_stored(f"(after crash {i})")
        if i % max(1, cycles // 10) == 0 or i == cycles:
            log(f"   crash {i}/{cycles}: {n} ACCEPTED so far, "
                f"{'all stored' if not missing else '%d NOT STORED' % missing}; "
                f"{h.partner_lines()} partner lines")
    h.report.figures["daemon_crashes"] = {
        "cycles": cycles, "kill9": kills + early, "kills_during_startup": early,
        "seconds": round(time.monotonic() - t, 1), "daemon_down_seconds": round(down, 1)}


def phase_partner_faults(h, em, cycles):
    log(f"== partner faults: {cycles} kill/restart cycles (some with the output stalled), "
        "SIGSTOP past the receipt timeout")
    t = time.monotonic()
    stop_for = 2 * h.args.receipt_timeout_ms / 1000.0
    for i in range(1, cycles + 1):
        h.check_time()
        p = h.partners[PARTNERS[i % 2]]
        q = h.partners[PARTNERS[(i + 1) % 2]]
        h.sleep(h.rng.uniform(0.2, 1.0))
        if i % 3 == 0:
            # its output stalls first: written lines wait in the pipe, unreceipted
            p.block_output = True
            h.sleep(stop_for * 0.75 + h.rng.uniform(0.0, 0.5))
            p.blocked_kills += 1
        p.stop(signal.SIGKILL)
        h.sleep(h.rng.uniform(0.0, 1.0))
        p.start()
        if i % 5 == 0:
            # and a clean stop and start of the other one
            h.sleep(h.rng.uniform(0.1, 0.5))
            q.stop(signal.SIGTERM)
            h.sleep(h.rng.uniform(0.0, 0.5))
            q.start()
        if i % 4 == 0:
            q.pause()
            h.sleep(stop_for + h.rng.uniform(0.0, 0.5))
            q.resume()
    h.report.figures["partner_faults"] = {
        "cycles": cycles,
        "kill9": sum(p.kills for p in h.partners.values()),
        "sigterm": sum(p.terms for p in h.partners.values()),
        "sigstop": sum(p.stops for p in h.partners.values()),
        "kill9_with_output_stalled": sum(p.blocked_kills for p in h.partners.values()),
        "seconds": round(time.monotonic() - t, 1)}


HANDLER_FAULTS = ["kill9", "fail_once", "sigstop", "kill9_in_handler"]


def set_partner_mode(h, mode):
    """Restarts the partners that are not in `mode` (clean TERM first)."""
    for p in h.partners.values():
        if p.mode != mode or not p.expected_up:
            if p.paused:
                p.resume()
            p.stop(signal.SIGTERM)
            p.mode = mode
            p.start()


def quiesce(h, em, what, timeout=30):
    """No new signals until every one so far is ACCEPTED and receipted
    (bounded); the caller turns generating back on. A partner handles
    whatever has arrived before it acts on a TERM, so a switch of mode is
    quick only when nothing is in flight. Returns the seconds it took."""
    t = time.monotonic()
    em.set_generating(False)
    h.wait_until(what, timeout, lambda: em.all_accepted() and h.pending_count() == 0,
                 interval=0.05)
    return time.monotonic() - t


def switch_partners(h, em, mode):
    t = time.monotonic()
    quiesce(h, em, f"nothing in flight before the partners switch to {mode}")
    set_partner_mode(h, mode)
    em.set_generating(True)
    return time.monotonic() - t


def kill_in_handler(h, p):
    """kill -9 of partner p while its (slowed) handler runs; the orphan
    finishes, its id is the one duplicate allowed. Restarts p."""
    p.set_slow(0.3)
    started = os.path.join(h.out_dir, p.cur["started"])
    size = lambda: os.path.getsize(started) if os.path.exists(started) else 0
    n0 = size()
    h.wait_until(f"a handler of {p.name} to start", 5, lambda: size() > n0, interval=0.02)
    h.sleep(h.rng.uniform(0.05, 0.2))
    p.stop(signal.SIGKILL)
    p.set_slow(None)
    h.sleep(h.rng.uniform(0.0, 0.3))
    p.start()


def phase_handler_faults(h, em, cycles, max_seconds):
    """Partner faults while the daemon stays up, counted at the handlers:
    the partners run `seinpost listen --exec HANDLER_SH`; half the cycles
    under bursty traffic (50-200 signals at once, then a pause), half under
    a trickle (one signal every 50-100 ms). Per cycle, on one partner in
    turn: kill -9 and restart; the handler fails once; SIGSTOP past the
    receipt timeout and SIGCONT; a slow handler and a kill -9 while it
    runs (the orphan finishes: its id is the allowed duplicate). Bounded:
    `cycles` faults and at most max_seconds."""
    log(f"== handler faults (daemon up): {cycles} partner faults at the --exec handlers, "
        f"bursty then trickle traffic, at most {max_seconds:.0f} s")
    t = time.monotonic()
    end = t + max_seconds
    switch = switch_partners(h, em, "exec")
    stop_for = 1.5 * h.args.receipt_timeout_ms / 1000.0
    done = collections.Counter()
    failed_ids = []
    n_burst = (cycles + 1) // 2
    bursts0, burst_signals0 = em.bursts, em.burst_signals
    trickle0 = em.trickle_signals
    t_trickle = None
    for i in range(cycles):
        h.check_time()
        if time.monotonic() > end:
            log(f"   the phase's {max_seconds:.0f} s are up after {i} faults")
            break
        pattern = "burst" if i < n_burst else "trickle"
        if em.pattern != pattern:
            if pattern == "trickle":
                # the bursts' backlog handled first: a trickle at the handlers
                quiesce(h, em, "the bursts' backlog receipted")
                em.set_generating(True)
                t_trickle = time.monotonic()
            em.set_pattern(pattern)
        fault = HANDLER_FAULTS[i % len(HANDLER_FAULTS)]
        p = h.partners[PARTNERS[(i // len(HANDLER_FAULTS) + i) % 2]]
        if pattern == "burst":
            em.wait_burst(5)                # strike while batches are in flight
            h.sleep(h.rng.uniform(0.0, 0.15))
        else:
            h.sleep(h.rng.uniform(0.3, 0.8))
        if fault == "kill9":
            p.stop(signal.SIGKILL)
            h.sleep(h.rng.uniform(0.0, 0.4))
            p.start()
        elif fault == "fail_once":
            # while a burst streams in, batches queue behind the failing
            # one at once; in a trickle, the failure waits for the next
            p.fail_once(0.3 if pattern == "burst" else 0.6)
            h.wait_until(f"{p.name}'s handler to fail once", 5, lambda: not p.fail_pending(),
                         interval=0.02)
            if p.fail_pending():            # nothing came: take the marker back
                os.unlink(p.ctl + ".fail")
            else:
                done["handler_failed"] += 1
            h.sleep(h.rng.uniform(0.2, 0.6))
        elif fault == "sigstop":
            p.pause()
            h.sleep(stop_for + h.rng.uniform(0.0, 0.3))
            p.resume()
        elif fault == "kill9_in_handler":
            kill_in_handler(h, p)
        done[fault] += 1
    # the end of the phase: every signal so far handled, no fault left;
    # generating stays off (the caller switches the partners back first)
    em.set_pattern("steady")
    drain = quiesce(h, em, "every signal of the phase receipted", 60)
    for name in os.listdir(os.path.join(h.dir, "handler")):
        m = re.match(r"(\w+)\.failed\.\d+$", name)
        if m:
            with open(os.path.join(h.dir, "handler", name)) as f:
                failed_ids.append(f"{m.group(1)}:{f.read().strip()}")
    fig = {"cycles": cycles, "faults": dict(done), "failed_ids": sorted(failed_ids),
           "bursts": em.bursts - bursts0, "burst_signals": em.burst_signals - burst_signals0,
           "trickle_signals": em.trickle_signals - trickle0,
           "trickle_seconds": round(time.monotonic() - t_trickle, 1) if t_trickle else 0,
           "orphan_handlers_waited_for": sum(p.orphans_waited for p in h.partners.values()),
           "orphan_handlers_killed": sum(p.orphans_killed for p in h.partners.values()),
           "switch_to_exec_seconds": round(switch, 1), "drain_seconds": round(drain, 1),
           "seconds": round(time.monotonic() - t, 1)}
    h.report.figures["handler_faults"] = fig
    log(f"   {dict(done)}; {fig['bursts']} bursts ({fig['burst_signals']} signals), "
        f"{fig['trickle_signals']} trickled in {fig['trickle_seconds']} s; handler failed once "
        f"for {fig['failed_ids']}; {fig['orphan_handlers_waited_for']} orphan handlers waited "
        f"for; backlog handled {fig['drain_seconds']} s after the last fault; {fig['seconds']} s")


def phase_outage(h, em, hours):
    scale = h.args.time_scale
    seconds = hours * 3600.0 / scale
    log(f"== outage of {hours:g} h compressed to {seconds:.0f} s (1 s models {scale:.0f} s): "
        "toeslagen endpoint gone, belastingdienst frozen (SIGSTOP)")
    t0 = int(time.time() * 1000)
    h.partners["toeslagen"].stop(signal.SIGTERM)
    h.partners["belastingdienst"].pause()
    h.sleep(seconds)
    t1 = int(time.time() * 1000)
    backlog = db_query(h.db, "SELECT subscriber, COUNT(*) FROM deliveries WHERE state = 0"
                       " GROUP BY subscriber")
    h.partners["toeslagen"].start()
    h.partners["belastingdienst"].resume()
    retries = dict(db_query(h.db, "SELECT subscriber, COUNT(*) FROM audit WHERE kind = "
                            "'delivery.retry' AND ts BETWEEN ? AND ? GROUP BY subscriber", (t0, t1)))
    tc = time.monotonic()
    caught_up = h.wait_until("the outage backlog delivered", 180, lambda: db_query(
        h.db, "SELECT COUNT(*) FROM deliveries WHERE state = 0 AND created_at <= ?", (t1,))[0][0] == 0,
        interval=0.25)
    catch_up = time.monotonic() - tc
    dead = db_query(h.db, "SELECT COUNT(*) FROM deliveries WHERE state = 2")[0][0]
    if not caught_up:
        h.report.add("lost", f"the outage backlog was not delivered within 180 s after the outage")
    if dead:
        h.report.add("dead_lettered", f"{dead} deliveries dead-lettered by the {hours} h outage "
                     f"(max_age 72 h)")
    # what 'endpoint gone' costs: the ramp, then one attempt per max_delay
    max_delay = 3600.0 / scale
    ramp, d, n = 0.0, 0.05, 0
    while d < max_delay and ramp + d <= seconds:
        ramp += d
        d *= 2
        n += 1
    expected = n + int((seconds - ramp) / max_delay)
    h.report.figures["outage"] = {
        "modelled_hours": hours, "real_seconds": round(seconds, 1), "time_scale": scale,
        "backlog_at_end": dict(backlog), "retries": retries,
        "expected_retries_endpoint_gone": expected, "catch_up_seconds": round(catch_up, 1),
        "dead_lettered": dead}
    log(f"   retries during the outage: {retries} (endpoint gone: ~{expected} expected); "
        f"backlog {dict(backlog)} delivered {catch_up:.1f} s after it ended; dead-lettered {dead}")


def _disk_usage_kb(path):
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def _toeslagen_window(h):
    with open(h.conf) as f:
        m = re.search(r"name: toeslagen\n(?:    .*\n)*?    window: (\d+)", f.read())
    return int(m.group(1)) if m else 64


def _partner_ahead(h, partner):
    """How far the partner's highest seq (its output) is ahead of the oldest
    delivery the database still has pending for it."""
    top = 0
    try:
        with open(os.path.join(h.out_dir, partner.cur["file"]), "rb") as f:
            for line in f.read().split(b"\n")[-300:]:
                try:
                    top = max(top, json.loads(line)["seq"])
                except (ValueError, KeyError):
                    pass
    except OSError:
        pass
    oldest = db_query(h.db, "SELECT MIN(seq) FROM deliveries WHERE state = 0 AND subscriber = ?",
                      (partner.name,))[0][0]
    return top - oldest + 1 if oldest and top >= oldest else 0


def phase_disk_full(h, em, mode):
    log(f"== disk full ({mode})")
    ledger = h.ledger
    toeslagen = h.partners["toeslagen"]
    starts_before = h.daemon.starts
    refused0 = h.daemon.refused_receipts
    # a backlog of more than two delivery windows, to keep delivering while full
    window = _toeslagen_window(h)
    toeslagen.stop(signal.SIGTERM)
    pending_toeslagen = lambda: db_query(h.db, "SELECT COUNT(*) FROM deliveries WHERE state = 0"
                                         " AND subscriber = 'toeslagen'")[0][0]
    h.sleep(1.0)
    h.wait_until("a backlog for toeslagen", 30, lambda: pending_toeslagen() > 2 * window,
                 interval=0.2)
    backlog = db_query(h.db, "SELECT COUNT(*) FROM deliveries WHERE state = 0")[0][0]
    limit_bytes = None
    if mode == "tmpfs":
        # the database grows while this runs: tmpfs refuses to shrink below
        # what it holds, so measure again and retry a few times
        for attempt in range(5):
            size_kb = _disk_usage_kb(h.db_dir) + 16 * (attempt + 1)
            r = subprocess.run(["mount", "-o", f"remount,size={size_kb}k", h.db_dir],
                               capture_output=True, timeout=30)
            if r.returncode == 0:
                break
        else:
            raise RuntimeError(f"tmpfs not shrunk: {r.stderr.decode(errors='replace').strip()}")
        limit = f"tmpfs shrunk to {size_kb} KiB"
    else:
        # no file of the daemon may grow past 64 KiB: every write to the
        # database (and its WAL, past its header) fails with EFBIG
        limit_bytes = 65536
        resource.prlimit(h.daemon.proc.pid, resource.RLIMIT_FSIZE,
                         (limit_bytes, resource.RLIM_INFINITY))
        limit = f"RLIMIT_FSIZE {limit_bytes} bytes on the running daemon"
    t_full = time.monotonic()
    rej0 = ledger.rej_codes["STORAGE_UNAVAILABLE"]
    lines0 = h.partner_lines()
    cpu0 = h.daemon.cpu_seconds()
    tx0 = h.daemon.failed_tx
    toeslagen.start()
    got = h.wait_until("REJECTED STORAGE_UNAVAILABLE", 30,
                       lambda: ledger.rej_codes["STORAGE_UNAVAILABLE"] > rej0)
    h.sleep(h.args.full_seconds)
    full_for = time.monotonic() - t_full
    rejected = ledger.rej_codes["STORAGE_UNAVAILABLE"] - rej0
    # signals sent after the disk filled up and still ACCEPTED (fit in the
    # WAL's slack); answers print up to --window late, hence by send time
    accepted_full = sum(1 for t in list(ledger.ok_sent_at) if t >= t_full)
    delivered_full = h.partner_lines() - lines0
    cpu = h.daemon.cpu_seconds() - cpu0
    failed_tx = h.daemon.failed_tx - tx0
    # the same full disk with no emitter sending: only deliveries and
    # their retries are left, which the retry policy should pace
    em.hold = True
    h.wait_until("the emitter idle", 30, lambda: em.session is None)
    h.sleep(0.3)
    idle_tx0 = h.daemon.failed_tx
    idle_pending = db_query(h.db, "SELECT COUNT(*) FROM deliveries WHERE state = 0")[0][0]
    idle_cpu0 = h.daemon.cpu_seconds()
    t_idle = time.monotonic()
    h.sleep(2.0)
    idle_for = time.monotonic() - t_idle
    idle_cpu = h.daemon.cpu_seconds() - idle_cpu0
    idle_failed = h.daemon.failed_tx - idle_tx0
    idle_rate = idle_failed / idle_for
    em.hold = False
    daemon_alive = h.daemon.proc.poll() is None
    h.check_stored(f"(while the disk was full, {mode})")
    ahead = _partner_ahead(h, toeslagen)
    # kill -9 while the disk is full, and a restart on the full disk: it
    # must recover its WAL, come up and answer STORAGE_UNAVAILABLE
    restart = {}
    h.daemon.kill9()
    rej1 = ledger.rej_codes["STORAGE_UNAVAILABLE"]
    try:
        h.daemon.start(timeout=30, fsize=limit_bytes)
        em.rotate()
        came = h.wait_until("REJECTED STORAGE_UNAVAILABLE after a restart on the full disk", 30,
                            lambda: ledger.rej_codes["STORAGE_UNAVAILABLE"] > rej1)
        h.sleep(1.0)
        h.check_stored("(after a kill -9 and a restart on the full disk)")
        restart = {"came_up": True,
                   "rejected_storage_unavailable": ledger.rej_codes["STORAGE_UNAVAILABLE"] - rej1}
        if not came:
            h.report.add("storage", f"disk full ({limit}): after a restart on the full disk no "
                         "REJECTED STORAGE_UNAVAILABLE within 30 s")
    except RuntimeError:
        restart = {"came_up": False}
        h.report.add("storage", f"disk full ({limit}): seinpostd did not come up on the full disk")
    # space returns
    if mode == "tmpfs":
        subprocess.run(["mount", "-o", f"remount,size={h.args.tmpfs_mb}m", h.db_dir], check=True,
                       timeout=30)
    elif restart.get("came_up"):
        resource.prlimit(h.daemon.proc.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    if not restart.get("came_up"):
        h.daemon.start()
        em.rotate()
    t_back = time.monotonic()
    t_back_ms = int(time.time() * 1000)
    recovered = h.wait_until("a new ACCEPTED OK after space returned", 60,
                             lambda: any(t > t_back for t in ledger.ok_sent_at[-50:]))
    recovery = time.monotonic() - t_back
    h.check_stored(f"(after the disk-full episode, {mode})")
    # what was stored before space returned is delivered and receipted soon
    stuck = lambda: db_query(h.db, "SELECT subscriber, COUNT(*) FROM deliveries WHERE state = 0"
                             " AND created_at <= ? GROUP BY subscriber", (t_back_ms,))
    drained = h.wait_until("the disk-full backlog receipted", 20, lambda: not stuck(), interval=0.25)
    drain_time = time.monotonic() - t_back
    refused = h.daemon.refused_receipts - refused0
    if not drained:
        left = dict(stuck())
        h.report.add("storage", f"disk full ({limit}): 20 s after space returned, deliveries "
                     f"stored before are still not receipted {left}; the daemon refused "
                     f"{refused} receipts (\"receipt from toeslagen refused: RECEIPT_UNKNOWN: ack "
                     "covers a seq that was never delivered\"): the partner is more than a "
                     "window ahead of what this daemon instance sent, so its cumulative "
                     "receipts are refused until max_age dead-letters the head")
        log(f"!! the disk-full backlog is stuck {left} ({refused} receipts refused); restarting "
            "toeslagen to go on")
        toeslagen.stop(signal.SIGKILL)
        toeslagen.start()
        h.wait_until("the disk-full backlog receipted after a partner restart", 60,
                     lambda: not stuck(), interval=0.25)
    if not got:
        h.report.add("storage", f"disk full ({limit}): no REJECTED STORAGE_UNAVAILABLE within 30 s")
    if not daemon_alive:
        h.report.add("storage", f"disk full ({limit}): seinpostd exited")
    # a full file system still lets SQLite reuse free pages and the WAL;
    # under a 64 KiB file-size limit no write at all succeeds, so there the
    # figure is only reported
    if mode == "tmpfs" and backlog > 0 and delivered_full == 0:
        h.report.add("storage", f"disk full ({limit}): {backlog} stored deliveries pending, "
                     "none delivered while the disk was full")
    if not recovered:
        h.report.add("storage", f"disk full ({limit}): no signal ACCEPTED within 60 s after "
                     "space returned")
    if idle_rate > 25:          # a paced retry stays far below this
        h.report.add("storage", f"disk full ({limit}): with no emitter sending, seinpostd logged "
                     f"{idle_failed} failed transactions in {idle_for:.1f} s ({idle_rate:.0f}/s, "
                     f"{idle_pending} deliveries pending, "
                     f"CPU {100 * idle_cpu / idle_for:.0f} %): it retries the failing delivery "
                     "transactions in a busy loop, not at the pace of its retry policy")
    if h.daemon.starts != starts_before + 1 + (0 if restart.get("came_up") else 1):
        h.report.add("storage", f"disk full ({limit}): the daemon needed more restarts")
    fig = {"limit": limit, "full_seconds": round(full_for, 1),
           "rejected_storage_unavailable": rejected, "accepted_while_full": accepted_full,
           "backlog_pending": backlog, "partner_lines_while_full": delivered_full,
           "failed_transactions_logged": failed_tx,
           "daemon_cpu_percent_while_full": round(100 * cpu / full_for, 1),
           "idle_pending_deliveries": idle_pending,
           "idle_failed_transactions_per_second": round(idle_rate),
           "idle_daemon_cpu_percent": round(100 * idle_cpu / idle_for, 1),
           "partner_ahead_of_database_at_kill": ahead,
           "kill9_and_restart_while_full": restart,
           "recovery_seconds": round(recovery, 2),
           "backlog_receipted_seconds": round(drain_time, 1) if drained else None,
           "receipts_refused": refused}
    h.report.figures[f"disk_full_{mode}"] = fig
    log(f"   {limit}: {rejected} REJECTED STORAGE_UNAVAILABLE, {accepted_full} ACCEPTED, "
        f"{delivered_full} partner lines (backlog {backlog}) in {full_for:.1f} s; daemon CPU "
        f"{fig['daemon_cpu_percent_while_full']} %, {failed_tx} failed transactions logged "
        f"(with no emitter: {fig['idle_failed_transactions_per_second']}/s, CPU "
        f"{fig['idle_daemon_cpu_percent']} %); toeslagen {ahead} seqs ahead of the database; "
        f"killed -9 while full and restarted: "
        f"{'up, ' + str(restart.get('rejected_storage_unavailable')) + ' more STORAGE_UNAVAILABLE' if restart.get('came_up') else 'did not come up'}; "
        f"ACCEPTED again {recovery:.2f} s after space returned; backlog receipted "
        f"{'after %.1f s' % drain_time if drained else 'NOT within 20 s'}; {refused} receipts refused")


def _raw_tcp_cuts(h, count):
    """Cut-off ZMTP greetings and garbage on the ingress port."""
    greeting = (b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\x00")
                + b"\x00" + b"\x00" * 31)
    for i in range(count):
        try:
            with socket.create_connection(("127.0.0.1", h.port_base), timeout=2) as s:
                if i % 3 == 0:
                    s.sendall(greeting[:h.rng.randint(1, len(greeting) - 1)])
                elif i % 3 == 1:
                    s.sendall(greeting + b"\x04\x29\x05HELLO" + os.urandom(h.rng.randint(0, 40)))
                else:
                    s.sendall(os.urandom(h.rng.randint(1, 300)))
        except OSError:
            pass


def _rawemit(h, path, *extra):
    argv = [h.rawemit, "--endpoint", f"tcp://127.0.0.1:{h.port_base}",
            "--curve-secret", os.path.join(h.dir, "keys", "burgerzaken.curve"),
            "--server-key", h.node_curvepub, "--sign", os.path.join(h.dir, "keys", "burgerzaken.key"),
            "--event", path, "--timeout", "10000"] + list(extra)
    r = subprocess.run(argv, cwd=h.dir, capture_output=True, timeout=30)
    err = r.stderr.decode(errors="replace")
    if SANITIZER.search(err):
        h.report.add("sanitizer", f"rawemit: {err.strip().splitlines()[0]}")
    return r.returncode, r.stdout.decode(errors="replace").strip()


def phase_emitter_faults(h, em, rounds, count):
    log(f"== emitter faults: {rounds} rounds of {count} signals (kill -9 mid-stream, resend, "
        "two resenders at once), cut EMIT messages, cut ZMTP greetings")
    ledger = h.ledger
    figures = collections.Counter()
    all_ids = []
    for r in range(1, rounds + 1):
        h.check_time()
        ids = [f"soak-{h.run_id}-x{r}-{i}" for i in range(1, count + 1)]
        for i, sid in enumerate(ids, 1):
            ledger.new(sid, KIND_CYCLE[i % 4])
        all_ids += ids
        # 1. killed mid-stream: some answered, some stored without an answer
        s1 = Session(h, 16, 5000, tag=f"x{r}-killed-")
        writer = threading.Thread(target=lambda: [s1.send(sid) for sid in ids], daemon=True)
        writer.start()
        time.sleep(h.rng.uniform(0.03, 0.3))
        s1.kill()
        writer.join(10)
        s1.wait(10)
        answered = len(s1.answered)
        before = h.stored_ids()
        stored_unanswered = sum(1 for sid in s1.unanswered() if sid in before)
        figures["killed_mid_stream"] += 1
        figures["answered_before_kill"] += answered
        figures["stored_without_answer"] += stored_unanswered
        # 2. the emitter resends everything that got no answer (the ACK was lost)
        for attempt in range(5):
            todo = [sid for sid in ids if not ledger.accepted(sid)]
            if not todo:
                break
            s = Session(h, 16, 5000, tag=f"x{r}-resend-")
            for sid in todo:
                s.send(sid)
            s.close_input()
            s.wait(60)
        # 3. two emitters resend all of them at the same moment
        pair = [Session(h, 16, 5000, tag=f"x{r}-twin-") for _ in range(2)]
        dup0 = sum(ledger.dup[sid] for sid in ids)
        threads = [threading.Thread(target=lambda s=s: [s.send(sid) for sid in ids] and None,
                                    daemon=True) for s in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        for s in pair:
            s.close_input()
        for s in pair:
            s.wait(60)
        twins = sum(ledger.dup[sid] for sid in ids) - dup0
        figures["twin_duplicates"] += twins
        if twins != 2 * len(ids):
            h.report.add("emitter", f"round {r}: two resenders of {len(ids)} stored signals got "
                         f"{twins} DUPLICATE answers, not {2 * len(ids)}")
        rows = dict(db_query(h.db, "SELECT ce_id, COUNT(*) FROM signals WHERE ce_id LIKE ?"
                             " GROUP BY ce_id", (f"soak-{h.run_id}-x{r}-%",)))
        for sid in ids:
            if rows.get(sid, 0) != 1:
                h.report.add("duplicate_stored" if rows.get(sid, 0) > 1 else "lost",
                             f"{sid}: {rows.get(sid, 0)} rows after kill, resend and twin resend")
    # 4. cut EMIT messages (frames missing) store nothing; the whole message once
    for r in range(1, rounds + 1):
        sid = f"soak-{h.run_id}-raw{r}"
        ledger.new(sid, KIND_CYCLE[r % 4])
        all_ids.append(sid)
        path = os.path.join(h.dir, f"raw{r}.json")
        with open(path, "w") as f:
            f.write(ledger.line[sid])
        for extra in (["--drop-frame", "5"], ["--drop-frame", "4", "--drop-frame", "5"],
                      ["--sig-len", "10"]):
            rc, out = _rawemit(h, path, "--correlation", f"cut-{r}", *extra)
            figures["cut_messages"] += 1
            if rc != 0 or not out.startswith("REJECTED"):
                h.report.add("emitter", f"{sid}: cut EMIT ({' '.join(extra)}) answered '{out}' (rc {rc})")
        if sid in h.stored_ids():
            h.report.add("phantom", f"{sid}: stored from a cut EMIT message")
        for attempt in range(2):
            ledger.sent(sid)
            rc, out = _rawemit(h, path, "--correlation", f"whole-{r}-{attempt}")
            m = re.match(r"^(ACCEPTED|REJECTED) (\S+) ?(.*)$", out)
            if rc != 0 or not m:
                h.report.add("emitter", f"{sid}: rawemit got no answer ({out})")
                continue
            ledger.answer(sid, m.group(1) == "ACCEPTED", m.group(2), m.group(3))
            want = "OK" if attempt == 0 else "DUPLICATE"
            if m.group(2) != want:
                h.report.add("emitter", f"{sid}: whole EMIT #{attempt + 1} answered {m.group(2)}, "
                             f"not {want}")
    # 5. cut ZMTP greetings and garbage on the ingress port
    _raw_tcp_cuts(h, 10 * rounds)
    figures["cut_connections"] = 10 * rounds
    if not h.daemon.status_ok():
        h.report.add("daemon", "seinpostd does not answer after cut connections")
    h.report.figures["emitter_faults"] = dict(figures, rounds=rounds, signals=len(all_ids))
    log(f"   {dict(figures)}")


def _corrupt_pages(path):
    with open(path, "r+b") as f:
        header = f.read(100)
        page = int.from_bytes(header[16:18], "big")
        page = 65536 if page == 1 else page
        pages = os.path.getsize(path) // page
        for p in sorted({2, max(2, pages // 2), max(2, pages - 1)}):
            f.seek((p - 1) * page)
            f.write(b"\xde\xad\xbe\xef" * 4)
    return "b-tree page headers overwritten (pages 2, middle, last)"


def _corrupt_header(path):
    with open(path, "r+b") as f:
        f.write(b"\x00" * 100)
    return "file header zeroed (100 bytes)"


def _corrupt_truncate(path):
    size = os.path.getsize(path)
    os.truncate(path, size // 2)
    return f"file truncated from {size} to {size // 2} bytes"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sqlite_finds_corruption(path):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
        return rows != [("ok",)]
    except sqlite3.DatabaseError:
        return True


def phase_corrupt_db(h):
    log("== corrupt database: the daemon must refuse to start on it")
    pristine = os.path.join(h.dir, "final.db")
    shutil.copyfile(h.db, pristine)
    results = []
    for corrupt in (_corrupt_pages, _corrupt_header, _corrupt_truncate):
        for suffix in ("-wal", "-shm"):
            if os.path.exists(h.db + suffix):
                os.unlink(h.db + suffix)
        shutil.copyfile(pristine, h.db)
        what = corrupt(h.db)
        if not sqlite_finds_corruption(h.db):
            log(f"   {what}: SQLite itself finds nothing; variant skipped")
            results.append({"corruption": what, "skipped": "SQLite quick_check finds nothing"})
            continue
        digest = sha256_file(h.db)
        d = Daemon(h, "daemon-corrupt.log")
        log_size = os.path.getsize(d.log_path) if os.path.exists(d.log_path) else 0
        proc = d.spawn()
        rc = h.wait_proc(proc, 60)
        d.join_pump()
        answered = False
        if rc is None:
            answered = d.status_ok()
            rc = h.stop_proc(proc, signal.SIGKILL)
            d.join_pump()
            h.report.add("storage", f"corrupt database ({what}): seinpostd still running after 60 s"
                         + (" and answering" if answered else ""))
        with open(d.log_path, "rb") as f:
            f.seek(log_size)
            text = f.read().decode(errors="replace").strip()
        message = next((l for l in text.splitlines()
                        if re.search(r"corrupt|malformed|not a database", l, re.I)), "")
        if rc == 0:
            h.report.add("storage", f"corrupt database ({what}): seinpostd exited 0")
        if not message:
            h.report.add("storage", f"corrupt database ({what}): no clear error; log: {text[-300:]}")
        if "ready" in text:
            h.report.add("storage", f"corrupt database ({what}): seinpostd said it was ready")
        if sha256_file(h.db) != digest:
            h.report.add("storage", f"corrupt database ({what}): seinpostd changed the file")
        if SANITIZER.search(text):
            h.report.add("sanitizer", f"corrupt database ({what}): "
                         + next(l for l in text.splitlines() if SANITIZER.search(l)))
        results.append({"corruption": what, "exit_status": rc, "message": message})
        log(f"   {what}: exit status {rc}: {message}")
    # the undamaged file still works: the refusal was about the damage
    for suffix in ("-wal", "-shm"):
        if os.path.exists(h.db + suffix):
            os.unlink(h.db + suffix)
    shutil.copyfile(pristine, h.db)
    h.daemon.start()
    rc = h.daemon.stop()
    if rc != 0:
        h.report.add("daemon", f"seinpostd on the restored database stopped with status {rc}")
    h.report.figures["corrupt_db"] = results


# ---------------------------------------------------------------- runs


def finish(h, em):
    """Drains the emitter, waits for every delivery and receipt, stops
    everything cleanly and runs the checker."""
    log("== final drain: every signal ACCEPTED, delivered and receipted")
    t = time.monotonic()
    if not em.drain(120):
        log("!! not every signal was ACCEPTED")
    em.stop()
    t_accepted = time.monotonic() - t
    for p in h.partners.values():
        if p.paused:
            p.resume()
        if not p.expected_up:
            p.start()
    h.wait_until("every delivery receipted", 180, lambda: h.pending_count() == 0, interval=0.25)
    log(f"   every signal ACCEPTED after {t_accepted:.1f} s, every delivery receipted after "
        f"{time.monotonic() - t:.1f} s")
    h.sleep(0.5)
    for p in h.partners.values():
        p.stop(signal.SIGTERM)
    rc = h.daemon.stop()
    if rc != 0:
        h.report.add("daemon", f"seinpostd stopped with status {rc} on SIGTERM")
    h.ledger.dump(os.path.join(h.dir, "ledger.json"))
    h.write_segments()
    audit_verify(h)
    scan_sanitizers(h)
    rep = check(h.dir, h.db)
    h.report.merge(rep)


def audit_verify(h):
    try:
        r = subprocess.run([h.seinpost, "audit", "verify", "-c", h.conf], cwd=h.dir,
                           capture_output=True, timeout=600)
    except subprocess.TimeoutExpired:
        h.report.add("audit", "seinpost audit verify took more than 600 s")
        return
    text = (r.stdout + r.stderr).decode(errors="replace")
    if "unknown command" in text:
        h.report.figures["audit_verify"] = "not available in this build"
        log("   seinpost audit verify: not available in this build, skipped")
        return
    last = [l for l in text.replace("\r", "\n").splitlines() if l.strip()]
    h.report.figures["audit_verify"] = {"exit_status": r.returncode,
                                        "output": last[-1] if last else ""}
    if r.returncode != 0:
        h.report.add("audit", f"seinpost audit verify exited {r.returncode}: "
                     + " | ".join(last[-5:]))
    log(f"   seinpost audit verify: exit {r.returncode}: {last[-1] if last else ''}")


def scan_sanitizers(h):
    for name in ["daemon.log", "emit.err"] + [p + ".err" for p in PARTNERS]:
        path = os.path.join(h.dir, name)
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                if SANITIZER.search(line):
                    h.report.add("sanitizer", f"{name}: {line.strip()}")
    refusals = collections.Counter()
    for p in PARTNERS:
        path = os.path.join(h.dir, p + ".err")
        if os.path.exists(path):
            with open(path, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if "refused a batch" in line:
                        refusals[re.sub(r"\d+", "N", line.strip())] += 1
    h.report.figures["partner_refusals"] = dict(refusals)
    patterns = collections.Counter()
    with open(os.path.join(h.dir, "daemon.log"), "rb") as f:
        for line in f.read().decode(errors="replace").splitlines():
            patterns[re.sub(r"\d+", "N", line.strip())[:110]] += 1
    h.report.figures["daemon_log_top"] = dict(patterns.most_common(12))


def soak(h):
    a = h.args
    h.setup(tmpfs=a.disk_full in ("auto", "tmpfs", "both"))
    log(f"run {h.run_id} in {h.dir}: BIN={h.bin}, seed {a.seed}, ports {h.port_base}..{h.port_base + 2}, "
        f"database {'on tmpfs' if h.mounted else 'on disk'}"
        + (f"; the OLD build of {h.src}" if a.old_build else ""))
    h.daemon.start()
    for p in h.partners.values():
        p.mode = "exec" if a.handler_only else "stdout"
        p.start()
    em = SteadyEmitter(h, f"soak-{h.run_id}-", a.rate, a.window, a.emit_timeout_ms)
    em.start()
    try:
        h.sleep(1.0)
        if a.handler_only:
            if a.cycles:        # daemon kill -9 cycles, here under bursty traffic
                em.set_pattern("burst")
                phase_crashes(h, em, a.cycles)
                em.set_pattern("steady")
            if a.handler_cycles:
                phase_handler_faults(h, em, a.handler_cycles, a.handler_seconds)
            finish(h, em)
            h.report.figures["emitter"] = {"sessions": em.sessions, "resends": em.resent}
            return
        if a.cycles:
            phase_crashes(h, em, a.cycles)
        if a.partner_cycles:
            phase_partner_faults(h, em, a.partner_cycles)
        if a.handler_cycles:
            phase_handler_faults(h, em, a.handler_cycles, a.handler_seconds)
            set_partner_mode(h, "stdout")
            em.set_generating(True)
        if a.outage_hours:
            phase_outage(h, em, a.outage_hours)
        modes = []
        if a.disk_full in ("auto", "tmpfs", "both") and h.mounted:
            modes.append("tmpfs")
        if a.disk_full in ("fsize", "both") or (a.disk_full == "auto" and not h.mounted):
            modes.append("fsize")
        if a.disk_full == "tmpfs" and not h.mounted:
            h.report.add("storage", "--disk-full tmpfs, but no tmpfs could be mounted")
        for mode in modes:
            phase_disk_full(h, em, mode)
        if a.emitter_rounds:
            phase_emitter_faults(h, em, a.emitter_rounds, a.emitter_count)
        if em.error:
            raise em.error
    except BaseException:
        em.stop()
        raise
    finish(h, em)
    h.report.figures["emitter"] = {"sessions": em.sessions, "resends": em.resent}
    if a.corrupt:
        phase_corrupt_db(h)


def self_test(h):
    """A small real run, checked clean; then doctored copies, each of which
    the checker must flag, naming the signal."""
    h.setup(tmpfs=False)
    log(f"self-test: a small run in {h.dir}")
    h.daemon.start()
    for p in h.partners.values():
        p.start()
    em = SteadyEmitter(h, f"soak-{h.run_id}-", 100, 16, 3000)
    em.burst_size, em.burst_pause = (20, 60), (0.2, 0.5)
    em.start()
    h.sleep(1.0)
    h.partners["toeslagen"].stop(signal.SIGKILL)
    h.sleep(0.3)
    h.partners["toeslagen"].start()
    h.sleep(0.7)
    # the handler level: --exec handlers, a burst, a handler that fails
    # once, a kill -9 while a slow handler runs
    switch_partners(h, em, "exec")
    em.set_pattern("burst")
    em.wait_burst(5)
    h.partners["belastingdienst"].fail_once()
    kill_in_handler(h, h.partners["toeslagen"])
    h.sleep(0.6)
    finish(h, em)
    clean = h.report
    print(f"self-test: the clean run: {clean.summary()}", flush=True)
    failures = []
    if clean.total():
        clean.print_violations()
        failures.append("the clean run has violations")

    def copy_run(name):
        d = os.path.join(h.dir, "doctored", name)
        os.makedirs(os.path.join(d, "out"))
        for f in ("ledger.json", "segments.json"):
            shutil.copy(os.path.join(h.dir, f), d)
        for f in os.listdir(h.out_dir):
            shutil.copy(os.path.join(h.out_dir, f), os.path.join(d, "out"))
        shutil.copy(h.db, os.path.join(d, "db"))
        return d

    def read_lines(d, fname):
        try:
            with open(os.path.join(d, "out", fname), "rb") as f:
                return f.read().split(b"\n")[:-1]
        except FileNotFoundError:       # an exec-mode lifetime that handled nothing
            return []

    def write_lines(d, fname, lines):
        with open(os.path.join(d, "out", fname), "wb") as f:
            f.write(b"".join(l + b"\n" for l in lines))

    def main_segment(partner, sub=None):
        """The output file of `partner` with the most lines (of `sub`)."""
        best, most = None, -1
        for seg in h.segments:
            if seg["partner"] != partner:
                continue
            lines = read_lines(h.dir, seg["file"])
            n = sum(1 for l in lines if sub is None or json.loads(l)["subscription"] == sub)
            if n > most:
                best, most = seg["file"], n
        return best

    def db_exec(d, sql, args=()):
        con = sqlite3.connect(os.path.join(d, "db"))
        try:
            con.execute(sql, args)
            con.commit()
        finally:
            con.close()

    # 1. a delivered line dropped (from every lifetime that wrote it)
    def drop_line(d):
        f = main_segment("toeslagen")
        lines = read_lines(d, f)
        victim = json.loads(lines[len(lines) // 2])["id"]
        for seg in h.segments:
            if seg["partner"] == "toeslagen":
                write_lines(d, seg["file"], [l for l in read_lines(d, seg["file"])
                                             if json.loads(l)["id"] != victim])
        return victim

    # 2. one line carries the seq of the line before it
    def duplicate_seq(d):
        f = main_segment("belastingdienst", "verblijf-tilburg")
        lines = read_lines(d, f)
        idx = [i for i, l in enumerate(lines) if json.loads(l)["subscription"] == "verblijf-tilburg"]
        a, b = idx[len(idx) // 2 - 1], idx[len(idx) // 2]
        prev, o = json.loads(lines[a]), json.loads(lines[b])
        o["seq"] = prev["seq"]
        lines[b] = json.dumps(o, separators=(",", ":")).encode()
        write_lines(d, f, lines)
        return o["id"]

    # 3. a phantom: a line for a signal nobody sent
    def phantom(d):
        f = main_segment("toeslagen")
        lines = read_lines(d, f)
        o = json.loads(lines[-1])
        o["id"] = f"soak-{h.run_id}-phantom"
        o["seq"] += 1
        o["event"]["id"] = o["id"]
        write_lines(d, f, lines + [json.dumps(o, separators=(",", ":")).encode()])
        return o["id"]

    # 4. two adjacent lines swapped
    def swap(d):
        f = main_segment("toeslagen")
        lines = read_lines(d, f)
        i = len(lines) // 2
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
        write_lines(d, f, lines)
        return json.loads(lines[i])["id"]

    def one_delivery(d, subscriber):
        con = sqlite3.connect(os.path.join(d, "db"))
        try:
            return con.execute("SELECT d.id, s.ce_id, d.receipt_id FROM deliveries d JOIN signals s"
                               " ON s.id = d.signal_id WHERE d.subscriber = ? ORDER BY d.id"
                               " LIMIT 1 OFFSET 5", (subscriber,)).fetchone()
        finally:
            con.close()

    # 5. a delivery without its receipt
    def no_receipt(d):
        did, sid, _ = one_delivery(d, "toeslagen")
        db_exec(d, "UPDATE deliveries SET receipt_id = NULL WHERE id = ?", (did,))
        return sid

    # 6. a receipt with a cut signature
    def bad_signature(d):
        did, sid, rid = one_delivery(d, "belastingdienst")
        db_exec(d, "UPDATE receipts SET signature = zeroblob(10) WHERE id = ?", (rid,))
        return sid

    # 7. an ACCEPTED signal missing from the database
    def unstored(d):
        did, sid, _ = one_delivery(d, "toeslagen")
        db_exec(d, "DELETE FROM deliveries WHERE signal_id = (SELECT id FROM signals WHERE ce_id = ?)",
                (sid,))
        db_exec(d, "DELETE FROM signals WHERE ce_id = ?", (sid,))
        return sid

    # 8. a dead-lettered delivery
    def dead(d):
        did, sid, _ = one_delivery(d, "belastingdienst")
        db_exec(d, "UPDATE deliveries SET state = 2 WHERE id = ?", (did,))
        return sid

    # 9. the partner got a signal its filter does not match
    def misdelivered(d):
        f = main_segment("belastingdienst")
        lines = read_lines(d, f)
        tf = main_segment("toeslagen")
        t = [json.loads(l) for l in read_lines(d, tf)]
        o = next(x for x in t if ROUTES[h.ledger.kind[x["id"]]] == {("toeslagen", "huurtoeslag-bewoning")})
        last = max((json.loads(l)["seq"] for l in lines
                    if json.loads(l)["subscription"] == "bewoning-prefix"), default=0)
        o["subscription"], o["seq"] = "bewoning-prefix", last + 1
        write_lines(d, f, lines + [json.dumps(o, separators=(",", ":")).encode()])
        return o["id"]

    # 10. the daemon forgot a signal and took it again as new
    def accepted_twice(d):
        path = os.path.join(d, "ledger.json")
        with open(path) as f:
            doc = json.load(f)
        sid = sorted(doc["ids"])[len(doc["ids"]) // 3]
        doc["ids"][sid]["ok"] += 1
        doc["ids"][sid]["sends"] += 1
        with open(path, "w") as f:
            json.dump(doc, f)
        return sid

    def exec_segment(partner, killed=None):
        """The exec-mode lifetime of `partner` with the most handler lines
        (that was killed, or was not, when `killed` says so)."""
        best, most = None, -1
        for seg in h.segments:
            if seg["partner"] != partner or seg.get("mode") != "exec":
                continue
            if killed is not None and (seg.get("end") == "killed") != killed:
                continue
            n = len(read_lines(h.dir, seg["handled"]))
            if n > most:
                best, most = seg, n
        return best

    # 11. a line dropped from what the --exec handlers wrote
    def drop_handled(d):
        seg = exec_segment("belastingdienst")
        lines = read_lines(d, seg["handled"])
        victim = json.loads(lines[len(lines) // 2])["id"]
        for s in h.segments:
            if s["partner"] == "belastingdienst":
                f = s["handled"] if s.get("mode") == "exec" else s["file"]
                write_lines(d, f, [l for l in read_lines(d, f) if json.loads(l)["id"] != victim])
        return victim

    # 12. an --exec handler handled one signal twice, with no kill -9
    def handled_twice(d):
        seg = exec_segment("belastingdienst", killed=False)
        lines = read_lines(d, seg["handled"])
        write_lines(d, seg["handled"], lines + [lines[len(lines) // 2]])
        return json.loads(lines[len(lines) // 2])["id"]

    # 13. an --exec handler handled an id that was never sent
    def handled_phantom(d):
        seg = exec_segment("toeslagen")
        lines = read_lines(d, seg["handled"])
        o = {"id": f"soak-{h.run_id}-ghost", "source": SOURCE, "pid": 1}
        write_lines(d, seg["handled"], lines + [json.dumps(o, separators=(",", ":")).encode()])
        return o["id"]

    # 14. a stdout line handled again in a later lifetime (not the last
    # line of a killed one)
    def stdout_twice(d):
        segs = [s for s in h.segments if s["partner"] == "toeslagen"]
        first = segs[0]["file"]
        lines = read_lines(d, first)
        again = lines[len(lines) // 2]
        later = segs[1]["file"] if segs[1].get("mode") != "exec" else segs[1]["handled"]
        o = json.loads(again)
        if segs[1].get("mode") == "exec":
            again = json.dumps({"id": o["id"], "source": o["source"], "pid": 1},
                               separators=(",", ":")).encode()
        write_lines(d, later, read_lines(d, later) + [again])
        return o["id"]

    # 15. the id a kill -9 interrupted handled twice more: one allowed
    def interrupted_thrice(d):
        seg = next(s for s in h.segments if s.get("mode") == "exec" and s.get("interrupted"))
        victim = seg["interrupted"][-1]
        o = json.dumps({"id": victim, "source": SOURCE, "pid": 1}, separators=(",", ":")).encode()
        last = exec_segment(seg["partner"], killed=False)
        write_lines(d, last["handled"], read_lines(d, last["handled"]) + [o, o])
        return victim

    cases = [("drop a delivered line", drop_line, "lost"),
             ("duplicate a seq", duplicate_seq, "out_of_order"),
             ("insert a phantom id", phantom, "phantom"),
             ("swap two lines", swap, "out_of_order"),
             ("remove a receipt", no_receipt, "missing_receipt"),
             ("cut a receipt signature", bad_signature, "missing_receipt"),
             ("delete an ACCEPTED signal from the database", unstored, "lost"),
             ("dead-letter a delivery", dead, "dead_lettered"),
             ("deliver outside the filter", misdelivered, "phantom"),
             ("answer OK twice for one signal", accepted_twice, "lost"),
             ("drop a line an --exec handler wrote", drop_handled, "lost"),
             ("an --exec handler handles a signal twice, no kill", handled_twice, "duplicate"),
             ("an --exec handler handles an id never sent", handled_phantom, "phantom"),
             ("a stdout line handled again in a later lifetime", stdout_twice, "duplicate"),
             ("the id a kill -9 interrupted handled twice more", interrupted_thrice, "duplicate")]
    for name, doctor, category in cases:
        d = copy_run(re.sub(r"\W+", "-", name))
        victim = doctor(d)
        rep = check(d, os.path.join(d, "db"), verbose=False)
        named = [m for m in rep.violations[category] if victim in m]
        if named:
            print(f"self-test: {name}: found ({category}: {named[0]})", flush=True)
        else:
            print(f"self-test: {name}: NOT FOUND (wanted {category} naming {victim}; "
                  f"got {rep.summary()})", flush=True)
            failures.append(name)
    if failures:
        print(f"self-test FAILED: {', '.join(failures)}", flush=True)
        return 1
    print(f"self-test passed: the clean run is clean and all {len(cases)} doctored copies are "
          "caught", flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 1)[1])
    ap.add_argument("--cycles", type=int, help="daemon kill -9 cycles (default 50; --short 5)")
    ap.add_argument("--partner-cycles", type=int, help="partner kill cycles (default 20; --short 3)")
    ap.add_argument("--short", action="store_true", help="the short version for make check")
    ap.add_argument("--self-test", action="store_true", help="check that the checker catches faults")
    ap.add_argument("--check", metavar="DIR", help="run only the checker on a kept run directory")
    ap.add_argument("--handler-cycles", type=int,
                    help="partner faults at the --exec handlers with the daemon up, half under "
                         "bursty, half under trickle traffic (default 16; --short 4)")
    ap.add_argument("--handler-seconds", type=float,
                    help="time limit of the handler-fault phase (default 90; --short 20)")
    ap.add_argument("--handler-only", action="store_true",
                    help="only the handler-fault phase (and --cycles daemon kill -9 cycles under "
                         "bursty traffic before it, default 0), then the checker")
    ap.add_argument("--old-build", metavar="DIR",
                    help="run --handler-only against an older release: the source tree DIR with "
                         "its binaries in DIR/build (tests/soak/run --old-build builds it from "
                         "git); the run passes when the checker finds lost signals")
    ap.add_argument("--outage-hours", type=float, help="modelled outage (default 24; --short 4)")
    ap.add_argument("--time-scale", type=float, default=3600.0,
                    help="modelled seconds per real second (default 3600: 1 s = 1 h)")
    ap.add_argument("--disk-full", choices=["auto", "tmpfs", "fsize", "both", "none"],
                    help="tmpfs: shrink a tmpfs under the database; fsize: RLIMIT_FSIZE on the "
                         "daemon; both: tmpfs (if mountable) and fsize; auto: tmpfs if mountable, "
                         "else fsize (default both; --short auto)")
    ap.add_argument("--full-seconds", type=float, default=2.0, help="how long the disk stays full")
    ap.add_argument("--tmpfs-mb", type=int, default=2048)
    ap.add_argument("--emitter-rounds", type=int, help="emitter-fault rounds (default 4; --short 1)")
    ap.add_argument("--emitter-count", type=int, help="signals per emitter-fault round")
    ap.add_argument("--no-corrupt", dest="corrupt", action="store_false")
    ap.add_argument("--rate", type=float, help="steady signals per second (default 150; --short 60)")
    ap.add_argument("--window", type=int, default=32, help="emit --window of the steady emitter")
    ap.add_argument("--emit-timeout-ms", type=int, default=2000)
    ap.add_argument("--receipt-timeout-ms", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--bin", default=os.environ.get("BIN", "build"))
    ap.add_argument("--dir", help="run directory (default: a new one under /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the run directory on success")
    ap.add_argument("--port-base", type=int, default=23400)
    ap.add_argument("--max-seconds", type=float, help="hard limit on the whole run")
    a = ap.parse_args()
    short = a.short
    if a.old_build:
        a.handler_only = True
        if not os.path.exists(os.path.join(a.old_build, "build", "seinpostd")):
            ap.error(f"--old-build {a.old_build}: no build/seinpostd there (tests/soak/run "
                     "--old-build DIR builds it)")
    if a.handler_only:
        a.cycles = a.cycles or 0
        a.partner_cycles = a.outage_hours = a.emitter_rounds = 0
        a.disk_full = "none"
        a.corrupt = False
    a.handler_cycles = (a.handler_cycles if a.handler_cycles is not None
                        else (4 if short else 16))
    a.handler_seconds = a.handler_seconds or (20.0 if short else 90.0)
    a.cycles = a.cycles if a.cycles is not None else (5 if short else 50)
    a.partner_cycles = a.partner_cycles if a.partner_cycles is not None else (3 if short else 20)
    a.outage_hours = a.outage_hours if a.outage_hours is not None else (4 if short else 24)
    a.disk_full = a.disk_full or ("auto" if short else "both")
    a.emitter_rounds = a.emitter_rounds if a.emitter_rounds is not None else (1 if short else 4)
    a.emitter_count = a.emitter_count or (120 if short else 300)
    a.rate = a.rate or (60.0 if short else 150.0)
    a.crash_interval = (0.2, 0.8) if short else (0.3, 1.5)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 30)
    if a.max_seconds is None:
        a.max_seconds = 240 if (short or a.self_test) else 900 + 3 * a.cycles + 4 * a.partner_cycles
    os.chdir(REPO)

    if a.check:
        for db in ("final.db", "db/seinpost.db", "db.saved/seinpost.db"):
            if os.path.exists(os.path.join(a.check, db)):
                break
        print(f"checker: database {db}")
        rep = check(a.check, os.path.join(a.check, db))
        rep.print_violations()
        print(f"checker: {rep.summary()}")
        return 1 if rep.total() else 0

    if a.old_build:
        a.old_build = os.path.abspath(a.old_build)
    if a.disk_full in ("tmpfs", "both", "auto") and os.geteuid() != 0 and not a.self_test:
        log("not root: no tmpfs; the disk-full episode uses RLIMIT_FSIZE")
        a.disk_full = "fsize"
    own_dir = a.dir is None
    run_dir = a.dir or tempfile.mkdtemp(prefix="seinpost-soak.")
    os.makedirs(run_dir, exist_ok=True)
    run_dir = os.path.abspath(run_dir)
    run_id = "%x" % (int(time.time()) & 0xffffff)
    h = Harness(a, run_dir, a.port_base, run_id)

    def on_term(sig, frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    rc = 1
    try:
        if a.self_test:
            rc = self_test(h)
        else:
            soak(h)
            rc = 0
    except (HarnessTimeout, RuntimeError, KeyboardInterrupt, subprocess.SubprocessError,
            OSError, sqlite3.Error) as e:
        log(f"!! the run stopped early: {type(e).__name__}: {e}")
        h.report.add("daemon" if "seinpostd" in str(e) else "emitter", f"run stopped early: {e}")
        rc = 1
    finally:
        h.cleanup(keep_db=not (own_dir and not a.keep and rc == 0 and h.report.total() == 0))
        if not a.self_test:     # for --check on a kept directory
            h.ledger.dump(os.path.join(run_dir, "ledger.json"))
            h.write_segments()
    if not a.self_test:
        elapsed = time.monotonic() - started
        h.report.figures["run"] = {"id": run_id, "seed": a.seed, "bin": h.bin,
                                   "seconds": round(elapsed, 1), **h.ledger.counts()}
        if a.old_build:
            try:
                with open(os.path.join(a.old_build, "SOAK-COMMIT")) as f:
                    h.report.figures["run"]["old_build_commit"] = f.read().strip()
            except OSError:
                pass
        with open(os.path.join(run_dir, "summary.json"), "w") as f:
            json.dump({"figures": h.report.figures, "violations": h.report.violations}, f, indent=1)
        print("figures: " + json.dumps(h.report.figures, indent=1), flush=True)
        h.report.print_violations()
        print(f"soak: {elapsed:.0f} s, {h.ledger.counts()['signals']} signals; checker: "
              f"{h.report.summary()}", flush=True)
        if a.old_build:
            # the old release is expected to lose signals: the run shows
            # that the checker catches that, so lost > 0 passes
            hl = h.report.figures.get("checker", {}).get("handler_level", {})
            lost = hl.get("lost", 0)
            if rc == 0 and lost:
                print(f"old build: the checker caught the old behaviour: {lost} ACCEPTED "
                      f"hand-overs lost at the handlers ({hl.get('lost_yet_marked_delivered')} "
                      "of them marked delivered by the old router)", flush=True)
            else:
                print("old build: the checker did NOT catch a lost signal"
                      + ("" if rc == 0 else " (the run stopped early)"), flush=True)
                rc = 1
        elif h.report.total():
            rc = 1
    if rc == 0 and own_dir and not a.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif rc != 0:
        print(f"kept {run_dir}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
