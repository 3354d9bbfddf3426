#!/usr/bin/env python3
"""handled-check.py - what a partner's handler did, against what was accepted.

    handled-check.py [options] HANDLED_FILE...

HANDLED_FILE: the handler's output, one signal id a line (the first word of
the line; blank lines are ignored); several files are read as one, in order.

  --expect FILE     ids that must each be in the output exactly once (the
                    ACCEPTED ids routed to this partner); one missing is LOST
  --may FILE        ids that may be in the output at most once, or not at
                    all (neither lost nor phantom)
  --never FILE      ids that must not be in the output (FORBIDDEN)
  --allow-dup FILE  ids that may be in the output more than once: a kill -9
                    of the partner interrupted their hand-over
  --order FILE      the ids in the order the handler must first see them
                    (seq order of one subscription); an id seen for the first
                    time before one that comes earlier in FILE is OUT OF ORDER
  --label TEXT      names the partner in the report
  --only-lost       a subset check: only lost (and forbidden) ids count, not
                    duplicates, phantoms or order (e.g. --expect the ids the
                    router marked delivered: each must have been handled)

Any id in the output that is in none of --expect/--may/--allow-dup is a
PHANTOM. Prints one summary line and, for each kind of problem, a few ids.
Exit 0 when there is no lost, phantom, forbidden, unexpected duplicate or
out-of-order id; 1 otherwise; 2 on a usage error.
"""
import argparse
import collections
import sys


def read_ids(paths):
    ids = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    words = line.split()
                    if words:
                        ids.append(words[0])
        except FileNotFoundError:
            pass                # no output yet: nothing handled
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--may", action="append", default=[])
    ap.add_argument("--never", action="append", default=[])
    ap.add_argument("--allow-dup", action="append", default=[])
    ap.add_argument("--order")
    ap.add_argument("--label", default="handler")
    ap.add_argument("--only-lost", action="store_true")
    ap.add_argument("handled", nargs="+")
    args = ap.parse_args()

    expect = read_ids(args.expect)
    may = set(read_ids(args.may))
    never = set(read_ids(args.never))
    allow_dup = set(read_ids(args.allow_dup))
    lines = read_ids(args.handled)
    count = collections.Counter(lines)

    dup_in_expect = sorted(i for i, n in collections.Counter(expect).items() if n > 1)
    if dup_in_expect:
        print(f"{args.label}: --expect lists ids twice: {dup_in_expect[:5]}", file=sys.stderr)
        return 2
    expected = set(expect)
    lost = [i for i in expect if count[i] == 0]
    forbidden = sorted(i for i in count if i in never)
    phantom = sorted(i for i in count
                     if i not in expected and i not in may and i not in allow_dup
                     and i not in never)
    dups = sorted(i for i, n in count.items() if n > 1)
    allowed = [i for i in dups if i in allow_dup]
    unexpected = [i for i in dups if i not in allow_dup]

    out_of_order = []
    if args.order:
        rank = {i: n for n, i in enumerate(read_ids([args.order]))}
        seen, best = set(), -1
        for i in lines:
            if i in seen or i not in rank:
                continue
            seen.add(i)
            if rank[i] < best:
                out_of_order.append(i)
            best = max(best, rank[i])

    if args.only_lost:
        print(f"{args.label}: {len(expected)} ids, {len(lost)} of them not handled, "
              f"forbidden {len(forbidden)}")
    else:
        print(f"{args.label}: expected {len(expected)}, handled {len(count)} distinct in "
              f"{len(lines)} lines: lost {len(lost)}, duplicate {len(dups)} "
              f"(allowed {len(allowed)}, unexpected {len(unexpected)}), phantom {len(phantom)}, "
              f"forbidden {len(forbidden)}, out of order {len(out_of_order)}")
    kinds = (("lost", lost), ("unexpected duplicate", unexpected),
             ("phantom", phantom), ("forbidden", forbidden),
             ("out of order", out_of_order), ("allowed duplicate", allowed))
    if args.only_lost:
        kinds = kinds[0:1] + kinds[3:4]
    for name, ids in kinds:
        if ids:
            shown = " ".join(f"{i}(x{count[i]})" if count[i] > 1 else i for i in ids[:8])
            print(f"  {name}: {shown}{' ...' if len(ids) > 8 else ''}")
    if args.only_lost:
        bad = lost or forbidden
    else:
        bad = lost or unexpected or phantom or forbidden or out_of_order
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
