#!/usr/bin/env bash
# make install: every file lands where it should under DESTDIR, the unit
# starts the installed daemon, the man pages render without warnings, and
# a program built with `pkg-config seinpost` against the staged tree signs
# and verifies with libseinpost, both shared and static.
. "$(dirname "$0")/common.sh"
# the staged tree is never kept: it is rebuilt in seconds
trap 'sp_stop_all; rm -rf "$SP_DIR"' EXIT

# man(1) and groff render the pages; apt-get brings them when missing
# (.ci/install-deps lists them for CI).
need() {   # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2 (for $1)" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    { $sudo apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null; } \
        || fail "$1 is missing and apt-get could not install $2"
}
need man man-db
need groff groff-base
need readelf binutils
need pkg-config pkgconf

REPO=$PWD
STAGE=$SP_DIR/stage
PREFIX=/usr/local
ROOT=$STAGE$PREFIX
VERSION=$(sed -n 's/.*SP_VERSION_STRING "\(.*\)"/\1/p' include/seinpost.h)
[ -n "$VERSION" ] || fail "no SP_VERSION_STRING in include/seinpost.h"

# A make started from `make check` must not inherit its jobserver or flags.
sp_make_install() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
        make -s -C "$REPO" install DESTDIR="$1" PREFIX="$2" >"$SP_DIR/make.log" 2>&1 \
        || { tail -20 "$SP_DIR/make.log" >&2; fail "make install DESTDIR=$1 PREFIX=$2"; }
}
sp_make_install "$STAGE" "$PREFIX"

# --- layout -----------------------------------------------------------------
expect() {   # expect MODE PATH: a regular file (or symlink with mode "link")
    local mode=$1 path=$ROOT/$2
    if [ "$mode" = link ]; then
        [ -L "$path" ] || fail "$PREFIX/$2: not a symlink"
        [ -e "$path" ] || fail "$PREFIX/$2: dangling symlink"
        return
    fi
    if [ ! -f "$path" ] || [ -L "$path" ]; then fail "$PREFIX/$2: missing"; fi
    assert_eq "$(stat -c %a "$path")" "$mode" "mode of $PREFIX/$2"
}
expect 755 bin/seinpost
expect 755 sbin/seinpostd
expect 755 lib/libseinpost.so.0
expect link lib/libseinpost.so
expect 644 lib/libseinpost.a
expect 644 include/seinpost.h
expect 644 lib/pkgconfig/seinpost.pc
expect 644 share/man/man1/seinpost.1
expect 644 share/man/man5/seinpost.yaml.5
expect 644 share/man/man8/seinpostd.8
expect 644 lib/systemd/system/seinpostd.service
expect 644 lib/sysusers.d/seinpost.conf
expect 644 lib/tmpfiles.d/seinpost.conf
expect 644 share/seinpost/seinpost.yaml
expect 644 share/seinpost/client.yaml
expect 644 share/seinpost/partner.yaml
assert_eq "$(readlink "$ROOT/lib/libseinpost.so")" libseinpost.so.0 "libseinpost.so points at the soname"
[ -z "$(find "$STAGE" -mindepth 1 -maxdepth 1 ! -name usr)" ] || fail "files outside $PREFIX"
[ -z "$(find "$STAGE/usr" -mindepth 1 -maxdepth 1 ! -name local)" ] || fail "files outside $PREFIX"

for f in seinpost.yaml client.yaml partner.yaml; do
    cmp -s "conf/$f" "$ROOT/share/seinpost/$f" || fail "share/seinpost/$f differs from conf/$f"
done
cmp -s include/seinpost.h "$ROOT/include/seinpost.h" || fail "installed header differs"
cmp -s systemd/seinpost.sysusers "$ROOT/lib/sysusers.d/seinpost.conf" || fail "sysusers file differs"
cmp -s systemd/seinpost.tmpfiles "$ROOT/lib/tmpfiles.d/seinpost.conf" || fail "tmpfiles file differs"
readelf -d "$ROOT/lib/libseinpost.so.0" | grep -q 'SONAME.*\[libseinpost\.so\.0\]' \
    || fail "libseinpost.so.0 has no SONAME libseinpost.so.0"

# The installed programs run and agree with the header on the version.
assert_eq "$("$ROOT/bin/seinpost" --version)" "seinpost $VERSION" "seinpost --version"
assert_eq "$("$ROOT/sbin/seinpostd" --version)" "seinpostd $VERSION" "seinpostd --version"

# --- systemd unit: the daemon's installed path, for start and the check -----
UNIT=$ROOT/lib/systemd/system/seinpostd.service
assert_eq "$(sed -n 's/^ExecStart=//p' "$UNIT")" "$PREFIX/sbin/seinpostd -c /etc/seinpost/seinpost.yaml" \
    "ExecStart of the installed unit"
