/* SPDX-License-Identifier: MIT */
/* Unit tests: server/scimfilter.c, SCIM filters (RFC 7644 3.4.2.2): the
 * grammar, each operator, precedence, types, errors and limits, on
 * resources as server/scim.c shows them. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scimfilter.h"

/* A user as scim.c shows one. */
static const char tf_ann[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"12\",\"userName\":\"Ann@Example.com\",\"active\":true,"
    "\"externalId\":\"Ext-1\","
    "\"name\":{\"givenName\":\"Ann\",\"familyName\":\"Lee\"},"
    "\"displayName\":\"Ann \\\"A\\\" Lee\",\"title\":\"Engineer\","
    "\"emails\":[{\"value\":\"ann@example.com\",\"type\":\"work\","
    "\"primary\":true},{\"value\":\"ann@home.org\",\"type\":\"home\"}],"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
    "{\"department\":\"R&D\",\"manager\":{\"value\":\"7\"}},"
    "\"meta\":{\"resourceType\":\"User\","
    "\"created\":\"2024-01-10T08:00:00Z\","
    "\"lastModified\":\"2024-03-01T12:30:00Z\","
    "\"location\":\"https://fleet.example/scim/v2/Users/12\","
    "\"version\":\"W/\\\"3\\\"\"}}";

static const char tf_group[] =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],"
    "\"id\":\"4\",\"displayName\":\"Platform Team\",\"externalId\":\"g-9\","
    "\"members\":[{\"value\":\"12\",\"display\":\"ann\",\"type\":\"User\"},"
    "{\"value\":\"13\",\"display\":\"bo\",\"type\":\"User\"}],"
    "\"meta\":{\"resourceType\":\"Group\","
    "\"created\":\"2024-01-10T08:00:00Z\","
    "\"lastModified\":\"2024-01-10T08:00:00Z\"}}";

static json_t *tf_load(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	if (v == NULL)
		fail_msg("fixture: %s", e.text);
	return v;
}

/* Does filter (which must parse) match the resource text? */
static bool tf_match(const struct scimf_schema *schema, const char *filter,
                     const char *text)
{
	struct scimf f;
	char err[SCIMF_ERR_MAX];
	json_t *o = tf_load(text);
	bool m;

	if (scimf_parse(filter, schema, &f, err) != 0)
		fail_msg("'%s' did not parse: %s", filter, err);
	m = scimf_match(&f, o);
	json_decref(o);
	return m;
}

static void tf_yes(const char *filter)
{
	if (!tf_match(&scimf_users, filter, tf_ann))
		fail_msg("'%s' does not match ann", filter);
}

static void tf_no(const char *filter)
{
	if (tf_match(&scimf_users, filter, tf_ann))
		fail_msg("'%s' matches ann", filter);
}

