/* SPDX-License-Identifier: MIT */
/* SCIM filters: RFC 7644 3.4.2.2's grammar parsed into a tree of at most
 * SCIMF_NODES_MAX nodes and evaluated per resource (server/API.md,
 * "Filters"). */
#include "scimfilter.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- The attributes a filter can name (RFC 7643 4.1, 4.2, 4.3) ---- */

#define SCIMF_E SCIMF_URN_ENTERPRISE

/* caseExact as RFC 7643 has it: id and externalId (3.1), meta's
 * resourceType, location and version, and $ref; every other string
 * compares in any case, as the Schemas resources say. */

/* What every resource has (RFC 7643 3.1). */
static const struct scimf_attr scimf_common_attrs[] = {
    {NULL, "id", NULL, SCIMF_STRING, false, true},
    {NULL, "externalId", NULL, SCIMF_STRING, false, true},
    {NULL, "meta", NULL, SCIMF_COMPLEX, false, false},
    {NULL, "meta", "resourceType", SCIMF_STRING, false, true},
    {NULL, "meta", "created", SCIMF_DATETIME, false, false},
    {NULL, "meta", "lastModified", SCIMF_DATETIME, false, false},
    {NULL, "meta", "location", SCIMF_STRING, false, true},
    {NULL, "meta", "version", SCIMF_STRING, false, true},
};

static const struct scimf_attr scimf_user_attrs[] = {
    {NULL, "userName", NULL, SCIMF_STRING, false, false},
    {NULL, "name", NULL, SCIMF_COMPLEX, false, false},
    {NULL, "name", "formatted", SCIMF_STRING, false, false},
    {NULL, "name", "familyName", SCIMF_STRING, false, false},
    {NULL, "name", "givenName", SCIMF_STRING, false, false},
    {NULL, "name", "middleName", SCIMF_STRING, false, false},
    {NULL, "name", "honorificPrefix", SCIMF_STRING, false, false},
    {NULL, "name", "honorificSuffix", SCIMF_STRING, false, false},
    {NULL, "displayName", NULL, SCIMF_STRING, false, false},
    {NULL, "nickName", NULL, SCIMF_STRING, false, false},
    {NULL, "title", NULL, SCIMF_STRING, false, false},
    {NULL, "active", NULL, SCIMF_BOOLEAN, false, false},
    {NULL, "emails", NULL, SCIMF_COMPLEX, true, false},
    {NULL, "emails", "value", SCIMF_STRING, true, false},
    {NULL, "emails", "type", SCIMF_STRING, true, false},
    {NULL, "emails", "primary", SCIMF_BOOLEAN, true, false},
    {NULL, "emails", "display", SCIMF_STRING, true, false},
    {SCIMF_E, "employeeNumber", NULL, SCIMF_STRING, false, false},
    {SCIMF_E, "costCenter", NULL, SCIMF_STRING, false, false},
    {SCIMF_E, "organization", NULL, SCIMF_STRING, false, false},
    {SCIMF_E, "division", NULL, SCIMF_STRING, false, false},
    {SCIMF_E, "department", NULL, SCIMF_STRING, false, false},
    {SCIMF_E, "manager", NULL, SCIMF_COMPLEX, false, false},
    {SCIMF_E, "manager", "value", SCIMF_STRING, false, false},
    {SCIMF_E, "manager", "displayName", SCIMF_STRING, false, false},
};

static const struct scimf_attr scimf_group_attrs[] = {
    {NULL, "displayName", NULL, SCIMF_STRING, false, false},
    {NULL, "members", NULL, SCIMF_COMPLEX, true, false},
    {NULL, "members", "value", SCIMF_STRING, true, false},
    {NULL, "members", "display", SCIMF_STRING, true, false},
    {NULL, "members", "type", SCIMF_STRING, true, false},
    {NULL, "members", "$ref", SCIMF_STRING, true, true},
};

const struct scimf_schema scimf_users = {
    "Users", SCIMF_URN_USER, scimf_user_attrs,
    sizeof(scimf_user_attrs) / sizeof(scimf_user_attrs[0])};
const struct scimf_schema scimf_groups = {
    "Groups", SCIMF_URN_GROUP, scimf_group_attrs,
    sizeof(scimf_group_attrs) / sizeof(scimf_group_attrs[0])};

/* NULL-safe, case-insensitive. */
static bool scimf_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcasecmp(a, b) == 0;
}

static const struct scimf_attr *scimf_find_in(const struct scimf_attr *v,
                                              size_t n, const char *urn,
                                              const char *name, const char *sub)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (scimf_same(v[i].urn, urn) && scimf_same(v[i].name, name) &&
		    scimf_same(v[i].sub, sub))
			return &v[i];
	return NULL;
}

