/*
 * bundle.c: the OCI runtime configuration (config.json) of a container,
 * from its ECS container definition merged with its image's config, the
 * way Docker merges them for ECS's agent:
 *
 * - args: an entryPoint given in the definition replaces the image's
 *   Entrypoint and then only the definition's command follows it; without
 *   one, the image's Entrypoint is followed by the definition's command or,
 *   without that, by the image's Cmd.
 * - env: the image's Env, then the definition's environment (a name given
 *   twice keeps the later value), then what the agent adds; PATH gets
 *   Docker's default when nothing sets it; HOSTNAME is set.
 * - user: the definition's, else the image's: "uid", "uid:gid", "name",
 *   "name:group" or "uid:group", names looked up in the root file system's
 *   /etc/passwd and /etc/group (runc takes only numbers; the files are
 *   read inside the root, their symbolic links resolved within it). As
 *   Docker: a uid alone takes its passwd entry's group (else 0), and
 *   without an explicit group the user's supplementary groups from
 *   /etc/group are added.
 * - cwd: workingDirectory, else the image's WorkingDir, else "/".
 * - Docker's default capabilities, with linuxParameters.capabilities add
 *   and drop ("ALL" allowed); privileged grants every capability, every
 *   device in the devices cgroup, a writable /sys and no masked paths.
 * - cgroup limits: memory (MiB, the hard limit), memoryReservation (MiB,
 *   the soft limit) and cpu (CPU shares, at least 2), when given;
 *   linuxParameters.maxSwap (MiB of swap on top of memory; 0: none) and
 *   swappiness. The cgroup is /berth/ID.
 * - ulimits as rlimits, only those asked for, and never above the hard
 *   limit the agent itself has (it cannot raise one): a larger value is
 *   lowered to it.
 * - readonlyRootFilesystem makes the root read-only.
 * - /etc/hosts, /etc/hostname and /etc/resolv.conf are the container
 *   directory's files (container_bundle_files): extraHosts, hostname (at
 *   the container's address), the task's other containers (bridge mode),
 *   dnsServers and dnsSearchDomains.
 * - the network: the host's, a namespace of its own with loopback only, or
 *   the namespace the agent made for it (bridge, awsvpc: network.c).
 * - the spec's mounts (task volumes) as bind mounts; linuxParameters.tmpfs
 *   and sharedMemorySize (MiB of /dev/shm); systemControls as sysctls;
 *   dockerLabels as annotations.
 *
 * - linuxParameters.initProcessEnabled: berth-init (src/init/init.c, from
 *   beside the berth binary) bind-mounted read-only at /dev/init runs the
 *   command as its child, as Docker's --init: args become
 *   ["/dev/init", "--", ARGS...].
 *
 * Not yet: seccomp profiles (Docker's default one), host devices
 * (linuxParameters.devices, and those privileged grants), user namespaces.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/runtime.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/banned.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PASSWD_MAX   (4u << 20)
#define MAX_GROUPS   64
#define MIB	     (1024 * 1024)
/* Where berth-init is bind-mounted in a container (as podman mounts its init). */
#define INIT_PATH "/dev/init"

/* Docker's default capability set. */
static const char *const default_caps[] = {
	"CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",	   "CAP_FOWNER",
	"CAP_MKNOD",   "CAP_NET_RAW",	   "CAP_SETGID",	   "CAP_SETUID",
	"CAP_SETFCAP", "CAP_SETPCAP",	   "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
	"CAP_KILL",    "CAP_AUDIT_WRITE",
};

/* Every capability runc 1.1 knows. */
static const char *const all_caps[] = {
	"CAP_AUDIT_CONTROL",   "CAP_AUDIT_READ",   "CAP_AUDIT_WRITE",
	"CAP_BLOCK_SUSPEND",   "CAP_BPF",	   "CAP_CHECKPOINT_RESTORE",
	"CAP_CHOWN",	       "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH",
	"CAP_FOWNER",	       "CAP_FSETID",	   "CAP_IPC_LOCK",
	"CAP_IPC_OWNER",       "CAP_KILL",	   "CAP_LEASE",
	"CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN",	   "CAP_MAC_OVERRIDE",
	"CAP_MKNOD",	       "CAP_NET_ADMIN",	   "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST",   "CAP_NET_RAW",	   "CAP_PERFMON",
	"CAP_SETFCAP",	       "CAP_SETGID",	   "CAP_SETPCAP",
	"CAP_SETUID",	       "CAP_SYS_ADMIN",	   "CAP_SYS_BOOT",
	"CAP_SYS_CHROOT",      "CAP_SYS_MODULE",   "CAP_SYS_NICE",
	"CAP_SYS_PACCT",       "CAP_SYS_PTRACE",   "CAP_SYS_RAWIO",
	"CAP_SYS_RESOURCE",    "CAP_SYS_TIME",	   "CAP_SYS_TTY_CONFIG",
	"CAP_SYSLOG",	       "CAP_WAKE_ALARM",
};

