/*  cmd_keygen.c - `seinpost keygen`: Ed25519 signing keys (PEM, 0600) or
    CURVE transport keys; prints the public half in the form the YAML
    configuration takes.                                                  */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "sp_proto.h"

static int s_curve(const char *path)
{
    char pub[41];
    if (sp_curve_generate(path, pub) != 0) {
        perror(path);
        return CMD_FAILED;
    }
    printf("curve_public_key: %s\n", pub);
    return CMD_OK;
}

static int s_ed25519(const char *path)
{
    char pub_path[4096], text[80];
    snprintf(pub_path, sizeof pub_path, "%s.pub", path);
    sp_key_t *key = sp_key_generate();
    int rc = CMD_FAILED;
    if (!key || sp_key_save(key, path, pub_path) != 0) {
        perror(path);
        goto cleanup;
    }
    sp_key_public_text(key, text, sizeof text);
    printf("public_key: %s\n# key id %s; secret key in %s (mode 0600), public PEM in %s\n",
           text, sp_key_id(key), path, pub_path);
    rc = CMD_OK;
cleanup:
    sp_key_destroy(&key);
    return rc;
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option options[] = {
        { "curve", no_argument, NULL, 'C' }, { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 } };
    const char *path = NULL;
    int curve = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        if (opt == 'C')
            curve = 1;
        else if (opt == 'o')
            path = optarg;
        else
            return CMD_USAGE;
    }
    if (!path) {
        fprintf(stderr, "usage: seinpost keygen [--curve] -o FILE\n");
        return CMD_USAGE;
    }
    return curve ? s_curve(path) : s_ed25519(path);
}