/* urn:name.sub of schema's resources, or NULL. */
static const struct scimf_attr *scimf_find(const struct scimf_schema *s,
                                           const char *urn, const char *name,
                                           const char *sub)
{
	const struct scimf_attr *a =
	    scimf_find_in(s->attrs, s->n, urn, name, sub);

	if (a != NULL)
		return a;
	return scimf_find_in(scimf_common_attrs,
	                     sizeof(scimf_common_attrs) /
	                         sizeof(scimf_common_attrs[0]),
	                     urn, name, sub);
}

/* ---- Times ---- */

/* Reads n digits at *s. Returns the number, or -1. */
static int scimf_digits(const char **s, int n)
{
	int v = 0;

	for (; n > 0; n--, (*s)++) {
		if (**s < '0' || **s > '9')
			return -1;
		v = v * 10 + (**s - '0');
	}
	return v;
}

/* An RFC 3339 date-time ("2024-05-01T12:00:00Z", "...:00.250+02:00") in
 * ms since the epoch. Returns 0 with *ms, or -1. */
static int scimf_time(const char *s, int64_t *ms)
{
	struct tm tm, back;
	int y, mo, d, h, mi, sec, frac = 0, fd = 0, oh = 0, om = 0, sign = 0;
	time_t t;

	if ((y = scimf_digits(&s, 4)) < 0 || *s++ != '-' ||
	    (mo = scimf_digits(&s, 2)) < 0 || *s++ != '-' ||
	    (d = scimf_digits(&s, 2)) < 0 || (*s != 'T' && *s != 't'))
		return -1;
	s++;
	if ((h = scimf_digits(&s, 2)) < 0 || *s++ != ':' ||
	    (mi = scimf_digits(&s, 2)) < 0 || *s++ != ':' ||
	    (sec = scimf_digits(&s, 2)) < 0)
		return -1;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++, fd++)
			if (fd < 3)
				frac = frac * 10 + (*s - '0');
		if (fd == 0)
			return -1;
		for (; fd < 3; fd++)
			frac *= 10;
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if ((oh = scimf_digits(&s, 2)) < 0 || *s++ != ':' ||
		    (om = scimf_digits(&s, 2)) < 0 || oh > 23 || om > 59)
			return -1;
	} else {
		return -1;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm() moves 31 April to 1 May: refuse what it moved. */
	if (gmtime_r(&t, &back) == NULL || back.tm_mday != d ||
	    back.tm_mon != mo - 1)
		return -1;
	*ms =
	    ((int64_t)t - (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + frac;
	return 0;
}

/* ---- Parsing ---- */

struct scimf_p {
	const char *s;
	size_t len, pos;
	const struct scimf_schema *schema; /* NULL: no names known */
	struct scimf *f;
	char *err;
	int depth;
	/* In a value filter: the multi-valued attribute whose elements it
	 * tests (NULL with in_elements: not one schema knows). */
	bool in_elements;
	const struct scimf_attr *parent;
};

__attribute__((format(printf, 2, 3))) static int
scimf_fail(struct scimf_p *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(p->err, SCIMF_ERR_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* The byte a message names: 1-based. */
static size_t scimf_at(const struct scimf_p *p)
{
	return p->pos + 1;
}

/* A space between words; a '+' too, which a query string spells a space
 * with (outside a quoted value, where no '+' belongs). */
static bool scimf_is_space(char ch)
{
	return ch == ' ' || ch == '+';
}

static void scimf_skip(struct scimf_p *p)
{
	while (p->pos < p->len && scimf_is_space(p->s[p->pos]))
		p->pos++;
}

/* A byte of an attribute path: ATTRNAME, '.', a URN's ':' and '$ref'. */
static bool scimf_is_name(char ch)
{
	return isalnum((unsigned char)ch) || ch == '_' || ch == '-' ||
	       ch == '$' || ch == '.' || ch == ':';
}

/* Is the word kw (any case) at the cursor, not followed by a name byte? */
static bool scimf_word(const struct scimf_p *p, const char *kw)
{
	size_t n = strlen(kw);

	return p->len - p->pos >= n && strncasecmp(p->s + p->pos, kw, n) == 0 &&
	       (p->pos + n == p->len || !scimf_is_name(p->s[p->pos + n]));
}

/* The byte at the cursor, for a message: "'x'" or "the end". */
static const char *scimf_here(const struct scimf_p *p, char buf[8])
{
	unsigned char ch;

	if (p->pos >= p->len)
		return "the end";
	ch = (unsigned char)p->s[p->pos];
	if (ch < 0x20 || ch >= 0x7f)
		(void)snprintf(buf, 8, "0x%02x", ch);
	else
		(void)snprintf(buf, 8, "'%c'", ch);
	return buf;
}

static int scimf_node(struct scimf_p *p, enum scimf_kind kind, int a, int b)
{
	struct scimf_node *n;

	if (p->f->nn == SCIMF_NODES_MAX)
		return scimf_fail(p, "more than %d terms (at byte %zu)",
		                  SCIMF_NODES_MAX, scimf_at(p));
	n = &p->f->n[p->f->nn];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->a = a;
	n->b = b;
	return (int)p->f->nn++;
}

/* A copy of src[0..n) in the filter's text. */
static const char *scimf_keep(struct scimf_p *p, const char *src, size_t n)
{
	char *d;

	if (n + 1 > sizeof(p->f->text) - p->f->used) {
		(void)scimf_fail(p, "too long");
		return NULL;
	}
	d = p->f->text + p->f->used;
	memcpy(d, src, n);
	d[n] = '\0';
	p->f->used += n + 1;
	return d;
}

static int scimf_or(struct scimf_p *p);

static int scimf_open(struct scimf_p *p)
{
	if (++p->depth > SCIMF_DEPTH_MAX)
		return scimf_fail(p,
		                  "nested deeper than %d levels (at byte %zu)",
		                  SCIMF_DEPTH_MAX, scimf_at(p));
	return 0;
}

/* Expects ch (closing what opened at byte open). */
static int scimf_close(struct scimf_p *p, char ch, size_t open)
{
	char b[8];

	scimf_skip(p);
	if (p->pos >= p->len || p->s[p->pos] != ch)
		return scimf_fail(p,
		                  "expected '%c' at byte %zu to close the '%c' "
		                  "at byte %zu, found %s",
		                  ch, scimf_at(p), ch == ')' ? '(' : '[',
		                  open + 1, scimf_here(p, b));
	p->pos++;
	p->depth--;
	return 0;
}

/* Resolves the attribute path tok (at byte at) into node n. */
static int scimf_resolve(struct scimf_p *p, const char *tok, size_t at,
                         struct scimf_node *n)
{
	char name[SCIMF_LEN_MAX + 1], urn[SCIMF_LEN_MAX + 1];
	const char *rest = tok, *colon, *dot, *sub = NULL;
	const char *use_urn = NULL;
	const struct scimf_attr *a;
	size_t i;

	urn[0] = '\0';
	if (strncasecmp(tok, "urn:", 4) == 0) {
		colon = strrchr(tok, ':');
		memcpy(urn, tok, (size_t)(colon - tok));
		urn[colon - tok] = '\0';
		rest = colon + 1;
		if (p->in_elements)
			return scimf_fail(
			    p,
			    "'%s' (at byte %zu): a value filter "
			    "names sub-attributes, without a schema",
			    tok, at);
		if (p->schema != NULL && strcasecmp(urn, p->schema->urn) == 0)
			use_urn = NULL;
		else if (p->schema == &scimf_users &&
		         strcasecmp(urn, SCIMF_URN_ENTERPRISE) == 0)
			use_urn = SCIMF_URN_ENTERPRISE;
		else
			return scimf_fail(
			    p,
			    "unknown schema '%s' in '%s' (at byte "
			    "%zu)",
			    urn, tok, at);
	}
	(void)snprintf(name, sizeof(name), "%s", rest);
	if ((dot = strchr(name, '.')) != NULL) {
		name[dot - name] = '\0';
		sub = dot + 1;
		if (strchr(sub, '.') != NULL || p->in_elements)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) goes deeper than "
			                  "an attribute's sub-attribute",
			                  tok, at);
	}
	/* ATTRNAME = ALPHA *(nameChar), and "$ref". */
	for (i = 0; name[i] != '\0'; i++)
		if (name[i] == ':' ||
		    (i == 0 && !isalpha((unsigned char)name[i]) &&
		     name[i] != '$'))
			break;
	if (name[0] == '\0' || name[i] != '\0' ||
	    (sub != NULL && (sub[0] == '\0' || strchr(sub, ':') != NULL)))
		return scimf_fail(
		    p, "'%s' (at byte %zu) is not an attribute path", tok, at);
	if (p->in_elements && p->parent == NULL) {
		/* A PATCH path into an attribute no schema here lists. */
		if ((n->name = scimf_keep(p, name, strlen(name))) == NULL)
			return -1;
		return 0;
	}
	if (p->in_elements) {
		a = scimf_find(p->schema, p->parent->urn, p->parent->name,
		               name);
		if (a == NULL)
			return scimf_fail(
			    p,
			    "unknown attribute '%s' of %s (at byte "
			    "%zu)",
			    name, p->parent->name, at);
		n->attr = a;
		n->name = a->sub;
		return 0;
	}
	a = scimf_find(p->schema, use_urn, name, sub);
	if (a == NULL)
		return scimf_fail(p,
		                  "unknown attribute '%s' of %s (at byte %zu)",
		                  tok, p->schema->what, at);
	/* emails eq "x" compares emails.value, as RFC 7644 3.4.2.2's
	 * examples do. */
	if (a->type == SCIMF_COMPLEX && a->multi &&
	    scimf_find(p->schema, use_urn, name, "value") != NULL)
		a = scimf_find(p->schema, use_urn, name, "value");
	n->attr = a;
	n->urn = a->urn;
	n->name = a->name;
	n->sub = a->sub;
	return 0;
}

/* The comparison value at the cursor into n. */
static int scimf_value(struct scimf_p *p, struct scimf_node *n)
{
	const char *s = p->s;
	size_t i = p->pos, at = scimf_at(p);
	json_error_t jerr;
	json_t *v;
	char b[8];

	if (i < p->len && s[i] == '"') {
		for (i++; i < p->len && s[i] != '"'; i++)
			if (s[i] == '\\')
				i++;
		if (i >= p->len)
			return scimf_fail(p,
			                  "the string at byte %zu has no "
			                  "closing '\"'",
			                  at);
		v = json_loadb(s + p->pos, i + 1 - p->pos, JSON_DECODE_ANY,
		               &jerr);
		if (!json_is_string(v)) {
			json_decref(v);
			return scimf_fail(p,
			                  "the string at byte %zu is not "
			                  "valid: %s",
			                  at, jerr.text);
		}
		n->vtype = SCIMF_V_STRING;
		n->value =
		    scimf_keep(p, json_string_value(v), json_string_length(v));
		json_decref(v);
		p->pos = i + 1;
		return n->value != NULL ? 0 : -1;
	}
	if (scimf_word(p, "true") || scimf_word(p, "null")) {
		n->vtype = tolower((unsigned char)s[i]) == 't' ? SCIMF_V_TRUE
		                                               : SCIMF_V_NULL;
		p->pos += 4;
		return 0;
	}
	if (scimf_word(p, "false")) {
		n->vtype = SCIMF_V_FALSE;
		p->pos += 5;
		return 0;
	}
	if (i < p->len && (s[i] == '-' || isdigit((unsigned char)s[i]))) {
		for (i++; i < p->len; i++)
			if (!isdigit((unsigned char)s[i]) && s[i] != '.' &&
			    s[i] != 'e' && s[i] != 'E' &&
			    !((s[i] == '+' || s[i] == '-') &&
			      (s[i - 1] == 'e' || s[i - 1] == 'E')))
				break;
		v = json_loadb(s + p->pos, i - p->pos, JSON_DECODE_ANY, &jerr);
		if (!json_is_number(v)) {
			json_decref(v);
			return scimf_fail(p,
			                  "'%.*s' at byte %zu is not a number",
			                  (int)(i - p->pos), s + p->pos, at);
		}
		json_decref(v);
		n->vtype = SCIMF_V_NUMBER;
		n->value = scimf_keep(p, s + p->pos, i - p->pos);
		p->pos = i;
		return n->value != NULL ? 0 : -1;
	}
	return scimf_fail(p,
	                  "expected a value (a \"string\", a number, true, "
	                  "false or null) at byte %zu, found %s",
	                  at, scimf_here(p, b));
}

/* The attribute path of n for a message ("name.givenName"). */
static void scimf_path_text(const struct scimf_node *n, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s%s%s", n->name, n->sub != NULL ? "." : "",
	               n->sub != NULL ? n->sub : "");
}

/* Does the value of n suit its attribute's type (RFC 7644 3.4.2.2)? */
static int scimf_typecheck(struct scimf_p *p, struct scimf_node *n, size_t at)
{
	const struct scimf_attr *a = n->attr;
	char path[160];

	if (a == NULL || n->op == SCIMF_PR)
		return 0;
	scimf_path_text(n, path, sizeof(path));
	if (a->type == SCIMF_COMPLEX)
		return scimf_fail(p,
		                  "'%s' (at byte %zu) is complex: compare one "
		                  "of its sub-attributes, or test it with pr",
		                  path, at);
	if (n->vtype == SCIMF_V_NULL) {
		if (n->op != SCIMF_EQ && n->op != SCIMF_NE)
			return scimf_fail(p,
			                  "'%s' (at byte %zu): null compares "
			                  "with eq or ne only",
			                  path, at);
		return 0;
	}
	switch (a->type) {
	case SCIMF_BOOLEAN:
		if (n->op != SCIMF_EQ && n->op != SCIMF_NE)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) is a boolean: it "
			                  "takes eq, ne or pr",
			                  path, at);
		/* Entra ID writes booleans as strings. */
		if (n->vtype == SCIMF_V_STRING &&
		    strcasecmp(n->value, "true") == 0)
			n->vtype = SCIMF_V_TRUE;
		else if (n->vtype == SCIMF_V_STRING &&
		         strcasecmp(n->value, "false") == 0)
			n->vtype = SCIMF_V_FALSE;
		if (n->vtype != SCIMF_V_TRUE && n->vtype != SCIMF_V_FALSE)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) is a boolean: "
			                  "compare it with true or false",
			                  path, at);
		return 0;
	case SCIMF_DATETIME:
		if (n->vtype != SCIMF_V_STRING)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) is a dateTime: "
			                  "compare it with a quoted time (e.g. "
			                  "\"2024-05-01T00:00:00Z\")",
			                  path, at);
		if (n->op == SCIMF_CO || n->op == SCIMF_SW || n->op == SCIMF_EW)
			return 0; /* as text */
		if (scimf_time(n->value, &n->ms) != 0)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) is a dateTime: "
			                  "\"%.40s\" is not one (e.g. "
			                  "\"2024-05-01T00:00:00Z\")",
			                  path, at, n->value);
		return 0;
	default:
		if (n->vtype != SCIMF_V_STRING)
			return scimf_fail(
			    p,
			    "'%s' (at byte %zu) is a string: quote "
			    "the value",
			    path, at);
		return 0;
	}
}