assert_eq "$(sed -n 's/^ExecStartPre=//p' "$UNIT")" "$PREFIX/sbin/seinpostd -t -c /etc/seinpost/seinpost.yaml" \
    "ExecStartPre of the installed unit"
# and with another prefix the unit follows it
sp_make_install "$SP_DIR/stage-usr" /usr
assert_eq "$(sed -n 's/^ExecStart=//p' "$SP_DIR/stage-usr/usr/lib/systemd/system/seinpostd.service")" \
    "/usr/sbin/seinpostd -c /etc/seinpost/seinpost.yaml" "ExecStart with PREFIX=/usr"
[ -x "$SP_DIR/stage-usr/usr/sbin/seinpostd" ] || fail "PREFIX=/usr: no sbin/seinpostd"
grep -l /usr/local "$SP_DIR/stage-usr/usr/lib/systemd/system/seinpostd.service" \
    "$SP_DIR/stage-usr/usr/lib/pkgconfig/seinpost.pc" && fail "PREFIX=/usr: /usr/local left behind"
rm -rf "$SP_DIR/stage-usr"

# --- man pages: render, no warnings, found by name ----------------------------
MANDIR=$ROOT/share/man
for page in man1/seinpost.1 man5/seinpost.yaml.5 man8/seinpostd.8; do
    MANWIDTH=80 man -l "$MANDIR/$page" >"$SP_DIR/page.txt" 2>"$SP_DIR/page.err"
    [ -s "$SP_DIR/page.txt" ] || fail "man -l $page: no output"
    [ -s "$SP_DIR/page.err" ] && { cat "$SP_DIR/page.err" >&2; fail "man -l $page: warnings"; }
    groff -man -Tutf8 -ww -z "$MANDIR/$page" 2>"$SP_DIR/page.err"
    [ -s "$SP_DIR/page.err" ] && { cat "$SP_DIR/page.err" >&2; fail "groff -ww $page: warnings"; }
    grep -q '^NAME' "$SP_DIR/page.txt" || fail "$page: no NAME section"
done
for ref in "1 seinpost" "5 seinpost.yaml" "8 seinpostd"; do
    # shellcheck disable=SC2086
    found=$(man -M "$MANDIR" -w $ref 2>/dev/null)
    if [ -z "$found" ] || [ ! -f "$found" ]; then fail "man -M $MANDIR $ref: not found"; fi
done

# --- pkg-config and a program built against the staged tree ------------------
export PKG_CONFIG_SYSROOT_DIR=$STAGE
export PKG_CONFIG_PATH=$ROOT/lib/pkgconfig
grep -q '@' "$ROOT/lib/pkgconfig/seinpost.pc" && fail "seinpost.pc has an unsubstituted @VAR@"
assert_eq "$(pkg-config --modversion seinpost)" "$VERSION" "pkg-config --modversion"
flags=$(pkg-config --cflags --libs seinpost) || fail "pkg-config --cflags --libs seinpost"
case " $flags " in *" -I$ROOT/include "*) ;; *) fail "cflags lack -I$ROOT/include: $flags";; esac
case " $flags " in *" -L$ROOT/lib "*) ;; *) fail "libs lack -L$ROOT/lib: $flags";; esac

cat > "$SP_DIR/sign.c" <<'C'
#include <seinpost.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char msg[] = "{\"type\":\"nl.gemeente.burgerzaken.geen-dubbele-bewoning\"}";
    uint8_t sig[SP_SIGNATURE_SIZE];
    char text[80];
    sp_key_t *key = sp_key_generate(), *pub = NULL;
    int rc = 1;
    if (!key || sp_key_sign(key, SP_DOMAIN_SIGNAL, msg, strlen(msg), sig) != 0)
        goto done;
    if (sp_key_verify(key, SP_DOMAIN_SIGNAL, msg, strlen(msg), sig) != 0)
        goto done;                          /* a good signature verifies */
    if (sp_key_verify(key, SP_DOMAIN_RECEIPT, msg, strlen(msg), sig) == 0)
        goto done;                          /* not under another domain */
    /* SEINPOST2 delivery link: a receipt in its own domain, and the batch
       signature over the header's SHA-256 (not over the header itself) */
    static const char body[] = "{\"v\":2,\"subscriber\":\"toeslagen\"}";
    uint8_t rsig[SP_SIGNATURE_SIZE], bsig[SP_SIGNATURE_SIZE], digest[SP_SHA256_SIZE];
    if (strcmp(SP_PROTOCOL_DELIVERY, "SEINPOST2") != 0
        || strcmp(SP_DOMAIN_RECEIPT, "seinpost/2 receipt") != 0
        || sp_key_sign(key, SP_DOMAIN_RECEIPT, body, strlen(body), rsig) != 0
        || sp_key_verify(key, SP_DOMAIN_RECEIPT, body, strlen(body), rsig) != 0
        || sp_key_verify(key, SP_DOMAIN_RECEIPT_V1, body, strlen(body), rsig) == 0)
        goto done;
    sp_sha256(msg, strlen(msg), digest);
    if (sp_batch_sign(key, msg, strlen(msg), bsig) != 0
        || sp_batch_verify(key, msg, strlen(msg), bsig) != 0
        || sp_key_verify(key, SP_DOMAIN_BATCH, digest, sizeof digest, bsig) != 0
        || sp_key_verify(key, SP_DOMAIN_BATCH, msg, strlen(msg), bsig) == 0)
        goto done;                          /* signed: "seinpost/2 batch" 0x00 SHA-256 */
    if (sp_key_public_text(key, text, sizeof text) != 0
        || !(pub = sp_key_from_text(text)) || sp_key_has_secret(pub)
        || strcmp(sp_key_id(pub), sp_key_id(key)) != 0
        || sp_key_verify(pub, SP_DOMAIN_SIGNAL, msg, strlen(msg), sig) != 0)
        goto done;                          /* the public half alone verifies */
    sig[0] ^= 1;
    if (sp_key_verify(pub, SP_DOMAIN_SIGNAL, msg, strlen(msg), sig) == 0)
        goto done;                          /* a changed signature does not */
    printf("OK %s %s\n", SP_VERSION_STRING, sp_key_id(key));
    rc = 0;
