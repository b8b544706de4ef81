/*
 * fuzz_archive.c: libFuzzer target over `berth image load` (agent/
 * archive.h): the input is an OCI archive (a tar, any compression). It is
 * loaded into a scratch image store, which is emptied after each input;
 * nothing may be written outside it, and a failure must leave no record.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/archive.h"
#include "core/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void remove_dir(void)
{
	fs_remove_tree(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct images *s = NULL;
	struct err err = ERR_INIT;
	char path[96];
	FILE *f;
	int fd, r;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/berth-fuzz-archive-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	snprintf(path, sizeof(path), "%s/store", dir);
	if (images_open(path, &s, &err) < 0)
		abort();
	f = tmpfile();
	if (!f || (size && fwrite(data, 1, size, f) != size) || fflush(f) != 0)
		abort();
	fd = fileno(f);
	lseek(fd, 0, SEEK_SET);
	r = image_load(s, fd, NULL, NULL, NULL, &err);
	if (r < 0 && !err.msg[0])
		abort(); /* a failure says what failed */
	fclose(f);
	images_close(s);
	fs_remove_tree(path);
	return 0;
}
