/*  sp_schema.h - the version of the database schema this release writes.

    seinpostd creates and migrates the schema (daemon/schema.c); the
    operator's tool reads the same database and refuses one that a later
    release wrote, whose tables it might misread.                       */
#ifndef SP_SCHEMA_H_INCLUDED
#define SP_SCHEMA_H_INCLUDED

/*  1  the first release
    2  receipts name the batch they acknowledge (receipts.batch_id)
    3  no index of pending deliveries by seq; audit rows version 3
       (protocol.md 13.2), marked by meta audit_rows = 3              */
#define SP_SCHEMA_VERSION 3

#endif
