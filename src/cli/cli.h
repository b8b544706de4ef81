/*
 * cli.h: what the CLI's verbs share.
 */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

#include <stdbool.h>

#include "agent/images.h"
#include "core/buf.h"

#define CLI_PASSWORD_MAX 16384

/*
 * A password on standard input (--password-stdin), without its line end,
 * appended to ret: 0, -EFBIG past CLI_PASSWORD_MAX bytes, -EIO.
 */
int cli_read_password(struct buf *ret);

/*
 * --username USER --password-stdin, for the verb cmd ("berth build"):
 * both or neither; the password read into password, and ret (when a user
 * is given) pointing at both. Returns 0, or the exit status after saying
 * what is wrong: 2 for bad usage, 1 when the password cannot be read.
 */
int cli_credentials(const char *cmd, const char *username, bool password_stdin,
		    struct buf *password, struct image_auth *ret);

#endif
