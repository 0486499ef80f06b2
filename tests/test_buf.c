/* SPDX-License-Identifier: MIT */
/* Unit tests: common/buf.c, common/fileio.c, common/err.c. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "fileio.h"

static void test_buf_append_grows_and_terminates(void **state)
{
	struct buf b = BUF_INIT;
	size_t i, len;
	char *s;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_puts(&b, "ab"), 0);
	assert_int_equal(b.len, 2000);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data + 2000, "42-x");
	s = buf_steal(&b, &len);
	assert_int_equal(len, 2004);
	assert_null(b.data);
	free(s);
	s = buf_steal(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
}

static void test_buf_err_messages_cover_every_code(void **state)
{
	int i;

	(void)state;
	for (i = 1; i < ERR_MAX_; i++) {
		assert_non_null(err_str(-i));
		assert_string_not_equal(err_str(-i), "unknown error");
	}
	assert_string_equal(err_str(-ERR_NOMEM), "out of memory");
	assert_string_equal(err_str(9999), "unknown error");
}

static void test_buf_diag_set_returns_negative_code(void **state)
{
	struct diag d;

	(void)state;
	assert_int_equal(diag_set(&d, ERR_PARSE, 3, 7, "bad %s", "thing"),
	                 -ERR_PARSE);
	assert_int_equal(d.line, 3);
	assert_int_equal(d.col, 7);
	assert_string_equal(d.msg, "bad thing");
	assert_int_equal(diag_set(NULL, -ERR_IO, 0, 0, "x"), -ERR_IO);
}

static void test_buf_fileio_write_keeps_mode(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "f.json");
	struct stat st;

	(void)state;
	tu_write(p, "old", 3);
	assert_int_equal(chmod(p, 0640), 0);
	assert_int_equal(fileio_write_atomic(p, "new", 3, 0600, 0), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	tu_assert_file_eq(p, "new", 3);
	assert_int_equal(
	    fileio_write_atomic(p, "x", 1, 0600, FILEIO_FORCE_MODE), 0);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(p);
	tu_rmtree(dir);
	free(dir);
}

static void test_buf_fileio_write_follows_symlink(void **state)
{
	char *dir = tu_mkdtemp(), *target = tu_path(dir, "real.json"),
	     *link = tu_path(dir, "link.json");
	struct stat st;

	(void)state;
	tu_write(target, "{}", 2);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(fileio_write_atomic(link, "{\"a\":1}", 7, 0600, 0), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	tu_assert_file_eq(target, "{\"a\":1}", 7);
	free(target);
	free(link);
	tu_rmtree(dir);
	free(dir);
}

static void test_buf_fileio_read_limits(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "big");
	char *data = NULL;
	size_t len;

	(void)state;
	tu_write(p, "0123456789", 10);
	assert_int_equal(fileio_read(p, 9, &data, &len), -ERR_TOOBIG);
	assert_null(data);
	assert_int_equal(fileio_read(p, 10, &data, &len), 0);
	assert_int_equal(len, 10);
	free(data);
	free(p);
	p = tu_path(dir, "missing");
	assert_int_equal(fileio_read(p, 10, &data, &len), -ERR_NOENT);
	assert_int_equal(fileio_read(dir, 10, &data, &len), -ERR_IO);
	free(p);
	tu_rmtree(dir);
	free(dir);
}

static void test_buf_fileio_write_fails_cleanly(void **state)
{
	char *dir = tu_mkdtemp(), *p = tu_path(dir, "nodir/f");

	(void)state;
	assert_int_equal(fileio_write_atomic(p, "x", 1, 0600, 0), -ERR_IO);
	assert_int_equal(errno, ENOENT);
	free(p);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_append_grows_and_terminates),
	    cmocka_unit_test(test_buf_err_messages_cover_every_code),
	    cmocka_unit_test(test_buf_diag_set_returns_negative_code),
	    cmocka_unit_test(test_buf_fileio_write_keeps_mode),
	    cmocka_unit_test(test_buf_fileio_write_follows_symlink),
	    cmocka_unit_test(test_buf_fileio_read_limits),
	    cmocka_unit_test(test_buf_fileio_write_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
