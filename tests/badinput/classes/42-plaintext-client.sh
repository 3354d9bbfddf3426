# a plain-text (NULL mechanism) client on the CURVE port
# The NULL-vs-CURVE mechanism mismatch fails before ZAP is asked; the
# daemon's ingress monitor audits it (rate-limited, so 1..20 here).
out=$("$RAWEMIT" --endpoint "$INGRESS" --event "$(mk good '.')" --sign "$TKEY" --timeout 1000 2>/dev/null)
expect_no_reply $? "$out"
expect_audit connection.refused - 1 20
