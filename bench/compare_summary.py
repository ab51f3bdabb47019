#!/usr/bin/env python3
"""The final tables of bench/compare.sh, from its per-run rows (TSV, what RAW collects):

    target backend scenario run req/s p50_ms p99_ms requests unexpected socket_errors server_cpu_s loadavg [timeouts]

    python3 bench/compare_summary.py RESULTS.tsv [--markdown]

Per scenario and target: the median over the runs with the [min-max] range of requests/s, p50,
p99 and requests per server CPU-second (requests / server CPU seconds of the run); then the
ratio Portcullis/peer of the medians of requests per server CPU-second, per backend, and the
passkey flow's CPU advantage over the password flow. A scenario with any unexpected answer or
socket error (connect, read, write) in any run is FAILED: no figures, only the counts. Requests
that wrk saw unanswered past its 2 s timeout (it keeps waiting, and checks their answers) are
not failures; their count is shown beside the p99. Standard library only.
"""
import statistics
import sys
from collections import OrderedDict

ORDER = ["discovery", "jwks", "client_credentials", "userinfo", "introspection", "refresh",
         "password_flow", "passkey_flow"]
TARGET_ORDER = ["portcullis/embedded", "portcullis/external", "peer"]
TARGETS = {"portcullis/embedded": "Portcullis embedded", "portcullis/external": "Portcullis external",
           "peer": "node-oidc-provider"}
# Issue 16's targets, Portcullis/peer per server CPU-second.
TARGET_RATIO = {
    "discovery": (4, 4),
    "client_credentials": (3, 2), "userinfo": (3, 2), "introspection": (3, 2), "refresh": (3, 2),
}


def load(path):
    groups = OrderedDict()
    for line in open(path):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        target, backend, scenario = f[0], f[1], f[2]
        key = (scenario, "peer" if target == "peer" else f"portcullis/{backend}")
        rps, p50, p99 = float(f[4]), float(f[5]), float(f[6])
        reqs, bad, sock, cpu = int(f[7]), int(f[8]), int(f[9]), float(f[10])
        timeouts = int(f[12]) if len(f) > 12 and f[12] else 0
        groups.setdefault(key, []).append({
            "rps": rps, "p50": p50, "p99": p99, "reqs": reqs, "bad": bad, "sock": sock, "timeouts": timeouts,
            "per_cpu": reqs / cpu if cpu > 0 else float("nan"),
        })
    return groups


def stat(runs, field):
    values = sorted(r[field] for r in runs)
    return statistics.median(values), values[0], values[-1]


def fmt(x):
    if x != x:  # nan
        return "?"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(runs, field):
    m, lo, hi = stat(runs, field)
    return f"{fmt(m)} [{fmt(lo)}–{fmt(hi)}]"


def failed(runs):
    bad = sum(r["bad"] for r in runs)
    sock = sum(r["sock"] for r in runs)
    return (bad, sock) if bad or sock else None


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    markdown = "--markdown" in sys.argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    groups = load(args[0])
    scenarios = [s for s in ORDER if any(k[0] == s for k in groups)]
    scenarios += [s for s, _ in groups if s not in scenarios]
    targets = [t for t in TARGET_ORDER if any(k[1] == t for k in groups)]
    nruns = max((len(v) for v in groups.values()), default=0)

    head = ["scenario", "target", "req/s", "p50 ms", "p99 ms", "req per server CPU-s"]
    rows = []
    for s in scenarios:
        for t in targets:
            runs = groups.get((s, t))
            if not runs:
                continue
            f = failed(runs)
            if f:
                rows.append([s, TARGETS[t], f"FAILED ({f[0]} unexpected answers, {f[1]} socket errors)", "", "", ""])
            else:
                slow = sum(r["timeouts"] for r in runs)
                p99 = cell(runs, "p99") + (f" ({slow} over 2 s)" if slow else "")
                rows.append([s, TARGETS[t], cell(runs, "rps"), cell(runs, "p50"), p99, cell(runs, "per_cpu")])

    ratio_head = ["scenario"] + [f"{TARGETS[t]} / peer" for t in targets if t != "peer"]
    ratio_rows = []
    peer_ok = {}
    for s in scenarios:
        runs = groups.get((s, "peer"))
        peer_ok[s] = stat(runs, "per_cpu")[0] if runs and not failed(runs) else None
    for s in scenarios:
        row = [s]
        for i, t in enumerate(x for x in targets if x != "peer"):
            runs = groups.get((s, t))
            if not runs:
                row.append("")
            elif failed(runs):
                row.append("FAILED")
            elif peer_ok.get(s) is None:
                row.append("no peer figure" if s != "passkey_flow" else "(peer has no passkeys)")
            else:
                r = stat(runs, "per_cpu")[0] / peer_ok[s]
                goal = TARGET_RATIO.get(s)
                want = goal[0 if t.endswith("embedded") else 1] if goal else None
                verdict = "" if want is None else (f" (target ≥ {want}×: met)" if r >= want else f" (target ≥ {want}×: MISSED)")
                row.append(f"{r:.2f}×{verdict}")
        ratio_rows.append(row)

    passkey = []
    for t in targets:
        if t == "peer":
            continue
        pw, pk = groups.get(("password_flow", t)), groups.get(("passkey_flow", t))
        if pw and pk and not failed(pw) and not failed(pk):
            r = stat(pk, "per_cpu")[0] / stat(pw, "per_cpu")[0]
            verdict = "met" if r >= 40 else "MISSED"
            passkey.append(f"{TARGETS[t]}: the passkey code flow is {r:.1f}× cheaper in server CPU than the "
                           f"password code flow ({fmt(stat(pk, 'per_cpu')[0])} vs {fmt(stat(pw, 'per_cpu')[0])} flows "
                           f"per server CPU-second; issue 16 item 6 target ≥ 40×: {verdict})")

    title = f"median of {nruns} runs [min–max]; flows count as one request each"
    if markdown:
        def table(h, rs):
            out = ["| " + " | ".join(h) + " |", "|" + "---|" * len(h)]
            out += ["| " + " | ".join(r) + " |" for r in rs]
            return "\n".join(out)
        print(f"Per scenario and target ({title}):\n")
        print(table(head, rows))
        print("\nPortcullis / node-oidc-provider, requests per server CPU-second (ratio of the medians):\n")
        print(table(ratio_head, ratio_rows))
        if passkey:
            print()
            for p in passkey:
                print(f"- {p}")
    else:
        def table(h, rs):
            widths = [max(len(str(x)) for x in col) for col in zip(h, *rs)] if rs else [len(x) for x in h]
            out = ["  ".join(str(x).ljust(w) for x, w in zip(h, widths))]
            out += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in rs]
            return "\n".join(out)
        print(f"Summary ({title}):")
        print(table(head, rows))
        print("\nPortcullis / node-oidc-provider, requests per server CPU-second (ratio of the medians):")
        print(table(ratio_head, ratio_rows))
        for p in passkey:
            print(p)


if __name__ == "__main__":
    main()
