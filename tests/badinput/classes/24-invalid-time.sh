# month 13, hour 25
out=$(raw --event "$(mk badtime '.time = "2026-13-45T25:61:00Z"')" --sign "$TKEY") || die "no reply"
expect_rejected TIME_INVALID "$out"
