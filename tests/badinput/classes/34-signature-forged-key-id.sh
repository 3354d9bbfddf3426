# a valid signature by another key, claiming the emitter's key id
kid=$(sp_sql "SELECT key_id FROM signals WHERE emitter = 'burgerzaken-breda' LIMIT 1")
[ ${#kid} -eq 16 ] || die "setup: no key id of Breda ('$kid')"
out=$(raw_breda --event "$(mk good '.')" --sign "$SP_DIR/keys/toeslagen.key" --key-id "$kid") || die "no reply"
expect_rejected SIGNATURE_INVALID "$out"
