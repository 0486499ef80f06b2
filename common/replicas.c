/* SPDX-License-Identifier: MIT */
/* The replica set's agent addresses: syntax, list bounds, the agents'
 * spread order. */
#include "replicas.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "jsonutil.h"

/* A DNS name: dot-separated labels of letters, digits and '-'. */
static bool replicas_dns_ok(const char *h, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > REPLICAS_HOST_MAX)
		return false;
	for (i = 0; i <= n; i++) {
		char c = i < n ? h[i] : '.';

		if (c == '.') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}

/* True when the name is all digits and dots: meant as IPv4. */
static bool replicas_looks_ipv4(const char *h)
{
	return h[strspn(h, "0123456789.")] == '\0';
}

int replicas_addr_parse(const char *s, char *host, int *port, struct diag *d)
{
	char h[REPLICAS_HOST_MAX + 1];
	unsigned char bin[16];
	const char *colon, *p;
	size_t n, len;
	long v = 0;

	if (s == NULL || (len = strlen(s)) == 0)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "an empty address (want HOST:PORT)");
	if (len > REPLICAS_ADDR_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "address of %zu bytes: at most %d", len,
		                REPLICAS_ADDR_MAX);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':')
			return diag_set(d, ERR_INVALID, 0, 0,
			                "'%s': an IPv6 address wants "
			                "[ADDRESS]:PORT",
			                jsonutil_printable(s));
		n = (size_t)(close - s - 1);
		if (n == 0 || n > REPLICAS_HOST_MAX)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "'%s': not an IPv6 address",
			                jsonutil_printable(s));
		memcpy(h, s + 1, n);
		h[n] = '\0';
		if (inet_pton(AF_INET6, h, bin) != 1)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "'%s': not an IPv6 address in the "
			                "brackets",
			                jsonutil_printable(s));
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "'%s': no port (want HOST:PORT)",
			                jsonutil_printable(s));
		n = (size_t)(colon - s);
		if (n == 0 || n > REPLICAS_HOST_MAX)
			return diag_set(d, ERR_INVALID, 0, 0,
			                "'%s': the host must be 1 to %d bytes",
			                jsonutil_printable(s),
			                REPLICAS_HOST_MAX);
		memcpy(h, s, n);
		h[n] = '\0';
		if (strchr(h, ':') != NULL)
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "'%s': an IPv6 address goes in brackets "
			    "([ADDRESS]:PORT)",
			    jsonutil_printable(s));
		if (replicas_looks_ipv4(h) ? inet_pton(AF_INET, h, bin) != 1
		                           : !replicas_dns_ok(h, n))
			return diag_set(
			    d, ERR_INVALID, 0, 0,
			    "'%s': the host is not a DNS name or an "
			    "IPv4 address",
			    jsonutil_printable(s));
	}
	p = colon + 1;
	if (*p == '\0' || strlen(p) > 5 || p[strspn(p, "0123456789")] != '\0')
		return diag_set(d, ERR_INVALID, 0, 0,
		                "'%s': the port must be 1 to 65535",
		                jsonutil_printable(s));
	for (; *p != '\0'; p++)
		v = v * 10 + (*p - '0');
	if (v < 1 || v > 65535)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "'%s': the port must be 1 to 65535",
		                jsonutil_printable(s));
	if (host != NULL)
		memcpy(host, h, strlen(h) + 1);
	if (port != NULL)
		*port = (int)v;
	return 0;
}

int replicas_addr_format(const char *host, int port, char *out, struct diag *d)
{
	char buf[REPLICAS_ADDR_MAX + 16];
	bool v6 = strchr(host, ':') != NULL;
	int n;

	n = snprintf(buf, sizeof(buf), "%s%s%s:%d", v6 ? "[" : "", host,
	             v6 ? "]" : "", port);
	if (n < 0 || (size_t)n > REPLICAS_ADDR_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "host '%s': longer than %d bytes",
		                jsonutil_printable(host), REPLICAS_HOST_MAX);
	if (replicas_addr_parse(buf, NULL, NULL, d) != 0)
		return -ERR_INVALID;
	memcpy(out, buf, (size_t)n + 1);
	return 0;
}

int replicas_list_check(const char *const *v, size_t n, const char *what,
                        struct diag *d)
{
	struct diag sub;
	size_t i, j;

	if (n == 0 || n > REPLICAS_MAX)
		return diag_set(d, ERR_INVALID, 0, 0,
		                "%s: %zu addresses, want 1 to %d", what, n,
		                REPLICAS_MAX);
	for (i = 0; i < n; i++) {
		diag_clear(&sub);
		if (replicas_addr_parse(v[i], NULL, NULL, &sub) != 0)
			return diag_set(d, ERR_INVALID, 0, 0, "%s[%zu]: %s",
			                what, i, sub.msg);
		for (j = 0; j < i; j++)
			if (strcmp(v[i], v[j]) == 0)
				return diag_set(d, ERR_INVALID, 0, 0,
				                "%s[%zu]: '%s' is listed twice",
				                what, i,
				                jsonutil_printable(v[i]));
	}
	return 0;
}

size_t replicas_start(const char *device_id, size_t n)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (n == 0)
		return 0;
	while (*device_id != '\0')
		h = (h ^ (uint8_t)*device_id++) * 16777619u;
	return h % n;
}

size_t replicas_next(size_t cur, size_t n)
{
	return n == 0 ? 0 : (cur + 1) % n;
}
