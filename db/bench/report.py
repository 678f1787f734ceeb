#!/usr/bin/env python3
"""Prints db/bench/suite.sh's tables from its results.jsonl (one JSON line per
measurement, with a "step" field) and writes the medians and raw lines to
results.json. Exits 1 when a sanity check fails (webhooks missing, duplicated
or badly signed, a drain that timed out), so a smoke run can fail.

    python3 db/bench/report.py results.jsonl [results.json]
"""
import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def rng(xs, fmt, unit=""):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    if len(xs) == 1 or min(xs) == max(xs):
        return fmt(xs[0]) + unit
    return f"{fmt(med(xs))} ({fmt(min(xs))}–{fmt(max(xs))}){unit}"


def us(x):
    return "—" if x is None else f"{x:,.0f} µs"


def num(x):
    return "—" if x is None else f"{x:,.0f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def msf(x):
    return "—" if x is None else f"{x:,.1f}"


def times(x):
    return "—" if x is None else f"{x:.2f}×"


def table(rows):
    if len(rows) < 2:
        return
    w = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print(" | ".join(str(s).ljust(w[i]) for i, s in enumerate(r)).rstrip())
        if k == 0:
            print("-|-".join("-" * n for n in w))


def cpu(rep, group, key="cpu_us_per_event"):
    return (rep.get(key) or {}).get(group)


