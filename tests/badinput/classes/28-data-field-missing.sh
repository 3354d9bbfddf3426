# a required data field left out
out=$(raw --event "$(mk nobsn 'del(.data.bewonerBsn)')" --sign "$TKEY") || die "no reply"
expect_rejected DATA_FIELD_MISSING "$out"