static const char *const masked_paths[] = {
	"/proc/acpi",	       "/proc/asound",	   "/proc/kcore",	"/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi",	       "/sys/firmware",
};

static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* ECS's ulimit names and the rlimits they are. */
static const struct {
	const char *name;
	int resource;
} ulimits_known[] = {
	{ "core", RLIMIT_CORE },	 { "cpu", RLIMIT_CPU },
	{ "data", RLIMIT_DATA },	 { "fsize", RLIMIT_FSIZE },
	{ "locks", RLIMIT_LOCKS },	 { "memlock", RLIMIT_MEMLOCK },
	{ "msgqueue", RLIMIT_MSGQUEUE }, { "nice", RLIMIT_NICE },
	{ "nofile", RLIMIT_NOFILE },	 { "nproc", RLIMIT_NPROC },
	{ "rss", RLIMIT_RSS },		 { "rtprio", RLIMIT_RTPRIO },
	{ "rttime", RLIMIT_RTTIME },	 { "sigpending", RLIMIT_SIGPENDING },
	{ "stack", RLIMIT_STACK },
};

/* --- the process's arguments ------------------------------------------- */

static const cJSON *image_field(const cJSON *image_config, const char *key)
{
	return json_get(json_obj(image_config, "config"), key);
}

static bool nonempty_array(const cJSON *a)
{
	return cJSON_IsArray(a) && a->child;
}

static void write_strings(struct jsonw *w, const cJSON *a)
{
	for (const cJSON *s = cJSON_IsArray(a) ? a->child : NULL; s; s = s->next)
		if (cJSON_IsString(s))
			jsonw_str(w, s->valuestring);
}

/* process.args; behind init ("/dev/init --") when it is given. */
static int write_args(struct jsonw *w, const struct container_spec *spec, const char *init,
		      struct err *err)
{
	const cJSON *entry = json_get(spec->container_def, "entryPoint");
	const cJSON *cmd = json_get(spec->container_def, "command");
	size_t n = 0;

	if (!nonempty_array(entry)) {
		entry = image_field(spec->image_config, "Entrypoint");
		if (!nonempty_array(cmd))
			cmd = image_field(spec->image_config, "Cmd");
	}
	for (const cJSON *s = cJSON_IsArray(entry) ? entry->child : NULL; s; s = s->next)
		n++;
	for (const cJSON *s = cJSON_IsArray(cmd) ? cmd->child : NULL; s; s = s->next)
		n++;
	if (n == 0)
		return err_set(err, -EINVAL, E_CLIENT,
			       "CannotCreateContainerError: no command specified (neither the "
			       "container definition nor the image gives one)");
	jsonw_key(w, "args");
	jsonw_arr_begin(w);
	if (init) {
		jsonw_str(w, INIT_PATH);
		jsonw_str(w, "--");
	}
	write_strings(w, entry);
	write_strings(w, cmd);
	jsonw_arr_end(w);
	return 0;
}

/* --- the environment --------------------------------------------------- */

/* Set NAME=VALUE in env (an object name -> "NAME=VALUE"), the last one winning, in first-set order. */
static void env_set(cJSON *env, const char *name, size_t name_len, const char *entry)
{
	char key[256];

	if (name_len == 0 || name_len >= sizeof(key))
		return;
	memcpy(key, name, name_len);
	key[name_len] = 0;
	if (cJSON_GetObjectItemCaseSensitive(env, key))
		cJSON_ReplaceItemInObjectCaseSensitive(env, key, cJSON_CreateString(entry));
	else
		cJSON_AddStringToObject(env, key, entry);
}