/* attrExp or valuePath. */
static int scimf_attr_exp(struct scimf_p *p)
{
	static const char *const ops[] = {"eq", "ne", "co", "sw", "ew",
	                                  "gt", "ge", "lt", "le", "pr"};
	size_t start = p->pos, at = scimf_at(p), i, open;
	const char *tok;
	struct scimf_node n;
	int id, child;
	bool was_in;
	const struct scimf_attr *was_parent;
	const char *last;
	char b[8];

	while (p->pos < p->len && scimf_is_name(p->s[p->pos]))
		p->pos++;
	if (p->pos == start)
		return scimf_fail(p,
		                  "expected an attribute name at byte %zu, "
		                  "found %s",
		                  at, scimf_here(p, b));
	if ((tok = scimf_keep(p, p->s + start, p->pos - start)) == NULL)
		return -1;
	memset(&n, 0, sizeof(n));
	if (scimf_resolve(p, tok, at, &n) != 0)
		return -1;
	if (p->pos < p->len && p->s[p->pos] == '[') {
		if (p->in_elements)
			return scimf_fail(p,
			                  "a value filter cannot hold another "
			                  "('[' at byte %zu)",
			                  scimf_at(p));
		last = strrchr(tok, ':');
		if (n.attr == NULL || !n.attr->multi || n.attr->sub == NULL ||
		    strcmp(n.attr->sub, "value") != 0 ||
		    strchr(last != NULL ? last + 1 : tok, '.') != NULL)
			return scimf_fail(p,
			                  "'%s' (at byte %zu) is not a "
			                  "multi-valued attribute that a value "
			                  "filter '[...]' can test",
			                  tok, at);
		open = p->pos++;
		if (scimf_open(p) != 0)
			return -1;
		was_in = p->in_elements;
		was_parent = p->parent;
		p->in_elements = true;
		p->parent =
		    scimf_find(p->schema, n.attr->urn, n.attr->name, NULL);
		child = scimf_or(p);
		p->in_elements = was_in;
		p->parent = was_parent;
		if (child < 0 || scimf_close(p, ']', open) != 0)
			return -1;
		if (p->pos < p->len && scimf_is_name(p->s[p->pos]))
			return scimf_fail(p,
			                  "unexpected %s at byte %zu after a "
			                  "value filter's ']'",
			                  scimf_here(p, b), scimf_at(p));
		if ((id = scimf_node(p, SCIMF_VALUE, child, -1)) < 0)
			return -1;
		p->f->n[id].attr =
		    scimf_find(p->schema, n.attr->urn, n.attr->name, NULL);
		p->f->n[id].urn = n.attr->urn;
		p->f->n[id].name = n.attr->name;
		return id;
	}
	if (p->pos >= p->len || !scimf_is_space(p->s[p->pos]))
		return scimf_fail(p,
		                  "expected a space and an operator after '%s' "
		                  "at byte %zu, found %s",
		                  tok, scimf_at(p), scimf_here(p, b));
	scimf_skip(p);
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (scimf_word(p, ops[i]))
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		size_t e = p->pos;

		while (e < p->len && e - p->pos < 16 && scimf_is_name(p->s[e]))
			e++;
		return scimf_fail(
		    p,
		    "unknown operator '%.*s' at byte %zu (eq, ne, "
		    "co, sw, ew, gt, ge, lt, le, pr)",
		    (int)(e - p->pos), p->s + p->pos, scimf_at(p));
	}
	n.op = (enum scimf_op)i;
	p->pos += 2;
	if (n.op != SCIMF_PR) {
		if (p->pos >= p->len || !scimf_is_space(p->s[p->pos]))
			return scimf_fail(p,
			                  "expected a space and a value after "
			                  "'%s' at byte %zu",
			                  ops[i], scimf_at(p));
		scimf_skip(p);
		if (scimf_value(p, &n) != 0)
			return -1;
	}
	if (scimf_typecheck(p, &n, at) != 0)
		return -1;
	if ((id = scimf_node(p, SCIMF_CMP, -1, -1)) < 0)
		return -1;
	n.kind = SCIMF_CMP;
	n.a = n.b = -1;
	p->f->n[id] = n;
	return id;
}

