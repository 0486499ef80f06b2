/* SPDX-License-Identifier: MIT */
/* SCIM filters (RFC 7644 3.4.2.2): a parse tree of a list query's filter
 * or a PATCH path's value filter, checked against the attributes of Users
 * or Groups and evaluated per resource; see server/API.md, "Filters". */
#ifndef MCPFLEET_SCIMFILTER_H
#define MCPFLEET_SCIMFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* A filter is at most this many bytes, nests at most SCIMF_DEPTH_MAX
 * levels of parentheses, not and brackets, and holds at most
 * SCIMF_NODES_MAX terms (comparisons, and, or, not and value paths). */
#define SCIMF_LEN_MAX   512
#define SCIMF_DEPTH_MAX 16
#define SCIMF_NODES_MAX 64
#define SCIMF_ERR_MAX   256

#define SCIMF_URN_USER  "urn:ietf:params:scim:schemas:core:2.0:User"
#define SCIMF_URN_GROUP "urn:ietf:params:scim:schemas:core:2.0:Group"
#define SCIMF_URN_ENTERPRISE                                                   \
	"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

enum scimf_type {
	SCIMF_STRING,
	SCIMF_BOOLEAN,
	SCIMF_DATETIME,
	SCIMF_COMPLEX,
};

/* One attribute a filter may name: name "emails" and sub NULL for the
 * attribute, sub "value" for one of its sub-attributes; urn the
 * extension's schema (the key of its object in the resource), NULL core. */
struct scimf_attr {
	const char *urn;
	const char *name;
	const char *sub;
	enum scimf_type type;
	bool multi;      /* the attribute (not the sub-attribute) */
	bool case_exact; /* RFC 7643 caseExact */
};

/* The attributes of one resource type. */
struct scimf_schema {
	const char *what; /* "Users" */
	const char *urn;  /* its core schema URN */
	const struct scimf_attr *attrs;
	size_t n;
};

extern const struct scimf_schema scimf_users;
extern const struct scimf_schema scimf_groups;

enum scimf_kind {
	SCIMF_AND,
	SCIMF_OR,
	SCIMF_NOT,
	SCIMF_CMP,   /* attr op value, or attr pr */
	SCIMF_VALUE, /* attr[filter]: some element matches the filter */
};

enum scimf_op {
	SCIMF_EQ,
	SCIMF_NE,
	SCIMF_CO,
	SCIMF_SW,
	SCIMF_EW,
	SCIMF_GT,
	SCIMF_GE,
	SCIMF_LT,
	SCIMF_LE,
	SCIMF_PR,
};

enum scimf_vtype {
	SCIMF_V_NONE, /* pr */
	SCIMF_V_STRING,
	SCIMF_V_NUMBER,
	SCIMF_V_TRUE,
	SCIMF_V_FALSE,
	SCIMF_V_NULL,
};

struct scimf_node {
	enum scimf_kind kind;
	int a, b; /* children (indexes into n[]), -1 none */
	/* SCIMF_CMP and SCIMF_VALUE: where the value is, relative to the
	 * object the node is evaluated on: obj[urn][name][sub] (urn and sub
	 * NULL for none); attr NULL when the filter has no schema. */
	const struct scimf_attr *attr;
	const char *urn;
	const char *name;
	const char *sub;
	/* SCIMF_CMP: */
	enum scimf_op op;
	enum scimf_vtype vtype;
	const char *value; /* the string, or a number's text */
	int64_t ms;        /* a dateTime value, in ms since the epoch */
};

/* A parsed filter. Its strings point into text or into the schema, so it
 * needs no freeing; it is a few kilobytes. */
struct scimf {
	struct scimf_node n[SCIMF_NODES_MAX];
	size_t nn;
	int root;
	char text[2 * SCIMF_LEN_MAX + 2];
	size_t used;
};

/*
 * Parses the filter s of a list query of schema's resources (the query
 * parameter, percent-decoded; a '+' outside a string is a space). Returns
 * 0 with *f, or -1 with err set to what is wrong and where ("unknown
 * attribute 'phone' at byte 1").
 */
int scimf_parse(const char *s, const struct scimf_schema *schema,
                struct scimf *f, char err[SCIMF_ERR_MAX]);

/*
 * Parses the value filter of a PATCH path urn:attr[s], whose names are
 * those of the elements' sub-attributes (urn NULL for core). When schema
 * does not know attr, any names are taken and compared as they come.
 * Returns 0 with *f, or -1 with err.
 */
int scimf_parse_elements(const char *s, const struct scimf_schema *schema,
                         const char *urn, const char *attr, struct scimf *f,
                         char err[SCIMF_ERR_MAX]);

/* Does the resource (or, for scimf_parse_elements(), the element) o
 * match f? Names match in any case (RFC 7643 2.1). */
bool scimf_match(const struct scimf *f, json_t *o);

/* A top-level "name eq STRING" (core, no sub-attribute) that every match
 * of f must meet (f is it, or an and of it): its value, or NULL. A list
 * can look such a resource up instead of reading them all. */
const char *scimf_required_eq(const struct scimf *f, const char *name);

/*
 * Sets on element e (a new object) what f says of a match, for a PATCH
 * that sets a sub-attribute of an element that is not there yet: f must
 * be an eq of a string or boolean, or an and of such. Returns 0, -1 when
 * f does not say (err set), or -2 when out of memory.
 */
int scimf_seed(const struct scimf *f, json_t *e, char err[SCIMF_ERR_MAX]);

#endif