static void write_env(struct jsonw *w, const struct container_spec *spec, const char *hostname)
{
	_cleanup_json_ cJSON *env = cJSON_CreateObject();
	const cJSON *img = image_field(spec->image_config, "Env");
	const cJSON *def = json_arr(spec->container_def, "environment");
	char line[512];

	snprintf(line, sizeof(line), "HOSTNAME=%s", hostname);
	env_set(env, "HOSTNAME", 8, line);
	env_set(env, "PATH", 4, DEFAULT_PATH);
	for (const cJSON *e = cJSON_IsArray(img) ? img->child : NULL; e; e = e->next) {
		const char *eq = cJSON_IsString(e) ? strchr(e->valuestring, '=') : NULL;

		if (eq)
			env_set(env, e->valuestring, (size_t)(eq - e->valuestring), e->valuestring);
	}
	for (const cJSON *e = def ? def->child : NULL; e; e = e->next) {
		const char *name = json_str(e, "name"), *value = json_str(e, "value");
		_cleanup_buf_ struct buf b = BUF_INIT;

		if (!name)
			continue;
		buf_printf(&b, "%s=%s", name, value ? value : "");
		env_set(env, name, strlen(name), buf_str(&b));
	}
	for (const char *const *x = spec->extra_env; x && *x; x++) {
		const char *eq = strchr(*x, '=');

		if (eq)
			env_set(env, *x, (size_t)(eq - *x), *x);
	}
	jsonw_key(w, "env");
	jsonw_arr_begin(w);
	for (const cJSON *e = env->child; e; e = e->next)
		jsonw_str(w, e->valuestring);
	jsonw_arr_end(w);
}

/* --- the user ---------------------------------------------------------- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Read path (absolute in the container) from the root at rootfs, resolving
 * every symbolic link inside the root, as the container would: an image
 * cannot make the agent read a host file. Missing: empty, 0.
 */
static void read_in_root(const char *rootfs, const char *path, struct buf *out)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC), fd;
	struct stat st;

	if (root < 0)
		return;
	fd = (int)syscall(SYS_openat2, root, path, &how, sizeof(how));
	close(root);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= PASSWD_MAX) {
		char chunk[65536];
		ssize_t n;

		while ((n = read(fd, chunk, sizeof(chunk))) > 0 && out->len < PASSWD_MAX)
			buf_append(out, chunk, (size_t)n);
	}
	close(fd);
}

/*
 * The next line of a passwd- or group-format text (advancing *pos), split
 * into up to 4 fields in place: name, password, id, and the 4th (passwd:
 * the primary gid; group: the member list). false at the end.
 */
static bool next_entry(struct buf *text, size_t *pos, char *f[4])
{
	while (*pos < text->len) {
		char *line = text->data + *pos, *nl = strchr(line, '\n'), *p = line;

		*pos += nl ? (size_t)(nl - line) + 1 : strlen(line);
		if (nl)
			*nl = 0;
		for (int i = 0; i < 4; i++) {
			f[i] = p;
			p = p ? strchr(p, ':') : NULL;
			if (p)
				*p++ = 0;
		}
		if (f[0] && *f[0] && f[2] && all_digits(f[2], strlen(f[2])))
			return true;
	}
	return false;
}

struct user {
	long uid, gid;
	long gids[MAX_GROUPS]; /* supplementary */
	size_t n_gids;
};

static bool name_is(const char *field, const char *name, size_t len)
{
	return strlen(field) == len && !strncmp(field, name, len);
}

static bool member_of(const char *members, const char *name)
{
	size_t len = strlen(name);

	for (const char *m = members; m && *m;) {
		const char *comma = strchr(m, ',');
		size_t n = comma ? (size_t)(comma - m) : strlen(m);

		if (n == len && !strncmp(m, name, len))
			return true;
		m = comma ? comma + 1 : m + n;
	}
	return false;
}

static int resolve_user(const char *spec_user, const char *rootfs, struct user *ret,
			struct err *err)
{
	_cleanup_buf_ struct buf passwd = BUF_INIT, group = BUF_INIT;
	_cleanup_free_ char *name = NULL;
	const char *colon;
	size_t ulen, pos = 0;
	char *f[4];