/* "not (" FILTER ")", "(" FILTER ")", or an attribute expression. */
static int scimf_unary(struct scimf_p *p)
{
	size_t open;
	int in, id;
	bool neg = false;

	scimf_skip(p);
	if (scimf_word(p, "not")) {
		char b[8];

		p->pos += 3;
		scimf_skip(p);
		if (p->pos >= p->len || p->s[p->pos] != '(')
			return scimf_fail(p,
			                  "expected '(' after not at byte %zu, "
			                  "found %s",
			                  scimf_at(p), scimf_here(p, b));
		neg = true;
	}
	if (p->pos < p->len && p->s[p->pos] == '(') {
		open = p->pos++;
		if (scimf_open(p) != 0 || (in = scimf_or(p)) < 0 ||
		    scimf_close(p, ')', open) != 0)
			return -1;
		if (!neg)
			return in;
		if ((id = scimf_node(p, SCIMF_NOT, in, -1)) < 0)
			return -1;
		return id;
	}
	return scimf_attr_exp(p);
}

/* A chain of terms joined by or (and false) or by and (and true), the
 * terms of an or being and-chains: and binds tighter than or (RFC 7644
 * 3.4.2.2). */
static int scimf_chain(struct scimf_p *p, bool and)
{
	const char *word = and? "and" : "or";
	int l, r;

	if ((l = and? scimf_unary(p) : scimf_chain(p, true)) < 0)
		return -1;
	for (;;) {
		size_t back = p->pos;

		scimf_skip(p);
		if (p->pos == back || !scimf_word(p, word)) {
			p->pos = back;
			return l;
		}
		p->pos += strlen(word);
		if ((r = and? scimf_unary(p) : scimf_chain(p, true)) < 0 ||
		    (l = scimf_node(p, and? SCIMF_AND : SCIMF_OR, l, r)) < 0)
			return -1;
	}
}

