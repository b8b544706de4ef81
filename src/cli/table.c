/*
 * table.c: aligned tables for people (cli.h).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/banned.h"

void table_init(struct table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	table_add(t, headers);
}

static char *clean_dup(const char *s)
{
	char *d = strdup(s ? s : "-");

	if (!d)
		abort(); /* as buf.h: out of memory ends the CLI */
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return d;
}

void table_add(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		char **v = realloc(t->cells, cap * t->ncols * sizeof(*v));

		if (!v)
			abort();
		t->cells = v;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean_dup(cells[i]);
	t->nrows++;
}

/* Characters of a UTF-8 string: bytes that do not continue one. */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void table_format(const struct table *t, struct buf *out)
{
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));

	if (!w)
		abort();
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = width(t->cells[r * t->ncols + c]);

			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			buf_puts(out, cell);
			if (c + 1 == t->ncols)
				break;
			for (size_t pad = width(cell); pad < w[c] + 2; pad++)
				buf_putc(out, ' ');
		}
		buf_putc(out, '\n');
	}
	free(w);
}

void table_release(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