	memset(ret, 0, sizeof(*ret));
	if (!spec_user || !*spec_user)
		return 0;
	read_in_root(rootfs, "/etc/passwd", &passwd);
	read_in_root(rootfs, "/etc/group", &group);
	colon = strchr(spec_user, ':');
	ulen = colon ? (size_t)(colon - spec_user) : strlen(spec_user);
	if (all_digits(spec_user, ulen)) {
		ret->uid = strtol(spec_user, NULL, 10);
		/* a uid alone takes its passwd entry's group and name, if it has one */
		while (next_entry(&passwd, &pos, f))
			if (strtol(f[2], NULL, 10) == ret->uid) {
				ret->gid = f[3] ? strtol(f[3], NULL, 10) : 0;
				name = strdup(f[0]);
				break;
			}
	} else {
		bool found = false;

		while (!found && next_entry(&passwd, &pos, f))
			if (name_is(f[0], spec_user, ulen)) {
				ret->uid = strtol(f[2], NULL, 10);
				ret->gid = f[3] ? strtol(f[3], NULL, 10) : 0;
				name = strdup(f[0]);
				found = true;
			}
		if (!found)
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotStartContainerError: unable to find user %.*s: no "
				       "matching entries in passwd file",
				       (int)(ulen > 200 ? 200 : ulen), spec_user);
	}
	pos = 0;
	if (colon) {
		const char *g = colon + 1;
		bool found = false;

		if (all_digits(g, strlen(g))) {
			ret->gid = strtol(g, NULL, 10);
			found = true;
		}
		while (!found && next_entry(&group, &pos, f))
			if (name_is(f[0], g, strlen(g))) {
				ret->gid = strtol(f[2], NULL, 10);
				found = true;
			}
		if (!found)
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotStartContainerError: unable to find group %.200s: no "
				       "matching entries in group file",
				       g);
	} else if (name) {
		/* supplementary groups only with the implicit group (as runc's lookup has them) */
		while (ret->n_gids < MAX_GROUPS && next_entry(&group, &pos, f))
			if (member_of(f[3], name))
				ret->gids[ret->n_gids++] = strtol(f[2], NULL, 10);
	}
	if (ret->uid > INT32_MAX || ret->gid > INT32_MAX)
		return err_set(err, -EINVAL, E_CLIENT, "CannotStartContainerError: bad user %.200s",
			       spec_user);
	return 0;
}

/* --- capabilities ------------------------------------------------------ */

/* "SYS_ADMIN" or "CAP_SYS_ADMIN" in a list of ECS capability names. */
static bool cap_listed(const cJSON *list, const char *cap)
{
	for (const cJSON *s = cJSON_IsArray(list) ? list->child : NULL; s; s = s->next) {
		const char *v = cJSON_IsString(s) ? s->valuestring : "";

		if (!strcasecmp(v, "ALL") || !strcasecmp(v, cap) || !strcasecmp(v, cap + 4))
			return true;
	}
	return false;
}

static void write_caps(struct jsonw *w, const struct container_spec *spec)
{
	const cJSON *caps =
		json_obj(json_obj(spec->container_def, "linuxParameters"), "capabilities");
	const cJSON *add = json_get(caps, "add"), *drop = json_get(caps, "drop");
	bool privileged = json_bool(spec->container_def, "privileged", false);
	static const char *const sets[] = { "bounding", "effective", "permitted" };

	jsonw_key(w, "capabilities");
	jsonw_obj_begin(w);
	for (size_t s = 0; s < ARRAY_SIZE(sets); s++) {
		jsonw_key(w, sets[s]);
		jsonw_arr_begin(w);
		for (size_t i = 0; i < ARRAY_SIZE(all_caps); i++) {
			bool in = privileged;

			for (size_t d = 0; !in && d < ARRAY_SIZE(default_caps); d++)
				in = !strcmp(default_caps[d], all_caps[i]);
			if (!privileged) {
				if (cap_listed(add, all_caps[i]))
					in = true;
				if (cap_listed(drop, all_caps[i]))
					in = false;
			}
			if (in)
				jsonw_str(w, all_caps[i]);
		}
		jsonw_arr_end(w);
	}
	jsonw_obj_end(w);
}

/* An rlimit value: ECS's -1 (and anything negative) is unlimited. */
static uint64_t rlimit_value(const cJSON *u, const char *key)
{
	const cJSON *v = json_get(u, key);

	if (!cJSON_IsNumber(v) || v->valuedouble < 0)
		return RLIM_INFINITY;
	return v->valuedouble >= 1.8e19 ? RLIM_INFINITY : (uint64_t)v->valuedouble;
}

