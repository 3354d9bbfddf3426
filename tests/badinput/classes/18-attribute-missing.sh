# no time attribute
out=$(raw --event "$(mk notime 'del(.time)')" --sign "$TKEY") || die "no reply"
expect_rejected ATTRIBUTE_MISSING "$out"
