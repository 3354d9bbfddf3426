# an id accepted before (a background signal), sent again with other content
f=$(jq -c --arg s urn:nld:oin:00000001002222222000:systeem:burgerzaken \
      '.id = "bg-1" | .source = $s | .data.gemeentecode = "0796"' "$BASE")
printf '%s' "$f" > "$SP_DIR/replay.json"
out=$(raw_breda --event "$SP_DIR/replay.json" --sign "$BKEY") || die "no reply"
expect_rejected REPLAY "$out"