static int scimf_or(struct scimf_p *p)
{
	return scimf_chain(p, false);
}

static int scimf_run(struct scimf_p *p)
{
	char b[8];
	int root;

	memset(p->f, 0, sizeof(*p->f));
	p->f->root = -1;
	if (p->len > SCIMF_LEN_MAX)
		return scimf_fail(p, "longer than %d bytes", SCIMF_LEN_MAX);
	if (memchr(p->s, '\0', p->len) != NULL)
		return scimf_fail(p, "holds a NUL byte");
	scimf_skip(p);
	if (p->pos == p->len)
		return scimf_fail(p, "empty");
	if ((root = scimf_or(p)) < 0)
		return -1;
	scimf_skip(p);
	if (p->pos != p->len)
		return scimf_fail(p,
		                  "unexpected %s at byte %zu (expected and, or "
		                  "or the end)",
		                  scimf_here(p, b), scimf_at(p));
	p->f->root = root;
	return 0;
}

int scimf_parse(const char *s, const struct scimf_schema *schema,
                struct scimf *f, char err[SCIMF_ERR_MAX])
{
	struct scimf_p p;

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.len = strlen(s);
	p.schema = schema;
	p.f = f;
	p.err = err;
	return scimf_run(&p);
}

int scimf_parse_elements(const char *s, const struct scimf_schema *schema,
                         const char *urn, const char *attr, struct scimf *f,
                         char err[SCIMF_ERR_MAX])
{
	struct scimf_p p;
	const struct scimf_attr *a = scimf_find(schema, urn, attr, NULL);

	memset(&p, 0, sizeof(p));
	p.s = s;
	p.len = strlen(s);
	p.schema = schema;
	p.f = f;
	p.err = err;
	p.in_elements = true;
	p.parent = a != NULL && a->multi && a->type == SCIMF_COMPLEX ? a : NULL;
	return scimf_run(&p);
}