/* Asserts that filter is refused with a message holding needle. */
static void tf_err(const struct scimf_schema *schema, const char *filter,
                   const char *needle)
{
	struct scimf f;
	char err[SCIMF_ERR_MAX];

	if (scimf_parse(filter, schema, &f, err) == 0)
		fail_msg("'%s' parsed", filter);
	if (strstr(err, needle) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", filter, err, needle);
}

static void test_scimfilter_operators(void **state)
{
	(void)state;
	/* userName is caseExact false; id and externalId are caseExact. */
	tf_yes("userName eq \"ann@example.com\"");
	tf_yes("USERNAME EQ \"ANN@EXAMPLE.COM\"");
	tf_no("userName eq \"ann\"");
	tf_yes("userName ne \"ann\"");
	tf_no("userName ne \"ann@example.COM\"");
	tf_yes("userName co \"@EXAMPLE\"");
	tf_no("userName co \"@home\"");
	tf_yes("userName sw \"ann@\"");
	tf_no("userName sw \"example\"");
	tf_yes("userName ew \".COM\"");
	tf_no("userName ew \"ann\"");
	tf_yes("userName gt \"amy\"");
	tf_no("userName gt \"bob\"");
	tf_yes("userName ge \"ann@example.com\"");
	tf_yes("userName lt \"bob\"");
	tf_no("userName lt \"ann@example.com\"");
	tf_yes("userName le \"ANN@example.com\"");
	tf_yes("userName pr");
	tf_no("nickName pr");
	tf_yes("externalId eq \"Ext-1\"");
	tf_no("externalId eq \"ext-1\"");
	tf_no("externalId co \"ext\"");
	tf_yes("id eq \"12\"");
	/* A '+' outside a string is a space (a query string's); a string
	 * has JSON's escapes. */
	tf_yes("userName+eq+\"ann@example.com\"");
	tf_yes("displayName eq \"Ann \\\"A\\\" Lee\"");
	tf_yes("displayName eq \"\\u0041nn \\\"A\\\" Lee\"");
}

static void test_scimfilter_logic(void **state)
{
	(void)state;
	tf_yes("userName sw \"ann\" and active eq true");
	tf_no("userName sw \"ann\" and active eq false");
	tf_yes("userName eq \"x\" or active eq true");
	tf_no("userName eq \"x\" or active eq false");
	/* and binds tighter than or: a or (b and c). */
	tf_yes(
	    "title eq \"engineer\" or userName eq \"x\" and active eq false");
	tf_no("(title eq \"engineer\" or userName eq \"x\") and active eq "
	      "false");
	tf_no("userName eq \"x\" and title pr or active eq false");
	tf_yes("userName eq \"x\" and title pr or active eq true");
	tf_yes("not (active eq false)");
	tf_no("NOT(userName pr)");
	tf_yes("not (not (userName pr))");
	tf_yes("((userName pr))");
	tf_yes("not (userName eq \"x\" or title eq \"y\") and id eq \"12\"");
	tf_yes("userName eq \"x\" or userName eq \"y\" or id eq \"12\"");
	tf_no("id eq \"12\" and id eq \"12\" and id eq \"13\"");
}

static void test_scimfilter_attributes(void **state)
{
	(void)state;
	/* Sub-attributes, any case, with or without the schema URN. */
	tf_yes("name.familyName eq \"lee\"");
	tf_yes("Name.FamilyName eq \"Lee\"");
	tf_no("name.givenName eq \"Lee\"");
	tf_yes("name pr");
	tf_yes("urn:ietf:params:scim:schemas:core:2.0:User:userName eq "
	       "\"ann@example.com\"");
	tf_yes("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "
	       "\"a\"");
	tf_yes("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	       "department eq \"r&d\"");
	tf_yes("URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:"
	       "manager.value eq \"7\"");
	tf_no("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	      "costCenter pr");
	/* Multi-valued: one value is enough; "emails" is emails.value; a
	 * value filter wants one element to meet all of it. */
	tf_yes("emails eq \"ann@home.org\"");
	tf_yes("emails.value ew \"@HOME.org\"");
	tf_yes("emails.type eq \"home\" and emails.value co \"@example.com\"");
	tf_yes("emails[type eq \"work\" and value co \"@example.com\"]");
	tf_no("emails[type eq \"home\" and value co \"@example.com\"]");
	tf_yes("emails[primary eq true]");
	tf_yes("emails[not (primary eq true)]");
	tf_yes("emails[type eq \"home\"] and not (emails[type eq \"other\"])");
	tf_yes("emails pr");
	tf_yes("emails.primary eq true");
	/* Booleans, null. */
	tf_yes("active eq true");
	tf_no("active ne true");
	tf_yes("active eq \"True\"");
	tf_yes("nickName eq null");
	tf_no("nickName ne null");
	tf_no("title eq null");
	tf_yes("title ne null");
	/* Dates compare as times, zones and fractions included. */
	tf_yes("meta.lastModified gt \"2024-02-01T00:00:00Z\"");
	tf_no("meta.lastModified lt \"2024-02-01T00:00:00Z\"");
	tf_yes("meta.created eq \"2024-01-10T09:00:00+01:00\"");
	tf_no("meta.created gt \"2024-01-10T09:00:00+01:00\"");
	tf_yes("meta.created ge \"2024-01-10T03:00:00-05:00\"");
	tf_yes("meta.created lt \"2024-01-10T08:00:00.001Z\"");
	tf_yes("meta.created le \"2024-01-10T08:00:00.000Z\"");
	tf_yes("meta.created sw \"2024-01\"");
	tf_yes("meta.created gt \"2024-01-09T23:59:59Z\" and meta.created lt "
	       "\"2024-01-11T00:00:00Z\"");
	tf_yes("meta.resourceType eq \"User\"");
	tf_no("meta.resourceType eq \"user\"");
	/* Groups. */
	assert_true(
	    tf_match(&scimf_groups, "members.value eq \"13\"", tf_group));
	assert_true(
	    tf_match(&scimf_groups, "members[value eq \"12\"]", tf_group));
	assert_true(tf_match(&scimf_groups, "members eq \"12\"", tf_group));
	assert_false(
	    tf_match(&scimf_groups, "members[value eq \"14\"]", tf_group));
	assert_true(
	    tf_match(&scimf_groups,
	             "displayName eq \"platform team\" and externalId eq "
	             "\"g-9\"",
	             tf_group));
	assert_true(tf_match(&scimf_groups,
	                     "urn:ietf:params:scim:schemas:core:2.0:Group:"
	                     "displayName sw \"Plat\"",
	                     tf_group));
}

static void test_scimfilter_errors(void **state)
{
	const struct scimf_schema *u = &scimf_users;

	(void)state;
	tf_err(u, "", "empty");
	tf_err(u, " + ", "empty");
	tf_err(u, "phone eq \"1\"",
	       "unknown attribute 'phone' of Users (at byte 1)");
	tf_err(u, "name.nick eq \"x\"",
	       "unknown attribute 'name.nick' of Users");
	tf_err(u, "active eq true and emails[kind eq \"x\"]",
	       "unknown attribute 'kind' of emails (at byte 27)");
	tf_err(u, "urn:x:y:userName eq \"a\"",
	       "unknown schema 'urn:x:y' in 'urn:x:y:userName' (at byte 1)");
	tf_err(u, "name.givenName.x eq \"a\"",
	       "deeper than an attribute's sub");
	tf_err(u, "userName is \"a\"",
	       "unknown operator 'is' at byte 10 (eq, ne, co, sw, ew, gt, ge, "
	       "lt, le, pr)");
	tf_err(u, "userName eq",
	       "expected a space and a value after 'eq' at "
	       "byte 12");
	tf_err(u, "userName eq ann",
	       "expected a value (a \"string\", a number, true, false or null) "
	       "at byte 13, found 'a'");
	tf_err(u, "userName eq \"ann", "the string at byte 13 has no closing");
	tf_err(u, "userName eq \"a\\qb\"",
	       "the string at byte 13 is not valid");
	tf_err(u, "userName",
	       "expected a space and an operator after "
	       "'userName' at byte 9, found the end");
	tf_err(u, "(userName pr",
	       "expected ')' at byte 13 to close the '(' at byte 1, found the "
	       "end");
	tf_err(u, "userName pr )", "unexpected ')' at byte 13");
	tf_err(u, "userName pr title pr", "unexpected 't' at byte 13");
	tf_err(u, "userName pr and", "expected an attribute name at byte 16");
	tf_err(u, "not userName pr", "expected '(' after not at byte 5");
	tf_err(u, "name eq \"x\"", "'name' (at byte 1) is complex");
	tf_err(u, "active gt true",
	       "'active' (at byte 1) is a boolean: it "
	       "takes eq, ne or pr");
	tf_err(u, "active eq \"yes\"", "compare it with true or false");
	tf_err(u, "userName eq 5", "'userName' (at byte 1) is a string: quote");
	tf_err(u, "userName eq true", "is a string: quote");
	tf_err(u, "userName eq 1e", "'1e' at byte 13 is not a number");
	tf_err(u, "meta.created gt \"yesterday\"",
	       "'meta.created' (at byte 1) is a dateTime: \"yesterday\" is not "
	       "one");
	tf_err(u, "meta.created gt \"2024-02-30T00:00:00Z\"", "is not one");
	tf_err(u, "meta.created gt \"2024-02-01T00:00:00\"", "is not one");
	tf_err(u, "meta.created lt 5", "compare it with a quoted time");
	tf_err(u, "title gt null", "null compares with eq or ne only");
	tf_err(u, "emails[value[type pr]]",
	       "a value filter cannot hold another");
	tf_err(u, "name[givenName eq \"a\"]",
	       "is not a multi-valued attribute");
	tf_err(u, "emails.value[type pr]", "is not a multi-valued attribute");
	tf_err(u, "emails[type pr].value eq \"a\"",
	       "after a value filter's ']'");
	tf_err(u, "emails[type pr", "expected ']' at byte 15 to close the '['");
	tf_err(u, "emails[name.givenName pr]", "deeper than");
	tf_err(u, "9lives pr", "'9lives' (at byte 1) is not an attribute path");
	tf_err(u, "userName eq \"a\" \x01", "unexpected 0x01 at byte 17");
	tf_err(&scimf_groups, "userName eq \"x\"",
	       "unknown attribute 'userName' of Groups");
	tf_err(&scimf_groups,
	       "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:"
	       "department pr",
	       "unknown schema");
}

static void test_scimfilter_limits(void **state)
{
	struct scimf f;
	char err[SCIMF_ERR_MAX], buf[2048], inner[2048];
	size_t i, n;

	(void)state;
	/* 16 levels nest; 17 do not. */
	n = 0;
	for (i = 0; i < 16; i++)
		buf[n++] = '(';
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "userName pr");
	for (i = 0; i < 16; i++)
		buf[n++] = ')';
	buf[n] = '\0';
	assert_int_equal(scimf_parse(buf, &scimf_users, &f, err), 0);
	(void)snprintf(inner, sizeof(inner), "%s", buf);
	(void)snprintf(buf, sizeof(buf), "not (%.1000s)", inner);
	tf_err(&scimf_users, buf, "nested deeper than 16 levels (at byte ");
	/* 32 terms or-ed are 63 nodes; 33 are 65. */
	n = 0;
	for (i = 0; i < 32; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sid pr",
		                      i > 0 ? " or " : "");
	assert_int_equal(scimf_parse(buf, &scimf_users, &f, err), 0);
	assert_int_equal(f.nn, 63);
	(void)snprintf(buf + n, sizeof(buf) - n, " or id pr");
	tf_err(&scimf_users, buf, "more than 64 terms");
	/* 512 bytes, not 513. */
	memset(buf, ' ', 512);
	memcpy(buf, "id pr", 5);
	buf[512] = '\0';
	assert_int_equal(scimf_parse(buf, &scimf_users, &f, err), 0);
	buf[512] = ' ';
	buf[513] = '\0';
	tf_err(&scimf_users, buf, "longer than 512 bytes");
	/* A long string value fits the filter's text. */
	buf[0] = '\0';
	n = (size_t)snprintf(buf, sizeof(buf), "title eq \"");
	memset(buf + n, 'x', 500);
	memcpy(buf + n + 500, "\"", 2);
	assert_int_equal(scimf_parse(buf, &scimf_users, &f, err), 0);
}

static void test_scimfilter_elements(void **state)
{
	struct scimf f;
	char err[SCIMF_ERR_MAX];
	json_t *e;

	(void)state;
	/* A PATCH path's filter: members[value eq "12"]. */
	assert_int_equal(scimf_parse_elements("value eq \"12\"", &scimf_groups,
	                                      NULL, "members", &f, err),
	                 0);
	e = tf_load("{\"value\":\"12\",\"display\":\"ann\"}");
	assert_true(scimf_match(&f, e));
	json_decref(e);
	e = tf_load("{\"value\":\"13\"}");
	assert_false(scimf_match(&f, e));
	json_decref(e);
	/* emails[type eq "work"]: type compares in any case. */
	assert_int_equal(scimf_parse_elements("type eq \"work\"", &scimf_users,
	                                      NULL, "emails", &f, err),
	                 0);
	e = tf_load("{\"type\":\"Work\"}");
	assert_true(scimf_match(&f, e));
	json_decref(e);
	assert_int_not_equal(scimf_parse_elements("kind eq \"work\"",
	                                          &scimf_users, NULL, "emails",
	                                          &f, err),
	                     0);
	assert_non_null(strstr(err, "unknown attribute 'kind' of emails"));
	assert_int_not_equal(
	    scimf_parse_elements("urn:ietf:params:scim:schemas:core:2.0:User:"
	                         "type eq \"work\"",
	                         &scimf_users, NULL, "emails", &f, err),
	    0);
	assert_non_null(strstr(err, "without a schema"));
	/* An attribute the schema does not list (Entra ID's addresses):
	 * any names, compared as they are. */
	assert_int_equal(scimf_parse_elements("type eq \"work\" and primary eq "
	                                      "true",
	                                      &scimf_users, NULL, "addresses",
	                                      &f, err),
	                 0);
	e = tf_load("{\"type\":\"work\",\"primary\":true}");
	assert_true(scimf_match(&f, e));
	json_decref(e);
	e = tf_load("{\"type\":\"Work\",\"primary\":true}");
	assert_false(scimf_match(&f, e));
	json_decref(e);
	/* Entra ID's roles[primary eq "True"]: a string for a boolean. */
	{
		struct scimf g;

		assert_int_equal(scimf_parse_elements("primary eq \"True\"",
		                                      &scimf_users, NULL,
		                                      "roles", &g, err),
		                 0);
		e = tf_load("{\"primary\":true}");
		assert_true(scimf_match(&g, e));
		json_decref(e);
	}
	/* What a match says, for an element to add. */
	e = json_object();
	assert_int_equal(scimf_seed(&f, e, err), 0);
	assert_string_equal(json_string_value(json_object_get(e, "type")),
	                    "work");
	assert_true(json_is_true(json_object_get(e, "primary")));
	json_decref(e);
	assert_int_equal(scimf_parse_elements("type ne \"work\"", &scimf_users,
	                                      NULL, "emails", &f, err),
	                 0);
	e = json_object();
	assert_int_equal(scimf_seed(&f, e, err), -1);
	assert_non_null(strstr(err, "says the one to add"));
	json_decref(e);
}

static void test_scimfilter_required_eq(void **state)
{
	struct scimf f;
	char err[SCIMF_ERR_MAX];
	const char *v;

	(void)state;
	assert_int_equal(
	    scimf_parse("userName eq \"a\"", &scimf_users, &f, err), 0);
	assert_string_equal(scimf_required_eq(&f, "userName"), "a");
	assert_null(scimf_required_eq(&f, "externalId"));
	assert_int_equal(scimf_parse("active eq true and (title pr and "
	                             "urn:ietf:params:scim:schemas:core:2.0:"
	                             "User:USERNAME eq \"b\")",
	                             &scimf_users, &f, err),
	                 0);
	v = scimf_required_eq(&f, "userName");
	assert_non_null(v);
	assert_string_equal(v, "b");
	assert_int_equal(scimf_parse("userName eq \"a\" or active eq true",
	                             &scimf_users, &f, err),
	                 0);
	assert_null(scimf_required_eq(&f, "userName"));
	assert_int_equal(
	    scimf_parse("not (userName eq \"a\")", &scimf_users, &f, err), 0);
	assert_null(scimf_required_eq(&f, "userName"));
	assert_int_equal(
	    scimf_parse("name.givenName eq \"a\"", &scimf_users, &f, err), 0);
	assert_null(scimf_required_eq(&f, "givenName"));
	assert_null(scimf_required_eq(&f, "name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scimfilter_operators),
	    cmocka_unit_test(test_scimfilter_logic),
	    cmocka_unit_test(test_scimfilter_attributes),
	    cmocka_unit_test(test_scimfilter_errors),
	    cmocka_unit_test(test_scimfilter_limits),
	    cmocka_unit_test(test_scimfilter_elements),
	    cmocka_unit_test(test_scimfilter_required_eq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
