/*  zap.c - answers CURVE handshakes from the configured emitter keys.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_proto.h"
#include "sp_util.h"
#include "zap.h"

enum { ZAP_VERSION, ZAP_REQUEST_ID, ZAP_DOMAIN, ZAP_ADDRESS, ZAP_IDENTITY,
       ZAP_MECHANISM, ZAP_CREDENTIALS, ZAP_FRAMES };

int zap_setup(server_t *self, char *err, size_t errlen)
{
    int zero = 0;
    self->zap = zmq_socket(self->zmq, ZMQ_REP);
    if (!self->zap)
        goto failed;
    zmq_setsockopt(self->zap, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(self->zap, ZAP_ENDPOINT) != 0)
        goto failed;
    return 0;
failed:
    snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(zmq_errno()));
    return -1;
}

void zap_teardown(server_t *self)
{
    if (self->zap)
        zmq_close(self->zap);
    self->zap = NULL;
    if (self->zap_monitor)
        zmq_close(self->zap_monitor);
    self->zap_monitor = NULL;
}

static void s_audit_refusal(server_t *self, const char *address, const char *why);

#define ZAP_MONITOR_ENDPOINT "inproc://seinpost.ingress.monitor"

int zap_monitor_setup(server_t *self, char *err, size_t errlen)
{
    int zero = 0;
    if (zmq_socket_monitor(self->ingress, ZAP_MONITOR_ENDPOINT,
                           ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                           | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0
        || !(self->zap_monitor = zmq_socket(self->zmq, ZMQ_PAIR))
        || zmq_setsockopt(self->zap_monitor, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_connect(self->zap_monitor, ZAP_MONITOR_ENDPOINT) != 0) {
        snprintf(err, errlen, "ingress monitor: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

void zap_monitor_handle(server_t *self)
{
    sp_frames_t frames;
    for (int i = 0; i < 64; i++) {
        if (sp_frames_recv(&frames, self->zap_monitor, 4, 4096, ZMQ_DONTWAIT) != 0)
            return;
        char endpoint[128] = "?";
        sp_frame_string(&frames, 1, endpoint, sizeof endpoint);
        if (frames.count >= 1 && sp_frame_size(&frames, 0) >= 2) {
            uint16_t event;
            memcpy(&event, sp_frame_data(&frames, 0), sizeof event);
            s_audit_refusal(self, endpoint, event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            ? "handshake failed: wrong security mechanism (plain "
                              "text on a CURVE endpoint?) or protocol error"
                            : "handshake failed: broken or cut greeting");
        }
        sp_frames_close(&frames);
    }
}

static void s_audit_refusal(server_t *self, const char *address, const char *why)
{
    int64_t minute = sp_clock_ms() / 60000;
    if (minute != self->zap_minute) {
        self->zap_minute = minute;
        self->zap_audited = 0;
    }
    self->stats.connections_refused++;
    if (self->zap_audited++ >= ZAP_AUDIT_PER_MINUTE || store_begin(self->store) != 0)
        return;
    audit_append(self->audit, AUDIT_CONNECTION_REFUSED, NULL, 0, NULL,
                 json_pack("{s:s, s:s, s:I}", "address", address, "reason", why,
                           "refused_total", (json_int_t) self->stats.connections_refused));
    sp_log(SP_LOG_WARNING, "refused a connection from %s: %s", address, why);
}

static void s_reply(server_t *self, sp_frames_t *f, const char *status,
                    const char *text, const char *user)
{
    const void *parts[] = { "1.0", sp_frame_data(f, ZAP_REQUEST_ID), status, text, user, "" };
    size_t sizes[] = { 3, sp_frame_size(f, ZAP_REQUEST_ID), 3, strlen(text), strlen(user), 0 };
    sp_send_parts(self->zap, parts, sizes, 6, 0);
}

static void s_request(server_t *self, sp_frames_t *f)
{
    char address[64] = "?", z85[41] = "";
    const emitter_t *emitter = NULL;
    sp_frame_string(f, ZAP_ADDRESS, address, sizeof address);
    if (f->count != ZAP_FRAMES || !sp_frame_is(f, ZAP_VERSION, "1.0")
        || !sp_frame_is(f, ZAP_MECHANISM, "CURVE")
        || sp_frame_size(f, ZAP_CREDENTIALS) != 32) {
        s_audit_refusal(self, address, "not a CURVE handshake");
        return s_reply(self, f, "400", "CURVE required", "");
    }
    zmq_z85_encode(z85, sp_frame_data(f, ZAP_CREDENTIALS), 32);
    emitter = config_emitter_by_curve(self->config, z85);
    if (!emitter) {
        s_audit_refusal(self, address, "CURVE key of no configured emitter");
        return s_reply(self, f, "400", "unknown key", "");
    }
    /* the key, not the emitter's name: ingress compares it with the
       configuration of the moment, so that a key a reload removed or
       changed stops working on connections already open              */
    s_reply(self, f, "200", "OK", z85);
}

void zap_handle(server_t *self)
{
    sp_frames_t frames;
    for (int i = 0; i < 64; i++) {
        if (sp_frames_recv(&frames, self->zap, ZAP_FRAMES + 1, 4096, ZMQ_DONTWAIT) != 0)
            return;
        if (frames.count > ZAP_REQUEST_ID)
            s_request(self, &frames);
        sp_frames_close(&frames);
    }
}
