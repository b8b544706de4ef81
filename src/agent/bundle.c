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
 * - user: the definition's, else the image's: "uid", "uid:gid", "name" or
 *   "name:group", names looked up in the root file system's /etc/passwd
 *   and /etc/group (runc takes only numbers).
 * - cwd: workingDirectory, else the image's WorkingDir, else "/".
 * - Docker's default capabilities, with linuxParameters.capabilities add
 *   and drop ("ALL" allowed); privileged grants every capability.
 * - cgroup limits: memory (MiB, the hard limit), memoryReservation (MiB,
 *   the soft limit) and cpu (CPU shares, at least 2), when given.
 * - ulimits as rlimits, only those asked for.
 * - readonlyRootFilesystem makes the root read-only.
 *
 * - mounts: the volumes the task engine resolved (mountPoints,
 *   volumesFrom), bind-mounted, read-only when asked.
 *
 * Not yet: seccomp profiles, devices, sysctls, tmpfs mounts,
 * initProcessEnabled.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/runtime.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/banned.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PASSWD_MAX   (4u << 20)

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
static const char *const ulimit_names[] = {
	"core",	  "cpu",   "data", "fsize",  "locks",  "memlock",    "msgqueue", "nice",
	"nofile", "nproc", "rss",  "rtprio", "rttime", "sigpending", "stack",
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

static int write_args(struct jsonw *w, const struct container_spec *spec, struct err *err)
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
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Look name up in the passwd- or group-format file path (field 3 is the id;
 * for passwd, field 4 the primary group). Returns 0 with the ids, -ENOENT.
 */
static int lookup_id(const char *path, const char *name, size_t name_len, long *ret_id,
		     long *ret_gid)
{
	_cleanup_buf_ struct buf data = BUF_INIT;
	char *save = NULL;

	if (fs_read_file(path, PASSWD_MAX, &data) < 0 || !data.data)
		return -ENOENT;
	for (char *line = strtok_r(data.data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = { NULL };
		char *p = line;

		for (int i = 0; i < 4 && p; i++) {
			f[i] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = 0;
		}
		if (!f[0] || strlen(f[0]) != name_len || strncmp(f[0], name, name_len) != 0)
			continue;
		if (!f[2])
			return -ENOENT;
		*ret_id = strtol(f[2], NULL, 10);
		if (ret_gid)
			*ret_gid = f[3] ? strtol(f[3], NULL, 10) : 0;
		return 0;
	}
	return -ENOENT;
}

static int resolve_user(const char *user, const char *rootfs, long *ret_uid, long *ret_gid,
			struct err *err)
{
	_cleanup_buf_ struct buf passwd = BUF_INIT, group = BUF_INIT;
	const char *colon;
	size_t ulen;
	long gid = 0;

	*ret_uid = 0;
	*ret_gid = 0;
	if (!user || !*user)
		return 0;
	buf_printf(&passwd, "%s/etc/passwd", rootfs);
	buf_printf(&group, "%s/etc/group", rootfs);
	colon = strchr(user, ':');
	ulen = colon ? (size_t)(colon - user) : strlen(user);
	if (all_digits(user, ulen)) {
		*ret_uid = strtol(user, NULL, 10);
		/* a uid alone takes its passwd entry's group, if it has one */
		gid = 0;
	} else if (lookup_id(buf_str(&passwd), user, ulen, ret_uid, &gid) < 0) {
		return err_set(err, -EINVAL, E_CLIENT,
			       "CannotStartContainerError: unable to find user %.*s: no matching "
			       "entries in passwd file",
			       (int)ulen, user);
	}
	*ret_gid = gid;
	if (colon) {
		const char *g = colon + 1;

		if (all_digits(g, strlen(g)))
			*ret_gid = strtol(g, NULL, 10);
		else if (lookup_id(buf_str(&group), g, strlen(g), ret_gid, NULL) < 0)
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotStartContainerError: unable to find group %s: no "
				       "matching entries in group file",
				       g);
	}
	if (*ret_uid < 0 || *ret_gid < 0)
		return err_set(err, -EINVAL, E_CLIENT, "CannotStartContainerError: bad user %s",
			       user);
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

static int write_rlimits(struct jsonw *w, const struct container_spec *spec, struct err *err)
{
	const cJSON *ulimits = json_arr(spec->container_def, "ulimits");

	if (!ulimits || !ulimits->child)
		return 0;
	jsonw_key(w, "rlimits");
	jsonw_arr_begin(w);
	for (const cJSON *u = ulimits->child; u; u = u->next) {
		const char *name = json_str(u, "name");
		char type[32];
		bool known = false;

		for (size_t i = 0; name && i < ARRAY_SIZE(ulimit_names); i++)
			known = known || !strcmp(ulimit_names[i], name);
		if (!known)
			return err_set(err, -EINVAL, E_CLIENT,
				       "CannotCreateContainerError: unknown ulimit '%s'",
				       name ? name : "");
		snprintf(type, sizeof(type), "RLIMIT_%s", name);
		for (char *p = type; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		jsonw_obj_begin(w);
		jsonw_key_str(w, "type", type);
		jsonw_key_int(w, "soft", json_int(u, "softLimit", 0));
		jsonw_key_int(w, "hard", json_int(u, "hardLimit", 0));
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	return 0;
}

/* --- mounts ------------------------------------------------------------ */

static void write_mount(struct jsonw *w, const char *dest, const char *type, const char *source,
			const char *const *options)
{
	jsonw_obj_begin(w);
	jsonw_key_str(w, "destination", dest);
	jsonw_key_str(w, "type", type);
	jsonw_key_str(w, "source", source);
	jsonw_key(w, "options");
	jsonw_arr_begin(w);
	for (const char *const *o = options; *o; o++)
		jsonw_str(w, *o);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
}

static void write_mounts(struct jsonw *w, const struct container_spec *spec, const char *bundle_dir,
			 bool host_net)
{
	static const char *const proc[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const dev[] = { "nosuid", "strictatime", "mode=755", "size=65536k",
					   NULL };
	static const char *const pts[] = { "nosuid",	"noexec", "newinstance", "ptmxmode=0666",
					   "mode=0620", "gid=5",  NULL };
	static const char *const shm[] = { "nosuid",	"noexec",      "nodev",
					   "mode=1777", "size=65536k", NULL };
	static const char *const mqueue[] = { "nosuid", "noexec", "nodev", NULL };
	static const char *const sys[] = { "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const sys_bind[] = { "rbind", "nosuid", "noexec", "nodev", "ro", NULL };
	static const char *const file[] = { "rbind", "rprivate", NULL };
	static const char *const files[] = { "hosts", "hostname", "resolv.conf" };
	_cleanup_buf_ struct buf src = BUF_INIT, dst = BUF_INIT;

	jsonw_key(w, "mounts");
	jsonw_arr_begin(w);
	write_mount(w, "/proc", "proc", "proc", proc);
	write_mount(w, "/dev", "tmpfs", "tmpfs", dev);
	write_mount(w, "/dev/pts", "devpts", "devpts", pts);
	write_mount(w, "/dev/shm", "tmpfs", "shm", shm);
	write_mount(w, "/dev/mqueue", "mqueue", "mqueue", mqueue);
	/* sysfs cannot be mounted afresh in the host's network namespace: bind it */
	if (host_net)
		write_mount(w, "/sys", "bind", "/sys", sys_bind);
	else
		write_mount(w, "/sys", "sysfs", "sysfs", sys);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		buf_reset(&src);
		buf_reset(&dst);
		buf_printf(&src, "%s/%s", bundle_dir, files[i]);
		buf_printf(&dst, "/etc/%s", files[i]);
		write_mount(w, buf_str(&dst), "bind", buf_str(&src), file);
	}
	for (size_t i = 0; i < spec->n_mounts; i++) {
		static const char *const rw[] = { "rbind", "rprivate", NULL };
		static const char *const ro[] = { "rbind", "rprivate", "ro", NULL };

		write_mount(w, spec->mounts[i].destination, "bind", spec->mounts[i].source,
			    spec->mounts[i].readonly ? ro : rw);
	}
	jsonw_arr_end(w);
}

/* --- resources and namespaces ------------------------------------------ */

static void write_resources(struct jsonw *w, const cJSON *def)
{
	int64_t memory = json_int(def, "memory", 0);
	int64_t reservation = json_int(def, "memoryReservation", 0);
	int64_t cpu = json_int(def, "cpu", 0);

	jsonw_key(w, "resources");
	jsonw_obj_begin(w);
	jsonw_key(w, "devices");
	jsonw_arr_begin(w);
	jsonw_obj_begin(w);
	jsonw_key_bool(w, "allow", false);
	jsonw_key_str(w, "access", "rwm");
	jsonw_obj_end(w);
	jsonw_arr_end(w);
	if (memory > 0 || reservation > 0) {
		jsonw_key(w, "memory");
		jsonw_obj_begin(w);
		if (memory > 0)
			jsonw_key_int(w, "limit", memory * 1024 * 1024);
		if (reservation > 0)
			jsonw_key_int(w, "reservation", reservation * 1024 * 1024);
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

int container_bundle_config(const struct container_spec *spec, const char *bundle_dir,
			    const char *rootfs, struct buf *ret, struct err *err)
{
	const cJSON *def = spec->container_def;
	const char *user = json_str(def, "user");
	const char *cwd = json_str(def, "workingDirectory");
	const cJSON *img_user = image_field(spec->image_config, "User");
	const cJSON *img_cwd = image_field(spec->image_config, "WorkingDir");
	bool privileged = json_bool(def, "privileged", false);
	char hostname[CONTAINER_ID_MAX + 1];
	long uid, gid;
	struct jsonw w;
	int r;

	if (!user && cJSON_IsString(img_user))
		user = img_user->valuestring;
	if ((!cwd || !*cwd) && cJSON_IsString(img_cwd) && *img_cwd->valuestring)
		cwd = img_cwd->valuestring;
	if (!cwd || !*cwd)
		cwd = "/";
	snprintf(hostname, sizeof(hostname), "%.12s", spec->hostname ? spec->hostname : spec->id);
	if (spec->hostname)
		snprintf(hostname, sizeof(hostname), "%s", spec->hostname);
	r = resolve_user(user, rootfs, &uid, &gid, err);
	if (r < 0)
		return r;

	jsonw_init(&w, ret);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "ociVersion", "1.0.2");
	jsonw_key(&w, "process");
	jsonw_obj_begin(&w);
	jsonw_key_bool(&w, "terminal", false);
	jsonw_key(&w, "user");
	jsonw_obj_begin(&w);
	jsonw_key_int(&w, "uid", uid);
	jsonw_key_int(&w, "gid", gid);
	jsonw_obj_end(&w);
	r = write_args(&w, spec, err);
	if (r < 0)
		return r;
	write_env(&w, spec, hostname);
	jsonw_key_str(&w, "cwd", cwd);
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
	write_mounts(&w, spec, bundle_dir, spec->network == CONTAINER_NET_HOST);

	jsonw_key(&w, "linux");
	jsonw_obj_begin(&w);
	{
		char cgroup[CONTAINER_ID_MAX + 16];

		snprintf(cgroup, sizeof(cgroup), "/berth-%s", spec->id);
		jsonw_key_str(&w, "cgroupsPath", cgroup);
	}
	write_resources(&w, def);
	write_namespaces(&w, spec);
	if (!privileged) {
		write_paths(&w, "maskedPaths", masked_paths, ARRAY_SIZE(masked_paths));
		write_paths(&w, "readonlyPaths", readonly_paths, ARRAY_SIZE(readonly_paths));
	}
	jsonw_obj_end(&w);
	jsonw_obj_end(&w);
	return 0;
}
