# source not a urn:nld:oin URN
out=$(raw --event "$(mk badsource '.source = "https://burgerzaken.example/tilburg"')" --sign "$TKEY") || die "no reply"
expect_rejected SOURCE_INVALID "$out"
