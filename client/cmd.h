/*  cmd.h - the seinpost command-line tool: one file per command group,
    dispatched from a table in seinpost.c as smtpctl does.               */
#ifndef CMD_H_INCLUDED
#define CMD_H_INCLUDED

#include <stdbool.h>
#include <jansson.h>
#include "db.h"
#include "seinpost.h"

/*  Exit codes shared by every command. */
enum { CMD_OK = 0, CMD_REJECTED = 1, CMD_USAGE = 2, CMD_FAILED = 3 };
/*  `listen` only: its HTTP sink answered 410 Gone (4 is audit verify's). */
enum { CMD_SINK_GONE = 5 };

/*  A client configuration (emitter or partner side), see conf/client.yaml
    and conf/partner.yaml. Every member is optional in the file; each
    command checks for what it needs.                                    */
typedef struct {
    char *path;
    char *endpoint;             /* emit: the daemon's ingress */
    char *listen;               /* listen: where this partner binds */
    char *signing_key_path;
    sp_key_t *signing_key;
    char *source;               /* emit: CloudEvents source */
    char *curve_secret_path;
    char *server_curve_public;  /* emit: the daemon's CURVE public key */
    sp_key_t *router_key;       /* listen: the router's Ed25519 key */
    sp_key_t **router_other_keys;   /* listen: more of them, for a rotation */
    size_t router_other_count;
    sp_key_t **emitter_keys;    /* listen: emitters it trusts */
    size_t emitter_key_count;
    char *subscriber;           /* listen: the router's name for it */
    char **subscriptions;       /* listen: the ones it accepts (NULL-ended) */
    size_t subscription_count;
    char **router_curve;        /* listen: routers' CURVE keys (NULL-ended) */
    size_t router_curve_count;
    char *state_db;             /* listen: its dedup state (default beside
                                   the configuration file) */
    int64_t dedup_max_age_ms;   /* listen: 0 for the default */
    char *sink_url;             /* listen: http_sink (protocol.md 15.1), or NULL */
    char *sink_token_file;      /* listen: http_sink.bearer_token_file */
    char *sink_key_path;        /* listen: http_sink.signing_key */
    char *sink_origin;          /* listen: http_sink.origin */
    int64_t sink_timeout_ms;    /* listen: http_sink.timeout; 0 for 10 s */
    bool sink_insecure_http;    /* listen: http_sink.insecure_http */
} cli_conf_t;

cli_conf_t *cli_conf_load(const char *path, char *err, size_t errlen);
void cli_conf_destroy(cli_conf_t **self_p);
/*  A partner's dedup and anchor state: state_db, or beside the
    configuration file and named after it (NAME.state.db). Freed by the
    caller; NULL when out of memory.                                    */
char *cli_conf_state_path(const cli_conf_t *conf);

int cmd_keygen(int argc, char **argv);
int cmd_emit(int argc, char **argv);
int cmd_listen(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_deadletters(int argc, char **argv);
int cmd_redeliver(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_conformance(int argc, char **argv);
int cmd_anchors(int argc, char **argv);
int cmd_gateway(int argc, char **argv);    /* cmd_gateway.c */
/*  cmd_audit_anchors.c: the router side of the anchors (13.3).        */
int cmd_audit_anchors(db_t *db, const char *subscriber, long limit, bool json);
int cmd_audit_export_chain(db_t *db, const char *router);

/*  Shared by the commands that read the daemon's database (cmd_audit.c):
    opens it read-only (a SQLite file, or PostgreSQL for a postgresql://
    URI), refusing one that is not a seinpost database. Closed with
    db_destroy().                                                      */
db_t *cmd_db_open(const char *target, char *err, size_t errlen);
/*  A query of that database failed: says so on stderr, as "seinpost
    COMMAND: reading WHAT: " and the database's message (escaped: it may
    quote a stored value), and returns CMD_FAILED. A reader stops there
    rather than print what it read so far as if it were all.           */
int cmd_db_failed(const db_t *db, const char *command, const char *what);
/*  A --since/--until argument: RFC 3339, a date (YYYY-MM-DD, UTC) or a
    duration before now ("2h", "30m", "7d"). Returns Unix ms, -1 if bad. */
int64_t cmd_time_arg(const char *text);

/*  Sends command (with arg as JSON, or none) to the admin endpoint;
    returns the OK answer (any JSON value), or NULL with the daemon's
    refusal (*refused) or why there was no answer in err.               */
json_t *cmd_admin(const char *endpoint, const char *command, json_t *arg,
                  bool *refused, char *err, size_t errlen);

#endif
