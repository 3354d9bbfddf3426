# a type that is not configured
out=$(raw --event "$(mk unknowntype '.type = "nl.gemeente.burgerzaken.niet-geconfigureerd"')" --sign "$TKEY") || die "no reply"
expect_rejected TYPE_UNKNOWN "$out"