def main():
    lines = load(sys.argv[1])
    out = {"raw": lines}
    failures = []
    by = {}
    for line in lines:
        by.setdefault(line["step"], []).append(line)

    ingest = by.get("ingest", [])
    if ingest:
        def sel(who, kind):
            return [x for x in ingest if x["who"] == who and x["kind"] == kind]

        rounds = max(x["round"] for x in ingest)
        print(f"Ingest: CPU per event, {rounds} round(s) alternated; median (min–max)")
        rows = [("what", "events/s", "PostgreSQL CPU/event", "serve CPU/event", "PG + serve", "WAL records / buffer hits / commits per event", "pgbench's PG cost ÷ this")]
        summary = {}
        for kind, pgname, soname in (("single", "pgbench, one transaction per event, 16 clients", "POST /api/events, 32 clients"),
                                     ("batch", "pgbench, 100 events per transaction, 4 clients", "POST /api/events/batch (100), 4 clients")):
            pb, so = sel("pgbench", kind), sel("signalops", kind)
            pb_pg = med([x["pg_us"] for x in pb])
            so_pg, so_serve = med([x["pg_us"] for x in so]), med([x.get("serve_us") for x in so])
            so_both = [None if x["pg_us"] is None or x.get("serve_us") is None else x["pg_us"] + x["serve_us"] for x in so]
            work = lambda xs: f"{med([x['wal'] for x in xs]):.1f} / {med([x['hits'] for x in xs]):.1f} / {med([x['commits'] for x in xs]):.3f}" if xs else "—"
            if pb:
                rows.append((pgname, rng([x["events_per_s"] for x in pb], num), rng([x["pg_us"] for x in pb], num, " µs"), "—", "—", work(pb), ""))
            if so:
                rows.append((soname, rng([x["events_per_s"] for x in so], num), rng([x["pg_us"] for x in so], num, " µs"),
                             rng([x.get("serve_us") for x in so], num, " µs"), rng(so_both, num, " µs"), work(so),
                             f"PG {times(ratio(pb_pg, so_pg))}, PG + serve {times(ratio(pb_pg, med(so_both)))}"))
            summary[kind] = {"pgbench_pg_us": pb_pg, "pg_us": so_pg, "serve_us": so_serve, "pg_serve_us": med(so_both),
                             "pgbench_events_per_s": med([x["events_per_s"] for x in pb]),
                             "events_per_s": med([x["events_per_s"] for x in so]),
                             "pg_ratio": ratio(pb_pg, so_pg), "pg_serve_ratio": ratio(pb_pg, med(so_both))}
            for x in so:
                if x.get("errors"):
                    failures.append(f"ingest {kind} round {x['round']}: errors {x['errors']}")
        table(rows)
        s, b = summary.get("single", {}), summary.get("batch", {})
        print("targets (issue 14): single PG ≥ 2.5× cheaper than pgbench's one tx/event: "
              f"{times(s.get('pg_ratio'))}; single PG + serve ≥ 1.0×: {times(s.get('pg_serve_ratio'))}; "
              f"batch PG + serve ≥ 0.6× pgbench's 100/tx: {times(b.get('pg_serve_ratio'))}; "
              f"serve ≤ 120 µs/request: {us(s.get('serve_us'))}; ≤ 15 µs/batched event: {us(b.get('serve_us'))}")
        print()
        out["ingest"] = summary

    rows = [("figure", "measured", "detail", "target")]
    if "tenants" in by:
        t = by["tenants"][-1]
        one, many = t["one"], t["many"]
        rows.append((f"1 tenant vs {t['tenants']} tenants, 64 clients", f"{one['events_per_s']:,.0f}/s vs {many['events_per_s']:,.0f}/s",
                     f"{one['events_per_s'] / many['events_per_s']:.2f}×; PG + serve {us(cpu(one, 'total'))} vs {us(cpu(many, 'total'))} per event", "≥ 0.85×"))
        out["tenants"] = {"one": one["events_per_s"], "many": many["events_per_s"]}
        for name, x in (("one tenant", one), ("many tenants", many)):
            if x.get("errors"):
                failures.append(f"tenants ({name}): errors {x['errors']}: the figure measures refusals")
    if "latency" in by:
        t = by["latency"][-1]
        h = t["half"]
        rows.append((f"p99 at half the max rate ({t['max_rate'] // 2:,}/s open loop)", f"p50 {msf(h['p50_ms'])} ms, p99 {msf(h['p99_ms'])} ms",
                     f"{h['events_per_s']:,.0f}/s served, {h['dropped']} dropped", "p99 < 25 ms"))
        rows.append(("serve peak RSS (VmHWM)", f"{t['rss_kb'] / 1024:.0f} MB", "", "< 150 MB"))
        out["latency"] = {"p50_ms": h["p50_ms"], "p99_ms": h["p99_ms"], "rss_mb": t["rss_kb"] / 1024}
    for f in by.get("e2e-floor", []):
        rows.append((f"pgbench floor at {f['rate']:g}/s (e2e-floor.sql, 1 client)", f"{f['events']} events",
                     f"PostgreSQL CPU per event {us(f['pg_us'])}", ""))
        out.setdefault("e2e_floor", {})[str(int(f["rate"]))] = {"pg_us": f["pg_us"], "events": f["events"]}
    for f in by.get("e2e-pipeline-floor", []):
        if f.get("skipped"):
            rows.append(("pipeline floor (db/bench/floor)", "skipped", f["skipped"], ""))
            continue
        rows.append((f"pipeline floor at {f['rate']:g}/s (db/bench/floor)", f"p50 {msf(f['p50_ms'])} / p95 {msf(f['p95_ms'])} / p99 {msf(f['p99_ms'])} ms",
                     f"CPU per event: PG {us(cpu(f, 'pg'))}, serve {us(cpu(f, 'serve'))}, work {us(cpu(f, 'work'))}, total {us(cpu(f, 'total'))}; "
                     f"{f['delivered']} of {f['sent']} delivered, {f['duplicates']} dup", ""))
        out.setdefault("e2e_pipeline_floor", {})[str(int(f["rate"]))] = {k: f.get(k) for k in ("p50_ms", "p99_ms", "delivered", "cpu_us_per_event")}
        if f["delivered"] < f["sent"] - f["failed"] or f["failed"]:
            failures.append(f"pipeline floor at {f['rate']}/s: {f['sent'] - f['delivered']} of {f['sent']} not delivered ({f['failed']} refused)")
    for e in by.get("e2e", []):
        target = {50: "p50 < 20 ms; ≤ 4 ms CPU/event", 200: "p50 < 30, p99 < 200 ms"}.get(int(e["rate"]), "")
        rows.append((f"event → signed webhook at {e['rate']:g}/s", f"p50 {msf(e['p50_ms'])} / p95 {msf(e['p95_ms'])} / p99 {msf(e['p99_ms'])} ms",
                     f"CPU per event: PG {us(cpu(e, 'pg'))}, serve {us(cpu(e, 'serve'))}, work {us(cpu(e, 'work'))}, total {us(cpu(e, 'total'))}; "
                     f"{e['delivered']} delivered, {e['missing']} missing, {e['duplicates']} dup", target))
        out.setdefault("e2e", {})[str(int(e["rate"]))] = {k: e.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "delivered", "cpu_us_per_event")}
        if e["missing"] or e["duplicates"] or e["invalid_signatures"]:
            failures.append(f"e2e at {e['rate']}/s: {e['missing']} missing, {e['duplicates']} duplicates, {e['invalid_signatures']} bad signatures")
    if "keepup" in by:
        k = by["keepup"][-1]
        rows.append((f"keep up: {k['rate']:,} events/s in, 10 rules", f"backlog peak {k['peak']}, {k['final']} left 2 s after", f"{k['total']} events", "no backlog growth"))
        out["keepup"] = {"peak": k["peak"], "final": k["final"]}
    for name, what, unit_key, target in (("drain", "work, events matching no rule", "cpu_us_per_event", "PG ≤ 150, work ≤ 80 µs/event"),
                                         ("deliver", "work, one webhook per event", "cpu_us_per_delivery", ""),
                                         ("eval", "work, 10 rules per event, no delivery", "cpu_us_per_event", "")):
        for d in by.get(name, []):
            exact = d.get("exact") or {}
            ev = exact.get("event_process_per_s") or d["processed_per_s"]
            rate = f"{ev:,.0f} events/s"
            if d.get("deliver"):
                rate += f", {exact.get('notify_deliver_per_s') or d.get('delivered_per_s', 0):,.0f} webhooks/s"
            per = "delivery" if unit_key == "cpu_us_per_delivery" else "event"
            rows.append((what, rate, f"CPU per {per}: PG {us(cpu(d, 'pg', unit_key))}, work {us(cpu(d, 'work', unit_key))}; "
                         f"{d['processed']} of {d['events']} processed", target))
            out[name] = {k: d.get(k) for k in ("processed_per_s", "delivered_per_s", "cpu_us_per_event", "cpu_us_per_delivery", "exact")}
            if d.get("timed_out") or d.get("invalid_signatures"):
                failures.append(f"{name}: timed out or bad signatures")
    if "noisy" in by:
        n = by["noisy"][-1]
        r, q = n["bench"], n["sql"]
        rows.append((f"noisy neighbour: B at {r['rate']:g}/s, A floods (fire={r['flood_fire']})",
                     f"B p50 {msf(r['p50_ms'])} / p95 {msf(r['p95_ms'])} / p99 {msf(r['p99_ms'])} ms",
                     f"queued while B sent: start {r['backlog_at_start']:,}, min {r['backlog_min']:,}, max {r['backlog_max']:,}, end {r['backlog_at_end']:,}; "
                     f"{r.get('backlog_at_last_delivery', 0):,} at B's last webhook, {r['measured_until_s']:.1f} s after its first send "
                     f"(per tenant, sampled: A peak {q['a_peak']:,}, B peak {q['b_peak']:,}); A sent {r['flood_events_per_s']:,.0f} events/s; "
                     f"{r['delivered']} of B's delivered, {r['missing']} missing", f"p99 < 250 ms with ≥ {r['backlog_target']:,} queued"))
        out["noisy"] = {k: r.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "backlog_at_start", "backlog_min", "backlog_max", "backlog_at_end", "backlog_at_last_delivery", "flood_events_per_s")}
        out["noisy"].update(q)
        if r["missing"] or r["duplicates"] or r["invalid_signatures"]:
            failures.append(f"noisy: {r['missing']} missing, {r['duplicates']} duplicates, {r['invalid_signatures']} bad signatures")
    hostile = by.get("hostile", [])
    if hostile:
        def medians(kind):
            xs = [h["bench"] for h in hostile if h["kind"] == kind]
            return {k: med([x[k] for x in xs]) for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")} if xs else None
        quiet, attack, control = medians("quiet"), medians("attack"), medians("control")
        for h in hostile:
            r, p = h["bench"], h["proc"]
            what = f"hostile templates, round {h['round']}: B at {r['rate']:g}/s " + \
                {"quiet": "alone", "attack": "while A attacks", "control": "while A sends the payloads, no hostile template"}[h["kind"]]
            detail = f"serve {p['serve_kb'] / 1024:.0f} MB, work {p['work_kb'] / 1024:.0f} MB peak RSS; {r['delivered']} of B's delivered, {r['missing']} missing"
            if h["kind"] != "quiet":
                detail += f"; A sent {r['flood_events']} ~140 KB events ({r['flood_events_per_s']:.1f}/s), {p['failed_deliveries']} actions failed explained, " \
                          f"{r.get('flood_delivered', 0)} harmless ones delivered; static attacks {r.get('static_attacks')}; " + \
                          "; ".join(f"healthz {x['url'].split('/')[2]}: {x['probes']} probes, {x['failures']} failed, p99 {msf(x['p99_ms'])} max {msf(x['max_ms'])} ms" for x in r.get("health", []))
                if any(x["failures"] for x in r.get("health", [])) or any(c != 422 for c in (r.get("static_attacks") or {}).values()):
                    failures.append(f"hostile round {h['round']}: a /healthz probe failed or a static attack was not refused with 422")
            if not all(h["alive"].values()):
                failures.append(f"hostile round {h['round']} ({h['kind']}): a process died: {h['alive']}")
            if r["missing"] or r["duplicates"] or r["invalid_signatures"]:
                failures.append(f"hostile round {h['round']} ({h['kind']}): {r['missing']} missing, {r['duplicates']} duplicates, {r['invalid_signatures']} bad signatures")
            rows.append((what, f"p50 {msf(r['p50_ms'])} / p95 {msf(r['p95_ms'])} / p99 {msf(r['p99_ms'])} ms, max {msf(r['max_ms'])}", detail,
                         "RSS < 200 MB, healthz < 100 ms, B's latency as alone" if h["kind"] == "attack" else ""))
        out["hostile"] = {"quiet": quiet, "attack": attack, "control": control}
    table(rows)
    if hostile:
        print(f"hostile templates, medians of the rounds: B alone {quiet}; B while A attacks {attack}; B while A sends the payloads without hostile templates {control}")

    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(out, f, indent=1)
    for f in failures:
        print(f"CHECK FAILED: {f}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
