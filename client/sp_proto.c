/*  sp_proto.c - receiving and sending whole multipart messages, CURVE setup. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sp_proto.h"
#include "sp_util.h"

int sp_frames_recv(sp_frames_t *self, void *socket, size_t max_frames,
                   size_t max_bytes, int flags)
{
    int more = 0;
    size_t more_size = sizeof more;
    if (max_frames > SP_MAX_FRAMES)
        max_frames = SP_MAX_FRAMES;
    self->count = self->dropped = self->total = 0;
    self->oversize = false;
    do {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, socket, flags) < 0) {
            int saved = errno;
            zmq_msg_close(&part);
            if (self->count == 0 && self->dropped == 0) {
                errno = saved;
                return -1;
            }
            break;      /* a partial message cannot happen in ZeroMQ; be safe */
        }
        flags &= ~ZMQ_DONTWAIT;     /* the rest of a message is already here */
        self->total += zmq_msg_size(&part);
        if (self->total > max_bytes)
            self->oversize = true;
        if (self->count < max_frames && !self->oversize)
            self->part[self->count++] = part;
        else {
            zmq_msg_close(&part);
            self->dropped++;
        }
        if (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &more_size) != 0)
            more = 0;
    } while (more);
    return 0;
}

void sp_frames_close(sp_frames_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        zmq_msg_close(&self->part[i]);
    self->count = 0;
}

const void *sp_frame_data(sp_frames_t *self, size_t index)
{
    return index < self->count ? zmq_msg_data(&self->part[index]) : NULL;
}

size_t sp_frame_size(sp_frames_t *self, size_t index)
{
    return index < self->count ? zmq_msg_size(&self->part[index]) : 0;
}

bool sp_frame_is(sp_frames_t *self, size_t index, const char *text)
{
    size_t len = strlen(text);
    return index < self->count && sp_frame_size(self, index) == len
        && memcmp(sp_frame_data(self, index), text, len) == 0;
}

int sp_frame_string(sp_frames_t *self, size_t index, char *buf, size_t len)
{
    size_t size = sp_frame_size(self, index);
    if (index >= self->count || size >= len)
        return -1;
    memcpy(buf, sp_frame_data(self, index), size);
    buf[size] = '\0';
    if (strlen(buf) == size)
        return 0;
    buf[0] = '\0';             /* an embedded NUL: no truncated text */
    return -1;
}

bool sp_text_printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

bool sp_text_hex(const char *text, size_t len)
{
    size_t n = strspn(text, "0123456789abcdef");
    return n == len && text[n] == '\0';
}

int sp_send_parts(void *socket, const void *const *data, const size_t *size,
                  size_t count, int flags)
{
    for (size_t i = 0; i < count; i++) {
        int more = i + 1 < count ? ZMQ_SNDMORE : 0;
        if (zmq_send(socket, data[i], size[i], flags | more) < 0)
            return -1;
    }
    return 0;
}

int sp_socket_curve_server(void *socket, const char *secret_z85)
{
    int one = 1;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVER, &one, sizeof one) != 0)
        return -1;
    return zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_z85, 40);
}

int sp_socket_curve_client(void *socket, const char *public_z85,
                           const char *secret_z85, const char *server_z85)
{
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, server_z85, 40) != 0
        || zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, public_z85, 40) != 0
        || zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, secret_z85, 40) != 0)
        return -1;
    return 0;
}

static int s_curve_field(const char *text, const char *name, char out[41])
{
    const char *at = strstr(text, name);
    if (!at)
        return -1;
    at += strlen(name);
    while (*at == ' ')
        at++;
    if (strspn(at, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#") < 40)
        return -1;
    memcpy(out, at, 40);
    out[40] = '\0';
    return 0;
}

int sp_curve_load(const char *path, char public_z85[41], char secret_z85[41],
                  char *err, size_t errlen)
{
    struct stat st;
    char *text = NULL;
    int rc = -1;
    if (stat(path, &st) == 0 && secret_z85 && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(err, errlen, "%s: secret key is accessible by group or others "
                 "(mode %03o); chmod 600 it", path, (unsigned) (st.st_mode & 0777));
        return -1;
    }
    text = sp_file_read(path, 4096, NULL);
    if (!text) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char derived[41];
    if (s_curve_field(text, "public:", public_z85) != 0
        || (secret_z85 && s_curve_field(text, "secret:", secret_z85) != 0))
        snprintf(err, errlen, "%s: not a seinpost CURVE key file", path);
    else if (secret_z85 && (zmq_curve_public(derived, secret_z85) != 0
                            || strcmp(derived, public_z85) != 0))
        /* a mismatch would only show as every handshake failing */
        snprintf(err, errlen, "%s: the public key is not the one of the secret key", path);
    else
        rc = 0;
    memset(text, 0, strlen(text));
    free(text);
    return rc;
}

int sp_curve_generate(const char *path, char public_z85[41])
{
    char secret[41], text[160];
    if (zmq_curve_keypair(public_z85, secret) != 0)
        return -1;
    int len = snprintf(text, sizeof text,
                       "# seinpost CURVE key pair (ZeroMQ Z85)\npublic: %s\nsecret: %s\n",
                       public_z85, secret);
    int rc = sp_file_write_atomic(path, text, (size_t) len, 0600);
    memset(secret, 0, sizeof secret);
    memset(text, 0, sizeof text);
    return rc;
}