static int write_rlimits(struct jsonw *w, const struct container_spec *spec, struct err *err)
{
	const cJSON *ulimits = json_arr(spec->container_def, "ulimits");

	if (!ulimits || !ulimits->child)
		return 0;
	jsonw_key(w, "rlimits");
	jsonw_arr_begin(w);
	for (const cJSON *u = ulimits->child; u; u = u->next) {
		const char *name = json_str(u, "name");
		uint64_t soft = rlimit_value(u, "softLimit"), hard = rlimit_value(u, "hardLimit");
		struct rlimit own;
		char type[32], num[32];
		size_t k;

		for (k = 0; k < ARRAY_SIZE(ulimits_known); k++)
			if (name && !strcmp(ulimits_known[k].name, name))
				break;
		if (k == ARRAY_SIZE(ulimits_known))
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotCreateContainerError: unknown ulimit '%.100s'",
				       name ? name : "");
		/* without CAP_SYS_RESOURCE a hard limit cannot go up: never ask runc to */
		if (getrlimit(ulimits_known[k].resource, &own) == 0 &&
		    own.rlim_max != RLIM_INFINITY && hard > own.rlim_max)
			hard = own.rlim_max;
		if (soft > hard)
			soft = hard;
		snprintf(type, sizeof(type), "RLIMIT_%s", name);
		for (char *p = type; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		jsonw_obj_begin(w);
		jsonw_key_str(w, "type", type);
		snprintf(num, sizeof(num), "%llu", (unsigned long long)soft);
		jsonw_key_raw(w, "soft", num, strlen(num));
		snprintf(num, sizeof(num), "%llu", (unsigned long long)hard);
		jsonw_key_raw(w, "hard", num, strlen(num));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	return 0;
}

/* --- mounts ------------------------------------------------------------ */

static void write_mount(struct jsonw *w, const char *dest, const char *type, const char *source,
			const char *const *options, const char *extra)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "destination", dest);
	jsonw_key_str(w, "type", type);
	jsonw_key_str(w, "source", source);
	jsonw_key(w, "options");
	jsonw_arr_begin(w);
	for (const char *const *o = options; *o; o++)
		jsonw_str(w, *o);
	if (extra)
		jsonw_str(w, extra);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

/* Whether p is an absolute path without "." or ".." components. */
static bool clean_abs_path(const char *p)
{
	if (!p || p[0] != '/')
		return false;
	for (const char *c = p + 1; *c;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n + (slash ? 1 : 0);
	}
	return true;
}

/* linuxParameters.tmpfs: [{containerPath, size (MiB), mountOptions}] */
static int write_tmpfs(struct jsonw *w, const cJSON *lp, struct err *err)
{
	static const char *const dflt[] = { "nosuid", "nodev", "noexec", NULL };

	for (const cJSON *t = json_arr(lp, "tmpfs") ? json_arr(lp, "tmpfs")->child : NULL; t;
	     t = t->next) {
		const char *dest = json_str(t, "containerPath");
		const cJSON *opts = json_arr(t, "mountOptions");
		char size[48];

		if (!clean_abs_path(dest))
			return err_set(
				err, -EINVAL, E_CLIENT,
				"CannotCreateContainerError: bad tmpfs containerPath '%.200s'",
				dest ? dest : "");
		snprintf(size, sizeof(size), "size=%lldm", (long long)json_int(t, "size", 64));
		jsonw_obj_begin(w);
		jsonw_key_str(w, "destination", dest);
		jsonw_key_str(w, "type", "tmpfs");
		jsonw_key_str(w, "source", "tmpfs");
		jsonw_key(w, "options");
		jsonw_arr_begin(w);
		if (opts && opts->child)
			write_strings(w, opts);
		else
			for (const char *const *o = dflt; *o; o++)
				jsonw_str(w, *o);
		jsonw_str(w, size);
		jsonw_arr_end(w);
		jsonw_obj_end(w);
	}
	return 0;
}

