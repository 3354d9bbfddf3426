# valid signature by an emitter not allowed the type
f=$(mk notallowed '.type = "nl.gemeente.burgerzaken.adresonderzoek-gestart" | .data = {"gemeentecode": "0855", "aanleiding": "melding"}')
out=$(raw --event "$f" --sign "$TKEY") || die "no reply"
expect_rejected TYPE_NOT_ALLOWED "$out"
