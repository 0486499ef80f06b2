/* SPDX-License-Identifier: MIT */
/* Checks on the protobuf wire bytes that protobuf-c's decoded structs no
 * longer show. */
#include "pbwire.h"

#include <string.h>

#define PBWIRE_DEPTH_MAX 32 /* nesting; our messages use four levels */
#define PBWIRE_PATH_MAX  160

/* Reads a varint at *p (below end). Returns 0, or -ERR_PARSE. */
static int pbwire_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	unsigned shift;

	for (shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*out = v;
			return 0;
		}
	}
	return -ERR_PARSE;
}

/* Appends ".name" (or "name" at the top) to path; cuts it short if need
 * be, which only shortens a message. */
static size_t pbwire_path_push(char *path, size_t at, const char *name)
{
	size_t n = strlen(name), room = PBWIRE_PATH_MAX - 1 - at;
	size_t dot = at > 0 ? 1 : 0;

	if (dot + n > room)
		return at;
	if (dot)
		path[at] = '.';
	memcpy(path + at + dot, name, n);
	path[at + dot + n] = '\0';
	return at + dot + n;
}

static int pbwire_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
                       const uint8_t *end, unsigned depth, char *path,
                       size_t at, struct diag *d)
{
	const ProtobufCFieldDescriptor *fd;
	uint64_t key, v;
	size_t sub;
	int r;

	if (depth > PBWIRE_DEPTH_MAX)
		return diag_set(d, ERR_PARSE, 0, 0,
		                "message nested more than %d deep",
		                PBWIRE_DEPTH_MAX);
	while (p < end) {
		if (pbwire_varint(&p, end, &key) != 0 || (key >> 3) == 0 ||
		    (key >> 3) > UINT32_MAX)
			return diag_set(d, ERR_PARSE, 0, 0, "bad field key");
		switch (key & 7) {
		case 0:
			if (pbwire_varint(&p, end, &v) != 0)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "bad varint");
			continue;
		case 1:
			if (end - p < 8)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "truncated field");
			p += 8;
			continue;
		case 5:
			if (end - p < 4)
				return diag_set(d, ERR_PARSE, 0, 0,
				                "truncated field");
			p += 4;
			continue;
		case 2:
			break;
		default:
			return diag_set(d, ERR_PARSE, 0, 0,
			                "unsupported wire type %u",
			                (unsigned)(key & 7));
		}
		if (pbwire_varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
			return diag_set(d, ERR_PARSE, 0, 0,
			                "truncated length-delimited field");
		fd = protobuf_c_message_descriptor_get_field(
		    desc, (unsigned)(key >> 3));
		/* Unknown fields and bytes may hold anything. */
		if (fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING &&
		    memchr(p, '\0', (size_t)v) != NULL) {
			(void)pbwire_path_push(path, at, fd->name);
			r = diag_set(d, ERR_INVALID, 0, 0,
			             "%s holds a NUL byte", path);
			path[at] = '\0';
			return r;
		}
		if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
			sub = pbwire_path_push(path, at, fd->name);
			r = pbwire_walk(fd->descriptor, p, p + v, depth + 1,
			                path, sub, d);
			path[at] = '\0';
			if (r != 0)
				return r;
		}
		p += v;
	}
	return 0;
}

int pbwire_check_strings(const ProtobufCMessageDescriptor *desc,
                         const uint8_t *data, size_t len, struct diag *d)
{
	char path[PBWIRE_PATH_MAX];

	path[0] = '\0';
	if (len == 0)
		return 0;
	if (data == NULL)
		return diag_set(d, ERR_PARSE, 0, 0, "no message");
	return pbwire_walk(desc, data, data + len, 0, path, 0, d);
}

int pbwire_pack(const ProtobufCMessage *m, struct buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	int r;

	buf_reset(out);
	if ((r = buf_reserve(out, n)) != 0)
		return r;
	(void)protobuf_c_message_pack(m, (uint8_t *)out->data);
	out->len = n;
	out->data[n] = '\0';
	return 0;
}
