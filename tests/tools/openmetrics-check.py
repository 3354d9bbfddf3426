#!/usr/bin/python3
"""openmetrics-check.py FILE: parses FILE as OpenMetrics text with the
reference parser (python3-prometheus-client); prints "name{labels} value"
per sample, exits 1 on a format error."""
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families

try:
    for family in text_string_to_metric_families(open(sys.argv[1]).read()):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            print(f"{s.name}{{{labels}}} {s.value}")
except Exception as e:  # the parser raises ValueError with the bad line
    print(f"not OpenMetrics: {e}", file=sys.stderr)
    sys.exit(1)