/* ---- Evaluation ---- */

static json_t *scimf_key(json_t *o, const char *name)
{
	const char *k;
	json_t *v;

	if (!json_is_object(o))
		return NULL;
	json_object_foreach(o, k, v)
	{
		if (strcasecmp(k, name) == 0)
			return v;
	}
	return NULL;
}

static bool scimf_present(json_t *v)
{
	if (v == NULL || json_is_null(v))
		return false;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_object(v))
		return json_object_size(v) > 0;
	return true;
}

static bool scimf_bool_of(json_t *v, bool *b)
{
	const char *s = json_string_value(v);

	if (json_is_boolean(v)) {
		*b = json_is_true(v);
		return true;
	}
	if (s != NULL &&
	    (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)) {
		*b = strcasecmp(s, "true") == 0;
		return true;
	}
	return false;
}

/* Does hay contain needle, in any case when !exact? */
static bool scimf_contains(const char *hay, const char *needle, bool exact)
{
	size_t n = strlen(needle), h = strlen(hay), i;

	for (i = 0; i + n <= h; i++)
		if (exact ? strncmp(hay + i, needle, n) == 0
		          : strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* One value x against n's comparison (op not ne; ne is not eq). */
static bool scimf_one(const struct scimf_node *n, enum scimf_op op, json_t *x)
{
	const struct scimf_attr *a = n->attr;
	char num[64];
	const char *text, *want = n->value;
	bool exact = a != NULL ? a->case_exact : true, b;
	int c;
	size_t tl, wl;

	if (x == NULL || json_is_null(x))
		return false;
	if ((a != NULL && a->type == SCIMF_BOOLEAN) ||
	    (a == NULL &&
	     (n->vtype == SCIMF_V_TRUE || n->vtype == SCIMF_V_FALSE))) {
		if (op != SCIMF_EQ || !scimf_bool_of(x, &b))
			return false;
		return b == (n->vtype == SCIMF_V_TRUE);
	}
	if (a != NULL && a->type == SCIMF_DATETIME && op != SCIMF_CO &&
	    op != SCIMF_SW && op != SCIMF_EW) {
		int64_t ms;

		if (!json_is_string(x) ||
		    scimf_time(json_string_value(x), &ms) != 0)
			return false;
		switch (op) {
		case SCIMF_EQ:
			return ms == n->ms;
		case SCIMF_GT:
			return ms > n->ms;
		case SCIMF_GE:
			return ms >= n->ms;
		case SCIMF_LT:
			return ms < n->ms;
		case SCIMF_LE:
			return ms <= n->ms;
		default:
			return false;
		}
	}
	if (json_is_string(x)) {
		text = json_string_value(x);
	} else if (json_is_integer(x)) {
		(void)snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		               json_integer_value(x));
		text = num;
	} else if (json_is_boolean(x)) {
		/* An attribute no schema types: "True" is true too. */
		text = json_is_true(x) ? "true" : "false";
		exact = false;
	} else {
		return false;
	}
	if (n->vtype == SCIMF_V_TRUE || n->vtype == SCIMF_V_FALSE)
		want = n->vtype == SCIMF_V_TRUE ? "true" : "false";
	if (want == NULL)
		return false;
	tl = strlen(text);
	wl = strlen(want);
	switch (op) {
	case SCIMF_CO:
		return scimf_contains(text, want, exact);
	case SCIMF_SW:
		return tl >= wl && (exact ? strncmp(text, want, wl)
		                          : strncasecmp(text, want, wl)) == 0;
	case SCIMF_EW:
		return tl >= wl &&
		       (exact ? strcmp(text + tl - wl, want)
		              : strcasecmp(text + tl - wl, want)) == 0;
	default:
		break;
	}
	c = exact ? strcmp(text, want) : strcasecmp(text, want);
	switch (op) {
	case SCIMF_EQ:
		return c == 0;
	case SCIMF_GT:
		return c > 0;
	case SCIMF_GE:
		return c >= 0;
	case SCIMF_LT:
		return c < 0;
	case SCIMF_LE:
		return c <= 0;
	default:
		return false;
	}
}

/* Does some value of n's attribute in v pass op (SCIMF_PR: is present)?
 * A multi-valued attribute passes when one of its values does. */
static bool scimf_any(const struct scimf_node *n, enum scimf_op op, json_t *v)
{
	json_t *e, *x;
	size_t i;

	if (op == SCIMF_PR && n->sub == NULL)
		return scimf_present(v);
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			x = n->sub != NULL ? scimf_key(e, n->sub) : e;
			if (op == SCIMF_PR ? scimf_present(x)
			                   : scimf_one(n, op, x))
				return true;
		}
		return false;
	}
	x = n->sub != NULL ? scimf_key(v, n->sub) : v;
	return op == SCIMF_PR ? scimf_present(x) : scimf_one(n, op, x);
}

