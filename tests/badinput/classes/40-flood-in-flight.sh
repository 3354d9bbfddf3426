# 200 signals at once from an emitter with max_in_flight 5
# every line is refused: OVERLOADED beyond the limit in a turn, the rest
# TYPE_NOT_ALLOWED, so that nothing of the flood is stored
line=$(jq -c '.type = "nl.gemeente.burgerzaken.adresonderzoek-gestart" | .data = {"gemeentecode": "0855", "aanleiding": "flood"}' "$BASE")
for i in $(seq 200); do printf '%s\n' "${line/0193a8e2-5c1e-7d3a-9f10-2b6f4e1c8a01/flood-$i}"; done > "$SP_DIR/flood.jsonl"
"$SP_BIN/seinpost" emit -c "$SP_DIR/burgerzaken.yaml" --stream --window 200 \
    < "$SP_DIR/flood.jsonl" > "$SP_DIR/flood.out" 2> "$SP_DIR/flood.err"
over=$(grep -c '^REJECTED line-[0-9]* OVERLOADED' "$SP_DIR/flood.err")
other=$(grep -c '^REJECTED line-[0-9]* TYPE_NOT_ALLOWED' "$SP_DIR/flood.err")
[ "$over" -ge 1 ] || die "no OVERLOADED among 200 at once ($other TYPE_NOT_ALLOWED; $(tail -1 "$SP_DIR/flood.err"))"
[ $((over + other)) -eq 200 ] || die "expected 200 answers, got $over OVERLOADED + $other TYPE_NOT_ALLOWED"
expect_audit signal.rejected - 200
n=$(sp_sql "SELECT COUNT(*) FROM (SELECT detail FROM audit WHERE kind = 'signal.rejected' ORDER BY seq DESC LIMIT 200) WHERE json_extract(detail, '$.code') = 'OVERLOADED'")
[ "$n" = "$over" ] || die "$over OVERLOADED replies but $n OVERLOADED audit events"
