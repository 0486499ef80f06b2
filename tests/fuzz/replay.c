/* SPDX-License-Identifier: MIT */
/* Runs a libFuzzer target over every file of a corpus directory, so the suite
 * replays it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	DIR *dir;
	struct dirent *de;
	char path[4096];
	size_t n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	if ((dir = opendir(argv[1])) == NULL) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(dir)) != NULL) {
		char *data = NULL;
		size_t len = 0;
		int w;

		if (de->d_name[0] == '.')
			continue;
		w = snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
		if (w < 0 || (size_t)w >= sizeof(path)) {
			fprintf(stderr, "%s: path too long\n", de->d_name);
			closedir(dir);
			return 1;
		}
		if (fileio_read(path, 16u << 20, &data, &len) != 0) {
			fprintf(stderr, "%s: cannot read\n", path);
			closedir(dir);
			return 1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data, len);
		free(data);
		n++;
	}
	closedir(dir);
	if (n == 0) {
		fprintf(stderr, "%s: empty corpus\n", argv[1]);
		return 1;
	}
	printf("replayed %zu inputs\n", n);
	return 0;
}