static bool scimf_eval(const struct scimf *f, int i, json_t *o)
{
	const struct scimf_node *n = &f->n[i];
	json_t *v, *e;
	size_t j;

	switch (n->kind) {
	case SCIMF_AND:
		return scimf_eval(f, n->a, o) && scimf_eval(f, n->b, o);
	case SCIMF_OR:
		return scimf_eval(f, n->a, o) || scimf_eval(f, n->b, o);
	case SCIMF_NOT:
		return !scimf_eval(f, n->a, o);
	case SCIMF_VALUE:
		v = scimf_key(n->urn != NULL ? scimf_key(o, n->urn) : o,
		              n->name);
		if (json_is_object(v))
			return scimf_eval(f, n->a, v);
		json_array_foreach(v, j, e)
		{
			if (json_is_object(e) && scimf_eval(f, n->a, e))
				return true;
		}
		return false;
	case SCIMF_CMP:
		break;
	}
	v = scimf_key(n->urn != NULL ? scimf_key(o, n->urn) : o, n->name);
	if (n->op == SCIMF_PR)
		return scimf_any(n, SCIMF_PR, v);
	if (n->vtype == SCIMF_V_NULL)
		return (n->op == SCIMF_EQ) != scimf_any(n, SCIMF_PR, v);
	if (n->op == SCIMF_NE)
		return !scimf_any(n, SCIMF_EQ, v);
	return scimf_any(n, n->op, v);
}

