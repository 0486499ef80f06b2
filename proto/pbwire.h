/* SPDX-License-Identifier: MIT */
/* Checks on the protobuf wire bytes that protobuf-c's decoded structs no
 * longer show, and packing a message into a buffer. */
#ifndef MCPFLEET_PBWIRE_H
#define MCPFLEET_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "buf.h"
#include "err.h"

/*
 * Walks len bytes of a packed message of type desc, and its submessages,
 * and checks that no string field holds a NUL byte. protobuf-c hands a
 * string to C as a NUL-terminated copy, so "TOKEN\0junk" on the wire would
 * read as "TOKEN" and the rest would be ignored. Call it on input that
 * protobuf-c unpacked. Returns 0; -ERR_INVALID naming the field, e.g.
 * "facts.hostname holds a NUL byte"; or -ERR_PARSE for bytes that are not
 * a message.
 */
int pbwire_check_strings(const ProtobufCMessageDescriptor *desc,
                         const uint8_t *data, size_t len, struct diag *d);

/* Packs m into out, whose old content is dropped (NUL-terminated after
 * out->len bytes). Returns 0 or -ERR_NOMEM. */
int pbwire_pack(const ProtobufCMessage *m, struct buf *out);

#endif
