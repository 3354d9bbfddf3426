# a valid OIN that is not the emitter's
out=$(raw --event "$(mk other '.source = "urn:nld:oin:00000001002222222000:systeem:burgerzaken"')" --sign "$TKEY") || die "no reply"
expect_rejected SOURCE_MISMATCH "$out"