static int write_mounts(struct jsonw *w, const struct container_spec *spec, const char *bundle_dir,
			const char *init, bool privileged, struct err *err)
{
	static const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k",
					   NULL };
	static const char *const pts[] = { "nosuid",	"noexec", "newinstance", "ptmxmode=0666",
					   "mode=0620", "gid=5",  NULL };
	static const char *const shm[] = { "nosuid", "noexec", "nodev", "mode=1777", NULL };
	static const char *const mqueue[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys_bind[] = { "rbind", "nosuid", "noexec", "nodev", NULL };
	static const char *const file[] = { "rbind", "rprivate", NULL };
	static const char *const init_opts[] = { "bind", "ro", "nosuid", "nodev", NULL };
	static const char *const files[] = { "hosts", "hostname", "resolv.conf" };
	const cJSON *lp = json_obj(spec->container_def, "linuxParameters");
	int64_t shm_mib = json_int(lp, "sharedMemorySize", 64);
	const char *sys_mode = privileged ? "rw" : "ro";
	_cleanup_buf_ struct buf src = BUF_INIT, dst = BUF_INIT;
	char shm_size[48];
	int r;

	snprintf(shm_size, sizeof(shm_size), "size=%lldm", (long long)(shm_mib > 0 ? shm_mib : 64));
	jsonw_key(w, "mounts");
	jsonw_arr_begin(w);
	write_mount(w, "/proc", "proc", "proc", proc, NULL);
	write_mount(w, "/dev", "tmpfs", "tmpfs", dev, NULL);
	write_mount(w, "/dev/pts", "devpts", "devpts", pts, NULL);
	write_mount(w, "/dev/shm", "tmpfs", "shm", shm, shm_size);
	write_mount(w, "/dev/mqueue", "mqueue", "mqueue", mqueue, NULL);
	/* sysfs cannot be mounted afresh in the host's network namespace: bind it */
	if (spec->network == CONTAINER_NET_HOST)
		write_mount(w, "/sys", "bind", "/sys", sys_bind, sys_mode);
	else
		write_mount(w, "/sys", "sysfs", "sysfs", sys, sys_mode);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		buf_reset(&src);
		buf_reset(&dst);
		buf_printf(&src, "%s/%s", bundle_dir, files[i]);
		buf_printf(&dst, "/etc/%s", files[i]);
		write_mount(w, buf_str(&dst), "bind", buf_str(&src), file, NULL);
	}
	if (init)
		write_mount(w, INIT_PATH, "bind", init, init_opts, NULL);
	r = write_tmpfs(w, lp, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct container_mount *m = &spec->mounts[i];

		if (!m->source || m->source[0] != '/' || !clean_abs_path(m->destination))
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotCreateContainerError: bad mount '%.200s' -> '%.200s'",
				       m->source ? m->source : "",
				       m->destination ? m->destination : "");
		write_mount(w, m->destination, "bind", m->source, file, m->readonly ? "ro" : "rw");
	}
	jsonw_arr_end(w);
	return 0;
}

/* --- resources and namespaces ------------------------------------------ */

static void write_resources(struct jsonw *w, const cJSON *def, bool privileged)
{
	const cJSON *lp = json_obj(def, "linuxParameters");
	int64_t memory = json_int(def, "memory", 0);
	int64_t reservation = json_int(def, "memoryReservation", 0);
	int64_t cpu = json_int(def, "cpu", 0);
	int64_t max_swap = json_int(lp, "maxSwap", -1);
	int64_t swappiness = json_int(lp, "swappiness", -1);

	jsonw_key(w, "resources");
	jsonw_obj_begin(w);
	/* deny every device but those runc always allows (null, zero, tty, ...) */
	jsonw_key(w, "devices");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_key_bool(w, "allow", privileged);
	jsonw_key_str(w, "access", "rwm");
	jsonw_obj_end(w);
	jsonw_arr_end(w);
	if (memory > 0 || reservation > 0 || swappiness >= 0) {
		jsonw_key(w, "memory");
		jsonw_obj_begin(w);
		if (memory > 0)
			jsonw_key_int(w, "limit", memory * MIB);
		if (reservation > 0)
			jsonw_key_int(w, "reservation", reservation * MIB);
		/* runc's swap is memory + swap, as Docker's --memory-swap */
		if (memory > 0 && max_swap >= 0)
			jsonw_key_int(w, "swap", (memory + max_swap) * MIB);
		if (swappiness >= 0 && swappiness <= 100)
			jsonw_key_int(w, "swappiness", swappiness);
		jsonw_obj_end(w);
	}
	if (json_has(def, "cpu")) {
		jsonw_key(w, "cpu");
		jsonw_obj_begin(w);
		jsonw_key_int(w, "shares", cpu < 2 ? 2 : cpu);
		jsonw_obj_end(w);
	}
	jsonw_obj_end(w);
}

