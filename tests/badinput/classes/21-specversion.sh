# specversion 0.3
out=$(raw --event "$(mk spec03 '.specversion = "0.3"')" --sign "$TKEY") || die "no reply"
expect_rejected SPECVERSION_UNSUPPORTED "$out"
