#!/usr/bin/env bash
# Checks that every query of the Grafana dashboard is valid PromQL (promtool
# parses them as recording rules) and names only metrics p06 or the rules
# define. Run from the repository root; needs promtool and python3.
set -euo pipefail
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
python3 - deploy/grafana/dashboards/p06.json "$dir/rules.yml" <<'PY'
import json, re, sys
dashboard = json.load(open(sys.argv[1]))
known = {"rpc_server_call_duration_seconds", "rpc_client_call_duration_seconds",
         "p06_gateway_auth_failures_total", "p06_gateway_rate_limited_total",
         "p06_gateway_shed_total", "p06_gateway_in_flight", "p06_tasks_writes_total",
         "p06_tasks_feed_head", "p06_notifications_feed_cursor",
         "p06_notifications_reminders_total", "p06_notifications_deliveries_total",
         "p06_notifications_delivery_attempts_total", "p06_notifications_dead_letters_total",
         "p06_notifications_deliveries_pending", "p06_notifications_delivery_lag_seconds",
         "p06_notifications_contacts_lookups_total", "db_client_connection_count",
         "db_client_connection_max", "db_client_connection_wait_time_seconds",
         "p06_db_transaction_wait_seconds", "p06:feed_lag"}
lines = ["groups:", "  - name: dashboard", "    rules:"]
i = 0
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$__rate_interval", "5m")
        names = re.findall(r"([a-z_:][a-z0-9_:]*)\{", expr) or [expr.strip()]
        for name in names:
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if base not in known and name not in known:
                sys.exit(f"panel {panel['title']!r} queries unknown metric {name}")
        lines.append(f"      - record: dashboard:query{i}")
        lines.append("        expr: " + json.dumps(expr))
        i += 1
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print(f"{i} dashboard queries")
PY
promtool check rules "$dir/rules.yml"
promtool check rules deploy/prometheus/rules.yml