static void write_namespaces(struct jsonw *w, const struct container_spec *spec)
{
	static const char *const own[] = { "pid", "ipc", "uts", "mount" };

	jsonw_key(w, "namespaces");
	jsonw_arr_begin(w);
	for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
		jsonw_obj_begin(w);
		jsonw_key_str(w, "type", own[i]);
		jsonw_obj_end(w);
	}
	if (spec->network != CONTAINER_NET_HOST) {
		jsonw_obj_begin(w);
		jsonw_key_str(w, "type", "network");
		if (spec->network == CONTAINER_NET_JOIN && spec->netns_path)
			jsonw_key_str(w, "path", spec->netns_path);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void write_paths(struct jsonw *w, const char *key, const char *const *paths, size_t n)
{
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (size_t i = 0; i < n; i++)
		jsonw_str(w, paths[i]);
	jsonw_arr_end(w);
}

/* An object of the string members of obj's array key's {name-key: value-key} entries. */
static void write_string_map(struct jsonw *w, const char *key, const cJSON *obj)
{
	if (!cJSON_IsObject(obj) || !obj->child)
		return;
	jsonw_key(w, key);
	jsonw_obj_begin(w);
	for (const cJSON *e = obj->child; e; e = e->next)
		if (cJSON_IsString(e) && e->string)
			jsonw_key_str(w, e->string, e->valuestring);
	jsonw_obj_end(w);
}

/* systemControls: [{namespace, value}] as linux.sysctl. */
static void write_sysctls(struct jsonw *w, const cJSON *def)
{
	const cJSON *sc = json_arr(def, "systemControls");

	if (!sc || !sc->child)
		return;
	jsonw_key(w, "sysctl");
	jsonw_obj_begin(w);
	for (const cJSON *e = sc->child; e; e = e->next)
		if (json_str(e, "namespace") && json_str(e, "value"))
			jsonw_key_str(w, json_str(e, "namespace"), json_str(e, "value"));
	jsonw_obj_end(w);
}

/* The container's hostname: the spec's, the definition's, else the id's first 12 characters. */
static void hostname_of(const struct container_spec *spec, char out[65])
{
	const char *name =
		spec->hostname ? spec->hostname : json_str(spec->container_def, "hostname");

	if (name && *name)
		snprintf(out, 65, "%.64s", name);
	else
		snprintf(out, 65, "%.12s", spec->id);
}

int container_bundle_config(const struct container_spec *spec, const char *bundle_dir,
			    const char *rootfs, struct buf *ret, struct err *err)
{
	const cJSON *def = spec->container_def;
	const char *user = json_str(def, "user");
	const char *cwd = json_str(def, "workingDirectory");
	const cJSON *img_user = image_field(spec->image_config, "User");
	const cJSON *img_cwd = image_field(spec->image_config, "WorkingDir");
	bool privileged = json_bool(def, "privileged", false);
	_cleanup_buf_ struct buf cwd_abs = BUF_INIT, init = BUF_INIT;
	char hostname[65], cgroup[CONTAINER_ID_MAX + 16];
	struct user u;
	struct jsonw w;
	int r;

	if ((!user || !*user) && cJSON_IsString(img_user))
		user = img_user->valuestring;
	if ((!cwd || !*cwd) && cJSON_IsString(img_cwd) && *img_cwd->valuestring)
		cwd = img_cwd->valuestring;
	if (!cwd || !*cwd)
		cwd = "/";
	/* runc wants it absolute; Docker takes a relative one from /. */
	buf_printf(&cwd_abs, "%s%s", cwd[0] == '/' ? "" : "/", cwd);
	hostname_of(spec, hostname);
	r = resolve_user(user, rootfs, &u, err);
	if (r < 0)
		return r;
	if (json_bool(json_obj(def, "linuxParameters"), "initProcessEnabled", false) &&
	    container_helper_path(spec->berth, "berth-init", &init) < 0)
		return err_set(err, -ENOENT, E_SERVER,
			       "CannotCreateContainerError: initProcessEnabled: no berth-init at "
			       "'%.200s' (it is installed beside berth)",
			       buf_str(&init));

	jsonw_init(&w, ret);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "ociVersion", "1.0.2");
	jsonw_key(&w, "process");
	jsonw_obj_begin(&w);
	jsonw_key_bool(&w, "terminal", false);
	jsonw_key(&w, "user");
	jsonw_obj_begin(&w);
	jsonw_key_int(&w, "uid", u.uid);
	jsonw_key_int(&w, "gid", u.gid);
	if (u.n_gids) {
		jsonw_key(&w, "additionalGids");
		jsonw_arr_begin(&w);
		for (size_t i = 0; i < u.n_gids; i++)
			jsonw_int(&w, u.gids[i]);
		jsonw_arr_end(&w);
	}
	jsonw_obj_end(&w);
	r = write_args(&w, spec, init.len ? buf_str(&init) : NULL, err);
	if (r < 0)
		return r;
	write_env(&w, spec, hostname);
	jsonw_key_str(&w, "cwd", buf_str(&cwd_abs));
	write_caps(&w, spec);
	r = write_rlimits(&w, spec, err);
	if (r < 0)
		return r;
	jsonw_key_bool(&w, "noNewPrivileges", !privileged);
	jsonw_obj_end(&w);

	jsonw_key(&w, "root");
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "path", rootfs);
	jsonw_key_bool(&w, "readonly", json_bool(def, "readonlyRootFilesystem", false));
	jsonw_obj_end(&w);
	jsonw_key_str(&w, "hostname", hostname);
	r = write_mounts(&w, spec, bundle_dir, init.len ? buf_str(&init) : NULL, privileged, err);
	if (r < 0)
		return r;
	write_string_map(&w, "annotations", json_obj(def, "dockerLabels"));

	jsonw_key(&w, "linux");
	jsonw_obj_begin(&w);
	snprintf(cgroup, sizeof(cgroup), CONTAINER_CGROUP, spec->id);
	jsonw_key_str(&w, "cgroupsPath", cgroup);
	write_resources(&w, def, privileged);
	write_namespaces(&w, spec);
	write_sysctls(&w, def);
	if (!privileged) {
		write_paths(&w, "maskedPaths", masked_paths, ARRAY_SIZE(masked_paths));
		write_paths(&w, "readonlyPaths", readonly_paths, ARRAY_SIZE(readonly_paths));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	return 0;
}

