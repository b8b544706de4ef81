/*
 * shim/main.c: `berth-shim`, the monitor of one container (agent/shim.c)
 * as a program of its own, linked with libc alone: the agent starts one
 * per container, and a process that loads no shared library but libc
 * starts in about a millisecond where the whole berth binary, with
 * libcurl's dozens of dependencies, takes ten. It is run as
 * `berth-shim shim STATE-DIR ID RUNTIME RUNTIME-ROOT`, the arguments of
 * `berth shim`, which stays for compatibility: the same code behind both.
 */
#include <stdio.h>
#include <string.h>

#include "agent/runtime.h"
#include "core/banned.h"

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "shim") != 0) {
		fprintf(stderr, "usage: berth-shim shim STATE-DIR ID RUNTIME RUNTIME-ROOT "
				"(internal: started by berth agent)\n");
		return 2;
	}
	return cmd_shim(argc - 1, argv + 1);
}