bool scimf_match(const struct scimf *f, json_t *o)
{
	return f->root >= 0 && scimf_eval(f, f->root, o);
}

static const char *scimf_eq_in(const struct scimf *f, int i, const char *name)
{
	const struct scimf_node *n = &f->n[i];
	const char *v;

	if (n->kind == SCIMF_AND) {
		if ((v = scimf_eq_in(f, n->a, name)) != NULL)
			return v;
		return scimf_eq_in(f, n->b, name);
	}
	if (n->kind == SCIMF_CMP && n->op == SCIMF_EQ &&
	    n->vtype == SCIMF_V_STRING && n->urn == NULL && n->sub == NULL &&
	    strcasecmp(n->name, name) == 0)
		return n->value;
	return NULL;
}

const char *scimf_required_eq(const struct scimf *f, const char *name)
{
	return f->root >= 0 ? scimf_eq_in(f, f->root, name) : NULL;
}

static int scimf_seed_in(const struct scimf *f, int i, json_t *e)
{
	const struct scimf_node *n = &f->n[i];
	json_t *v;
	int r;

	if (n->kind == SCIMF_AND) {
		if ((r = scimf_seed_in(f, n->a, e)) != 0)
			return r;
		return scimf_seed_in(f, n->b, e);
	}
	if (n->kind != SCIMF_CMP || n->op != SCIMF_EQ || n->sub != NULL)
		return -1;
	if (n->vtype == SCIMF_V_STRING)
		v = json_string(n->value);
	else if (n->vtype == SCIMF_V_TRUE || n->vtype == SCIMF_V_FALSE)
		v = json_boolean(n->vtype == SCIMF_V_TRUE);
	else
		return -1;
	return json_object_set_new(e, n->name, v) == 0 ? 0 : -2;
}

int scimf_seed(const struct scimf *f, json_t *e, char err[SCIMF_ERR_MAX])
{
	int r = f->root >= 0 ? scimf_seed_in(f, f->root, e) : -1;

	if (r == -1)
		(void)snprintf(err, SCIMF_ERR_MAX,
		               "it matches no element, and its filter is not "
		               "an eq (or an and of eqs) that says the one to "
		               "add");
	return r;
}
