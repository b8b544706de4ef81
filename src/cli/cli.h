/*
 * cli.h: what the CLI's verbs share.
 */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

#include "core/buf.h"

#define CLI_PASSWORD_MAX 16384

/*
 * A password on standard input (--password-stdin), without its line end,
 * appended to ret: 0, -EFBIG past CLI_PASSWORD_MAX bytes, -EIO.
 */
int cli_read_password(struct buf *ret);

#endif
