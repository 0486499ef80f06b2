/* SPDX-License-Identifier: MIT */
/* The edit interface the format-preserving editors share (jsonedit.h,
 * tomledit.h): one change to one member of the container being edited. */
#ifndef MCPFLEET_EDIT_H
#define MCPFLEET_EDIT_H

#include <stddef.h>

#include <jansson.h>

/* One change to a member of the object or table being edited. */
struct jedit {
	const char *name;    /* member name, any UTF-8 */
	const json_t *value; /* new value; NULL removes the member */
};

/*
 * Frees an array of n names as the editors' listings return it: n new
 * strings in a new array (tomledit_names; jdoc_member_names's arrays, which
 * jdoc_names_free frees, have the same layout). NULL-safe.
 */
void edit_names_free(char **names, size_t n);

#endif