/* --- the files bind-mounted into /etc ------------------------------------- */

/*
 * The host's resolv.conf for a container with a network of its own, as
 * Docker copies it: its loopback nameservers (a local resolver the
 * container cannot reach) left out.
 */
static void host_resolv_conf(struct buf *out)
{
	_cleanup_buf_ struct buf host = BUF_INIT;

	if (fs_read_file("/etc/resolv.conf", 65536, &host) < 0)
		return;
	for (char *line = host.data, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		size_t len;

		nl = strchr(line, '\n');
		len = nl ? (size_t)(nl - line) : strlen(line);
		if (!strncmp(line, "nameserver", 10)) {
			const char *v = line + 10;

			while (*v == ' ' || *v == '\t')
				v++;
			if (!strncmp(v, "127.", 4) || !strncmp(v, "::1", 3))
				continue;
		}
		buf_append(out, line, len);
		buf_putc(out, '\n');
	}
}

int container_bundle_files(const struct container_spec *spec, const char *bundle_dir,
			   struct err *err)
{
	_cleanup_buf_ struct buf hosts = BUF_INIT, hostname = BUF_INIT, resolv = BUF_INIT,
				 path = BUF_INIT;
	const cJSON *dns = json_arr(spec->container_def, "dnsServers");
	const cJSON *search = json_arr(spec->container_def, "dnsSearchDomains");
	const cJSON *extra = json_arr(spec->container_def, "extraHosts");
	char name[65];
	struct {
		const char *file;
		struct buf *data;
	} files[] = { { "hosts", &hosts }, { "hostname", &hostname }, { "resolv.conf", &resolv } };

	hostname_of(spec, name);
	buf_printf(&hostname, "%s\n", name);
	buf_puts(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	buf_printf(&hosts, "%s\t%s\n",
		   spec->address && !strpbrk(spec->address, " \t\n") ? spec->address : "127.0.1.1",
		   name);
	if (spec->hosts_extra)
		buf_puts(&hosts, spec->hosts_extra);
	for (const cJSON *h = extra ? extra->child : NULL; h; h = h->next)
		if (json_str(h, "ipAddress") && json_str(h, "hostname") &&
		    !strpbrk(json_str(h, "ipAddress"), " \t\n") &&
		    !strpbrk(json_str(h, "hostname"), " \t\n"))
			buf_printf(&hosts, "%s\t%s\n", json_str(h, "ipAddress"),
				   json_str(h, "hostname"));
	if (dns && dns->child) {
		for (const cJSON *d = dns->child; d; d = d->next)
			if (cJSON_IsString(d) && !strpbrk(d->valuestring, " \t\n"))
				buf_printf(&resolv, "nameserver %s\n", d->valuestring);
	} else if (spec->network == CONTAINER_NET_HOST) {
		fs_read_file("/etc/resolv.conf", 65536, &resolv);
	} else if (spec->network == CONTAINER_NET_JOIN) {
		host_resolv_conf(&resolv);
	}
	if (search && search->child) {
		buf_puts(&resolv, "search");
		for (const cJSON *d = search->child; d; d = d->next)
			if (cJSON_IsString(d) && !strpbrk(d->valuestring, " \t\n"))
				buf_printf(&resolv, " %s", d->valuestring);
		buf_putc(&resolv, '\n');
	}
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int r;

		buf_reset(&path);
		buf_printf(&path, "%s/%s", bundle_dir, files[i].file);
		r = fs_write_replace(buf_str(&path), buf_str(files[i].data), files[i].data->len);
		if (r == 0 && chmod(buf_str(&path), 0644) < 0)
			r = -errno;
		if (r < 0)
			return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	}
	return 0;
}