done:
    sp_key_destroy(&pub);
    sp_key_destroy(&key);
    return rc;
}
C
CC=${CC:-cc}
WFLAGS="-std=c11 -Wall -Wextra -Werror -Wstrict-prototypes"
# shared: -lseinpost picks libseinpost.so; it runs with LD_LIBRARY_PATH
# shellcheck disable=SC2046,SC2086
$CC $WFLAGS -o "$SP_DIR/sign-shared" "$SP_DIR/sign.c" $(pkg-config --cflags --libs seinpost) \
    2>"$SP_DIR/cc.err" || { cat "$SP_DIR/cc.err" >&2; fail "cc against the shared library"; }
readelf -d "$SP_DIR/sign-shared" | grep -q 'NEEDED.*\[libseinpost\.so\.0\]' \
    || fail "sign-shared does not need libseinpost.so.0"
out=$(LD_LIBRARY_PATH=$ROOT/lib "$SP_DIR/sign-shared") || fail "sign-shared failed"
case $out in "OK $VERSION "*) ;; *) fail "sign-shared printed '$out'";; esac
LD_LIBRARY_PATH=$ROOT/lib ldd "$SP_DIR/sign-shared" | grep -q "libseinpost.so.0 => $ROOT/lib/" \
    || fail "sign-shared did not load the staged libseinpost.so.0"

# static: the archive itself, then the libraries seinpost.pc requires
# privately, linked from the host (`pkg-config --static` would also pull
# in Debian's libzmq private flags, which name a libprotokit.a that is not
# shipped)
deps=$(pkg-config --print-requires-private seinpost | awk '{ print $1 }')
[ -n "$deps" ] || fail "seinpost.pc has no Requires.private"
# shellcheck disable=SC2086
dep_libs=$(env -u PKG_CONFIG_SYSROOT_DIR pkg-config --libs $deps) || fail "pkg-config --libs $deps"
# shellcheck disable=SC2046,SC2086
$CC $WFLAGS -o "$SP_DIR/sign-static" "$SP_DIR/sign.c" $(pkg-config --cflags seinpost) \
    $(pkg-config --libs-only-L seinpost) -l:libseinpost.a $dep_libs \
    2>"$SP_DIR/cc.err" || { cat "$SP_DIR/cc.err" >&2; fail "cc against the static library"; }
readelf -d "$SP_DIR/sign-static" | grep -q 'libseinpost' && fail "sign-static needs libseinpost.so"
out=$(env -u LD_LIBRARY_PATH "$SP_DIR/sign-static") || fail "sign-static failed"
case $out in "OK $VERSION "*) ;; *) fail "sign-static printed '$out'";; esac

# the header is usable from C++ as well (extern "C")
if command -v c++ >/dev/null 2>&1; then
    printf '#include <seinpost.h>\nint main() { sp_key_t *k = sp_key_generate(); sp_key_destroy(&k); }\n' \
        > "$SP_DIR/cxx.cc"
    # shellcheck disable=SC2046
    c++ -Wall -Werror -o "$SP_DIR/cxx" "$SP_DIR/cxx.cc" $(pkg-config --cflags --libs seinpost) \
        2>"$SP_DIR/cc.err" || { cat "$SP_DIR/cc.err" >&2; fail "C++ build against seinpost.h"; }
fi

echo "install OK: $(cd "$STAGE" && find . -type f -o -type l | wc -l) files; $out"
