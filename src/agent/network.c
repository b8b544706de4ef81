/*
 * network.c: bridges, network namespaces, veth pairs and nftables rules for
 * the agent's tasks (see network.h for the layout).
 *
 * Links, addresses and routes are made over rtnetlink (libmnl); the rules
 * through libnftables, in one transaction per change. A namespace is made
 * by a short-lived thread that unshares its network namespace, bind-mounts
 * it onto DATA-DIR/netns/ID, and configures it from inside (loopback up,
 * eth0 made with its peer put into the host's namespace, address, default
 * route): nothing else in the agent ever leaves the host's namespace.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/network.h"
#include "core/cleanup.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/jsonw.h"
#include "core/util.h"
#include "core/banned.h"

#define RECORD_MAX (64u << 10)
#define NL_BUF	   8192

struct net {
	pthread_mutex_t lock;
	char bridge[NET_IFNAME_MAX];
	char table[NET_IFNAME_MAX + 8];
	char veth_prefix
		[8];	 /* "v" and 6 hex digits of the bridge's name: its veths' names start so */
	uint32_t subnet; /* host byte order */
	int prefix;
	uint16_t port_lo, port_hi, port_next;
	struct buf records_dir; /* DATA-DIR/network */
	struct buf netns_dir;	/* DATA-DIR/netns */
	bool ready;		/* bridge and table made by this process */
	struct nft_ctx *nft;
};

/* --- parsing ----------------------------------------------------------- */

int net_parse_cidr(const char *s, uint32_t *ret_addr, int *ret_prefix)
{
	char ip[16];
	const char *slash = s ? strchr(s, '/') : NULL;
	int64_t prefix;
	struct in_addr a;
	uint32_t mask;

	if (!slash || (size_t)(slash - s) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = 0;
	if (inet_pton(AF_INET, ip, &a) != 1 || parse_int64(slash + 1, 8, 30, &prefix) < 0)
		return -EINVAL;
	mask = 0xffffffffu << (32 - prefix);
	*ret_addr = ntohl(a.s_addr) & mask;
	*ret_prefix = (int)prefix;
	return 0;
}

int net_parse_port_range(const char *s, uint16_t *ret_lo, uint16_t *ret_hi)
{
	char lo_s[8];
	const char *dash = s ? strchr(s, '-') : NULL;
	int64_t lo, hi;

	if (!dash || dash == s || (size_t)(dash - s) >= sizeof(lo_s))
		return -EINVAL;
	memcpy(lo_s, s, (size_t)(dash - s));
	lo_s[dash - s] = 0;
	if (parse_int64(lo_s, 1, 65535, &lo) < 0 || parse_int64(dash + 1, 1, 65535, &hi) < 0 ||
	    hi < lo)
		return -EINVAL;
	*ret_lo = (uint16_t)lo;
	*ret_hi = (uint16_t)hi;
	return 0;
}

bool net_ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= NET_IFNAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static bool id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= NET_ID_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

uint32_t net_pick_address(uint32_t subnet, int prefix, const uint32_t *used, size_t n_used)
{
	uint32_t size = prefix >= 31 ? 0 : 1u << (32 - prefix);

	/* .0 is the network, .1 the gateway (the bridge), the last the broadcast */
	for (uint32_t host = 2; host + 1 < size; host++) {
		uint32_t a = subnet + host;
		bool taken = false;

		for (size_t i = 0; i < n_used && !taken; i++)
			taken = used[i] == a;
		if (!taken)
			return a;
	}
	return 0;
}

static void addr_str(uint32_t a, char out[16])
{
	struct in_addr in = { .s_addr = htonl(a) };

	inet_ntop(AF_INET, &in, out, 16);
}

static void copy_str(char *dst, size_t n, const char *src)
{
	size_t len = src ? strnlen(src, n - 1) : 0;

	if (len)
		memcpy(dst, src, len);
	dst[len] = 0;
}

/* --- records ----------------------------------------------------------- */

void net_endpoint_to_json(const struct net_endpoint *ep, struct buf *out)
{
	struct jsonw w;

	jsonw_init(&w, out);
	jsonw_obj_begin(&w);
	jsonw_key_str(&w, "id", ep->id);
	jsonw_key_str(&w, "task", ep->task);
	jsonw_key_str(&w, "address", ep->address);
	jsonw_key_str(&w, "gateway", ep->gateway);
	jsonw_key_int(&w, "prefix", ep->prefix);
	jsonw_key_str(&w, "mac", ep->mac);
	jsonw_key_str(&w, "veth", ep->veth);
	jsonw_key_str(&w, "netns", ep->netns);
	jsonw_key(&w, "ports");
	jsonw_arr_begin(&w);
	for (size_t i = 0; i < ep->n_ports; i++) {
		jsonw_obj_begin(&w);
		jsonw_key_str(&w, "protocol", ep->ports[i].udp ? "udp" : "tcp");
		jsonw_key_int(&w, "containerPort", ep->ports[i].container_port);
		jsonw_key_int(&w, "hostPort", ep->ports[i].host_port);
		jsonw_obj_end(&w);
	}
	jsonw_arr_end(&w);
	jsonw_obj_end(&w);
}

int net_endpoint_from_json(const char *data, size_t len, struct net_endpoint *ret)
{
	_cleanup_json_ cJSON *doc = cJSON_ParseWithLength(data, len);
	const cJSON *p;
	struct in_addr a;

	memset(ret, 0, sizeof(*ret));
	if (!cJSON_IsObject(doc) || !id_valid(json_str(doc, "id")))
		return -EINVAL;
	copy_str(ret->id, sizeof(ret->id), json_str(doc, "id"));
	copy_str(ret->task, sizeof(ret->task), json_str(doc, "task"));
	copy_str(ret->address, sizeof(ret->address), json_str(doc, "address"));
	copy_str(ret->gateway, sizeof(ret->gateway), json_str(doc, "gateway"));
	copy_str(ret->mac, sizeof(ret->mac), json_str(doc, "mac"));
	copy_str(ret->veth, sizeof(ret->veth), json_str(doc, "veth"));
	copy_str(ret->netns, sizeof(ret->netns), json_str(doc, "netns"));
	ret->prefix = (int)json_int(doc, "prefix", 0);
	if (inet_pton(AF_INET, ret->address, &a) != 1 || !net_ifname_valid(ret->veth))
		return -EINVAL;
	cJSON_ArrayForEach(p, json_arr(doc, "ports")) {
		int64_t cp = json_int(p, "containerPort", 0), hp = json_int(p, "hostPort", 0);
		const char *proto = json_str(p, "protocol");

		if (ret->n_ports == NET_PORTS_MAX || cp < 1 || cp > 65535 || hp < 1 || hp > 65535)
			return -EINVAL;
		ret->ports[ret->n_ports++] = (struct net_port){
			.udp = proto && !strcmp(proto, "udp"),
			.container_port = (uint16_t)cp,
			.host_port = (uint16_t)hp,
		};
	}
	return 0;
}

static void record_path(const struct net *n, const char *id, struct buf *out)
{
	buf_printf(out, "%s/%s.json", buf_str(&n->records_dir), id);
}

static int record_save(struct net *n, const struct net_endpoint *ep, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	int r;

	record_path(n, ep->id, &path);
	net_endpoint_to_json(ep, &data);
	/* an endpoint does not outlive a machine's crash: no need to sync */
	r = fs_write_replace(buf_str(&path), data.data, data.len);
	if (r < 0)
		return err_set(err, r, E_SERVER, "%s: %s", buf_str(&path), strerror(-r));
	return 0;
}

static int record_load(struct net *n, const char *id, struct net_endpoint *ret)
{
	_cleanup_buf_ struct buf path = BUF_INIT, data = BUF_INIT;
	int r;

	record_path(n, id, &path);
	r = fs_read_file(buf_str(&path), RECORD_MAX, &data);
	if (r < 0)
		return r;
	return net_endpoint_from_json(data.data, data.len, ret);
}

/*
 * Every record: fn is called for each (stops at its first non-zero
 * result). Unreadable records are skipped.
 */
static int records_each(struct net *n, int (*fn)(struct net_endpoint *ep, void *arg), void *arg)
{
	DIR *d = opendir(buf_str(&n->records_dir));
	struct dirent *e;
	int r = 0;

	if (!d)
		return 0;
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ struct net_endpoint *ep = NULL;
		char id[NET_ID_MAX];
		size_t len = strlen(e->d_name);

		if (len < 6 || len - 5 >= sizeof(id) || strcmp(e->d_name + len - 5, ".json"))
			continue;
		memcpy(id, e->d_name, len - 5);
		id[len - 5] = 0;
		ep = malloc(sizeof(*ep));
		if (!ep || !id_valid(id) || record_load(n, id, ep) < 0)
			continue;
		r = fn(ep, arg);
	}
	closedir(d);
	return r;
}

/* --- rtnetlink --------------------------------------------------------- */

struct nl {
	struct mnl_socket *sock;
	uint32_t seq, portid;
	char buf[NL_BUF];
};

static int nl_open(struct nl *nl)
{
	nl->sock = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->sock)
		return -errno;
	if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;

		mnl_socket_close(nl->sock);
		nl->sock = NULL;
		return r;
	}
	nl->portid = mnl_socket_get_portid(nl->sock);
	nl->seq = (uint32_t)time(NULL);
	return 0;
}

static void nl_close(struct nl *nl)
{
	if (nl->sock)
		mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

static struct nlmsghdr *nl_msg(struct nl *nl, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = mnl_nlmsg_put_header(nl->buf);

	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	h->nlmsg_seq = ++nl->seq;
	return h;
}

/* Send h and wait for its acknowledgement: 0 or the kernel's negative errno. */
static int nl_talk(struct nl *nl, struct nlmsghdr *h)
{
	int r;

	if (mnl_socket_sendto(nl->sock, h, h->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));

		if (len < 0)
			return -errno;
		r = mnl_cb_run(nl->buf, (size_t)len, h->nlmsg_seq, nl->portid, NULL, NULL);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static struct ifinfomsg *link_header(struct nlmsghdr *h, int index)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return ifi;
}

static int bridge_create(struct nl *nl, const char *name)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *info, *data;
	struct ifinfomsg *ifi = link_header(h, 0);

	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	/* forward at once: no spanning tree listening delay */
	mnl_attr_put_u32(h, IFLA_BR_FORWARD_DELAY, 0);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, info);
	return nl_talk(nl, h);
}

/* Bring link index up, and make it a port of master when master is not 0. */
static int link_up(struct nl *nl, int index, int master)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = link_header(h, index);

	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	if (master)
		mnl_attr_put_u32(h, IFLA_MASTER, (uint32_t)master);
	return nl_talk(nl, h);
}

static int link_delete(struct nl *nl, const char *name)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_DELLINK, 0);

	link_header(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	return nl_talk(nl, h);
}

static int addr_add(struct nl *nl, int index, uint32_t addr, int prefix)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
	uint32_t a = htonl(addr);
	uint32_t brd = htonl(addr | ~(0xffffffffu << (32 - prefix)));

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	mnl_attr_put_u32(h, IFA_LOCAL, a);
	mnl_attr_put_u32(h, IFA_ADDRESS, a);
	mnl_attr_put_u32(h, IFA_BROADCAST, brd);
	return nl_talk(nl, h);
}

static int route_default(struct nl *nl, int index, uint32_t gateway)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));

	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(h, RTA_GATEWAY, htonl(gateway));
	mnl_attr_put_u32(h, RTA_OIF, (uint32_t)index);
	return nl_talk(nl, h);
}

/* A veth pair: `name` here, with mac; its peer `peer` in the namespace of peer_ns_fd. */
static int veth_create(struct nl *nl, const char *name, const uint8_t mac[6], const char *peer,
		       int peer_ns_fd)
{
	struct nlmsghdr *h = nl_msg(nl, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *info, *data, *peer_attr;
	struct ifinfomsg *pifi;

	link_header(h, 0);
	mnl_attr_put_strz(h, IFLA_IFNAME, name);
	mnl_attr_put(h, IFLA_ADDRESS, 6, mac);
	info = mnl_attr_nest_start(h, IFLA_LINKINFO);
	mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
	peer_attr = mnl_attr_nest_start(h, VETH_INFO_PEER);
	pifi = mnl_nlmsg_put_extra_header(h, sizeof(*pifi));
	memset(pifi, 0, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(h, IFLA_IFNAME, peer);
	mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)peer_ns_fd);
	mnl_attr_nest_end(h, peer_attr);
	mnl_attr_nest_end(h, data);
	mnl_attr_nest_end(h, info);
	return nl_talk(nl, h);
}

/* --- sysctls ----------------------------------------------------------- */

static int write_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* --- nftables ---------------------------------------------------------- */

/* Run an nft script (one transaction): 0, or -EIO with nft's words in err. */
static int nft_run(struct net *n, const char *script, struct err *err)
{
	const char *msg;

	if (nft_run_cmd_from_buffer(n->nft, script) == 0)
		return 0;
	msg = nft_ctx_get_error_buffer(n->nft);
	return err_set(err, -EIO, E_SERVER, "nftables: %.300s", msg && *msg ? msg : "failed");
}

/*
 * The table: made when missing, its chains' rules replaced (its map of
 * published ports kept), all in one transaction.
 */
static int table_setup(struct net *n, struct err *err)
{
	_cleanup_buf_ struct buf s = BUF_INIT;
	char subnet[16];
	static const char *const chains[] = { "prerouting", "output", "postrouting", "forward" };

	addr_str(n->subnet, subnet);
	buf_printf(&s,
		   "table ip %s {\n"
		   " map ports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
		   " chain prerouting { type nat hook prerouting priority -100; policy accept; }\n"
		   " chain output { type nat hook output priority -100; policy accept; }\n"
		   " chain postrouting { type nat hook postrouting priority 100; policy accept; }\n"
		   " chain forward { type filter hook forward priority 0; policy accept; }\n"
		   "}\n",
		   n->table);
	for (size_t i = 0; i < ARRAY_SIZE(chains); i++)
		buf_printf(&s, "flush chain ip %s %s\n", n->table, chains[i]);
	buf_printf(
		&s,
		"add rule ip %1$s prerouting fib daddr type local "
		"dnat ip to meta l4proto . th dport map @ports\n"
		"add rule ip %1$s output fib daddr type local "
		"dnat ip to meta l4proto . th dport map @ports\n"
		/* outbound NAT */
		"add rule ip %1$s postrouting ip saddr %2$s/%3$d oifname != \"%4$s\" masquerade\n"
		/* from the host (loopback included) to a published port */
		"add rule ip %1$s postrouting oifname \"%4$s\" fib saddr type local masquerade\n"
		/* a container to a published port of the host (hairpin) */
		"add rule ip %1$s postrouting oifname \"%4$s\" ct status dnat "
		"ip saddr %2$s/%3$d masquerade\n"
		"add rule ip %1$s forward oifname \"%4$s\" accept\n"
		"add rule ip %1$s forward iifname \"%4$s\" accept\n",
		n->table, subnet, n->prefix, n->bridge);
	return nft_run(n, buf_str(&s), err);
}

static void port_elements(const struct net_endpoint *ep, bool with_values, struct buf *s)
{
	for (size_t i = 0; i < ep->n_ports; i++) {
		const struct net_port *p = &ep->ports[i];

		buf_printf(s, "%s%s . %u", i ? ", " : "", p->udp ? "udp" : "tcp", p->host_port);
		if (with_values)
			buf_printf(s, " : %s . %u", ep->address, p->container_port);
	}
}

/* --- the bridge -------------------------------------------------------- */

static int bridge_setup(struct net *n, struct nl *nl, struct err *err)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	int index, r;

	if (n->ready && if_nametoindex(n->bridge))
		return 0;
	r = bridge_create(nl, n->bridge);
	if (r < 0 && r != -EEXIST)
		return err_set(err, r, E_SERVER, "creating bridge %s: %s", n->bridge, strerror(-r));
	index = (int)if_nametoindex(n->bridge);
	if (!index)
		return err_set(err, -ENODEV, E_SERVER, "bridge %s vanished", n->bridge);
	r = addr_add(nl, index, n->subnet + 1, n->prefix);
	if (r == 0)
		r = link_up(nl, index, 0);
	if (r < 0)
		return err_set(err, r, E_SERVER, "configuring bridge %s: %s", n->bridge,
			       strerror(-r));
	/* loopback sources may leave through the bridge (published ports from 127.0.0.1) */
	buf_printf(&path, "/proc/sys/net/ipv4/conf/%s/route_localnet", n->bridge);
	r = write_sysctl(buf_str(&path), "1");
	if (r == 0)
		r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	if (r < 0)
		return err_set(err, r, E_SERVER, "setting the bridge's sysctls: %s", strerror(-r));
	r = table_setup(n, err);
	if (r < 0)
		return r;
	n->ready = true;
	return 0;
}

static void bridge_remove(struct net *n)
{
	_cleanup_buf_ struct buf s = BUF_INIT;
	struct nl nl = { 0 };
	struct err err = ERR_INIT;

	buf_printf(&s, "delete table ip %s\n", n->table);
	nft_run(n, buf_str(&s), &err);
	if (nl_open(&nl) == 0) {
		link_delete(&nl, n->bridge);
		nl_close(&nl);
	}
	n->ready = false;
}

/* --- namespaces -------------------------------------------------------- */

struct ns_job {
	const struct net *n;
	const struct net_endpoint *ep;
	int host_ns;
	int rc;
	struct err err;
};

/* In a thread of its own: a new network namespace, kept by a bind mount, configured from inside. */
static void *ns_thread(void *arg)
{
	struct ns_job *job = arg;
	const struct net_endpoint *ep = job->ep;
	struct nl nl = { 0 };
	uint8_t mac[6];
	struct in_addr a;
	int index, r;
	unsigned m[6];

	if (unshare(CLONE_NEWNET) < 0) {
		job->rc = err_set(&job->err, -errno, E_SERVER, "unshare: %s", strerror(errno));
		return NULL;
	}
	if (mount("/proc/thread-self/ns/net", ep->netns, NULL, MS_BIND, NULL) < 0) {
		job->rc = err_set(&job->err, -errno, E_SERVER, "mounting %s: %s", ep->netns,
				  strerror(errno));
		return NULL;
	}
	r = nl_open(&nl);
	if (r < 0) {
		job->rc = err_set(&job->err, r, E_SERVER, "netlink: %s", strerror(-r));
		return NULL;
	}
	sscanf(ep->mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	inet_pton(AF_INET, ep->address, &a);
	r = link_up(&nl, 1, 0); /* lo */
	if (r == 0)
		r = veth_create(&nl, "eth0", mac, ep->veth, job->host_ns);
	index = r == 0 ? (int)if_nametoindex("eth0") : 0;
	if (r == 0 && !index)
		r = -ENODEV;
	if (r == 0)
		r = addr_add(&nl, index, ntohl(a.s_addr), ep->prefix);
	if (r == 0)
		r = link_up(&nl, index, 0);
	if (r == 0)
		r = route_default(&nl, index, job->n->subnet + 1);
	if (r < 0)
		job->rc = err_set(&job->err, r, E_SERVER, "configuring the namespace of %s: %s",
				  ep->id, strerror(-r));
	nl_close(&nl);
	return NULL;
}

static int netns_create(struct net *n, const struct net_endpoint *ep, struct err *err)
{
	struct ns_job job = { .n = n, .ep = ep, .err = ERR_INIT };
	pthread_t th;
	int fd;

	fd = open(ep->netns, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(err, -errno, E_SERVER, "%s: %s", ep->netns, strerror(errno));
	close(fd);
	job.host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (job.host_ns < 0)
		return err_set(err, -errno, E_SERVER, "/proc/self/ns/net: %s", strerror(errno));
	if (pthread_create(&th, NULL, ns_thread, &job) != 0) {
		close(job.host_ns);
		return err_set(err, -EAGAIN, E_SERVER, "cannot start a thread");
	}
	pthread_join(th, NULL);
	close(job.host_ns);
	if (job.rc < 0)
		return err_set(err, job.rc, job.err.kind, "%s", job.err.msg);
	return 0;
}

static void netns_remove(const char *path)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return; /* still mounted: leave the file */
	unlink(path);
}

/* --- endpoints --------------------------------------------------------- */

/* FNV-1a: the bridge's veths share a prefix other agents' bridges do not. */
static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

int net_config_check(const struct net_config *cfg, struct err *err)
{
	const char *bridge = cfg->bridge ? cfg->bridge : NET_DEFAULT_BRIDGE;
	const char *subnet = cfg->subnet ? cfg->subnet : NET_DEFAULT_SUBNET;
	const char *range = cfg->port_range ? cfg->port_range : NET_DEFAULT_PORT_RANGE;
	uint32_t addr;
	int prefix;
	uint16_t lo, hi;

	if (!net_ifname_valid(bridge))
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "--bridge '%.64s': an interface name of 1 to 15 letters, digits, "
			       "'_' or '-'",
			       bridge);
	if (net_parse_cidr(subnet, &addr, &prefix) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "--bridge-subnet '%.64s': an IPv4 network A.B.C.D/N, N from 8 to 30",
			       subnet);
	if (net_parse_port_range(range, &lo, &hi) < 0)
		return err_set(err, -EINVAL, E_INVALID_PARAMETER,
			       "--host-port-range '%.64s': LOW-HIGH, ports from 1 to 65535", range);
	return 0;
}

int net_open(const struct net_config *cfg, struct net **ret, struct err *err)
{
	const char *bridge = cfg->bridge ? cfg->bridge : NET_DEFAULT_BRIDGE;
	const char *subnet = cfg->subnet ? cfg->subnet : NET_DEFAULT_SUBNET;
	const char *range = cfg->port_range ? cfg->port_range : NET_DEFAULT_PORT_RANGE;
	struct net *n;
	int r = net_config_check(cfg, err);

	if (r < 0)
		return r;
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	net_parse_cidr(subnet, &n->subnet, &n->prefix);
	net_parse_port_range(range, &n->port_lo, &n->port_hi);
	n->port_next = n->port_lo;
	copy_str(n->bridge, sizeof(n->bridge), bridge);
	snprintf(n->table, sizeof(n->table), "berth_%s", bridge);
	snprintf(n->veth_prefix, sizeof(n->veth_prefix), "v%06x", name_hash(bridge) & 0xffffff);
	buf_init(&n->records_dir);
	buf_init(&n->netns_dir);
	buf_printf(&n->records_dir, "%s/network", cfg->data_dir);
	buf_printf(&n->netns_dir, "%s/netns", cfg->data_dir);
	pthread_mutex_init(&n->lock, NULL);
	n->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->nft) {
		net_close(n);
		return err_set(err, -ENOMEM, E_SERVER, "cannot make an nftables context");
	}
	nft_ctx_buffer_output(n->nft);
	nft_ctx_buffer_error(n->nft);
	*ret = n;
	return 0;
}

const char *net_bridge(const struct net *n)
{
	return n->bridge;
}

static int count_one(struct net_endpoint *ep, void *arg)
{
	(void)ep;
	(*(size_t *)arg)++;
	return 0;
}

static size_t records_count(struct net *n)
{
	size_t count = 0;

	records_each(n, count_one, &count);
	return count;
}

void net_close(struct net *n)
{
	if (!n)
		return;
	if (n->nft && records_count(n) == 0 && if_nametoindex(n->bridge))
		bridge_remove(n);
	if (n->nft)
		nft_ctx_free(n->nft);
	buf_release(&n->records_dir);
	buf_release(&n->netns_dir);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

struct in_use {
	uint32_t *addrs;
	size_t n_addrs, cap;
	struct net_port ports[1024]; /* host ports of other endpoints, cut at 1024 */
	size_t n_ports;
	bool overflow;
};

static int collect_use(struct net_endpoint *ep, void *arg)
{
	struct in_use *u = arg;
	struct in_addr a;

	if (u->n_addrs == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		uint32_t *p = realloc(u->addrs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		u->addrs = p;
		u->cap = cap;
	}
	if (inet_pton(AF_INET, ep->address, &a) == 1)
		u->addrs[u->n_addrs++] = ntohl(a.s_addr);
	for (size_t i = 0; i < ep->n_ports; i++) {
		if (u->n_ports == ARRAY_SIZE(u->ports)) {
			u->overflow = true;
			break;
		}
		u->ports[u->n_ports++] = ep->ports[i];
	}
	return 0;
}

static bool port_recorded(const struct in_use *u, const struct net_endpoint *ep, bool udp,
			  uint16_t port)
{
	for (size_t i = 0; i < u->n_ports; i++)
		if (u->ports[i].udp == udp && u->ports[i].host_port == port)
			return true;
	for (size_t i = 0; i < ep->n_ports; i++)
		if (ep->ports[i].udp == udp && ep->ports[i].host_port == port)
			return true;
	return false;
}

/* Whether something on the host holds port (bound on any address). */
static bool port_bound(bool udp, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	bool bound;

	if (fd < 0)
		return false;
	bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE;
	close(fd);
	return bound;
}

static int assign_ports(struct net *n, const struct in_use *u, const struct net_port *ports,
			size_t n_ports, struct net_endpoint *ep, struct err *err)
{
	uint32_t span = (uint32_t)n->port_hi - n->port_lo + 1;

	for (size_t i = 0; i < n_ports; i++) {
		struct net_port p = ports[i];

		if (p.container_port == 0)
			return err_set(err, -EINVAL, E_CLIENT,
				       "ResourceInitializationError: container port 0");
		if (p.host_port) {
			if (port_recorded(u, ep, p.udp, p.host_port) ||
			    port_bound(p.udp, p.host_port))
				return err_set(err, -EADDRINUSE, E_CLIENT,
					       "ResourceInitializationError: host port %u/%s is "
					       "already in use",
					       p.host_port, p.udp ? "udp" : "tcp");
		} else {
			/* round the range from where the last pick ended, as a port is not reused at once */
			for (uint32_t k = 0; k < span && !p.host_port; k++) {
				uint16_t cand = (uint16_t)(n->port_lo +
							   (n->port_next - n->port_lo + k) % span);

				if (!port_recorded(u, ep, p.udp, cand) &&
				    !port_bound(p.udp, cand)) {
					p.host_port = cand;
					n->port_next = cand == n->port_hi ? n->port_lo
									  : (uint16_t)(cand + 1);
				}
			}
			if (!p.host_port)
				return err_set(err, -EADDRNOTAVAIL, E_CLIENT,
					       "ResourceInitializationError: no free host port "
					       "left in %u-%u",
					       n->port_lo, n->port_hi);
		}
		ep->ports[ep->n_ports++] = p;
	}
	return 0;
}

/* Delete ep's rules (the lock is held: the nftables context is the handle's). */
static void endpoint_unpublish(struct net *n, const struct net_endpoint *ep)
{
	for (size_t i = 0; i < ep->n_ports && n->ready; i++) {
		_cleanup_buf_ struct buf s = BUF_INIT;
		struct err err = ERR_INIT;

		buf_printf(&s, "delete element ip %s ports { %s . %u }\n", n->table,
			   ep->ports[i].udp ? "udp" : "tcp", ep->ports[i].host_port);
		nft_run(n, buf_str(&s), &err);
	}
}

/*
 * Delete ep's veth pair and namespace, then its record (last: until then
 * its address stays taken and a restarted agent would find it). Needs no
 * lock: deleting a link waits for the kernel's RCU grace period (some
 * 20 ms here), which other tasks' setups need not wait for.
 */
static void endpoint_unplug(struct net *n, const struct net_endpoint *ep)
{
	_cleanup_buf_ struct buf path = BUF_INIT;
	struct nl nl = { 0 };

	if (nl_open(&nl) == 0) {
		link_delete(&nl, ep->veth);
		nl_close(&nl);
	}
	if (ep->netns[0])
		netns_remove(ep->netns);
	record_path(n, ep->id, &path);
	unlink(buf_str(&path));
}

/* Take endpoint ep off the host; what is missing already is fine. The lock is held. */
static void endpoint_teardown(struct net *n, const struct net_endpoint *ep)
{
	endpoint_unpublish(n, ep);
	endpoint_unplug(n, ep);
}

int net_endpoint_create(struct net *n, const char *id, const char *task,
			const struct net_port *ports, size_t n_ports, struct net_endpoint *ret,
			struct err *err)
{
	_cleanup_buf_ struct buf s = BUF_INIT, ns = BUF_INIT;
	struct in_use *u = NULL;
	struct nl nl = { 0 };
	uint32_t addr;
	uint8_t hash[4];
	int r, index;

	if (!id_valid(id) || !id_valid(task))
		return err_set(err, -EINVAL, E_CLIENT, "bad endpoint id '%.100s'", id ? id : "");
	if (n_ports > NET_PORTS_MAX)
		return err_set(err, -E2BIG, E_CLIENT,
			       "ResourceInitializationError: more than %d port mappings",
			       NET_PORTS_MAX);
	memset(ret, 0, sizeof(*ret));
	copy_str(ret->id, sizeof(ret->id), id);
	copy_str(ret->task, sizeof(ret->task), task);
	buf_printf(&ns, "%s/%s", buf_str(&n->netns_dir), id);
	if (ns.len >= sizeof(ret->netns))
		return err_set(err, -ENAMETOOLONG, E_SERVER, "%s: path too long", buf_str(&ns));
	copy_str(ret->netns, sizeof(ret->netns), buf_str(&ns));

	pthread_mutex_lock(&n->lock);
	r = fs_mkdir_p(buf_str(&n->records_dir), 0700);
	if (r == 0)
		r = fs_mkdir_p(buf_str(&n->netns_dir), 0700);
	if (r < 0) {
		err_set(err, r, E_SERVER, "%s: %s", buf_str(&n->records_dir), strerror(-r));
		goto out;
	}
	if (record_load(n, id, ret) == 0) {
		r = err_set(err, -EEXIST, E_CLIENT, "endpoint %s exists already", id);
		goto out;
	}
	copy_str(ret->id, sizeof(ret->id), id);
	u = calloc(1, sizeof(*u));
	if (!u) {
		r = err_set(err, -ENOMEM, E_SERVER, "out of memory");
		goto out;
	}
	r = records_each(n, collect_use, u);
	if (r < 0) {
		err_set(err, r, E_SERVER, "reading %s: %s", buf_str(&n->records_dir), strerror(-r));
		goto out;
	}
	addr = net_pick_address(n->subnet, n->prefix, u->addrs, u->n_addrs);
	if (!addr) {
		r = err_set(err, -EADDRNOTAVAIL, E_CLIENT,
			    "ResourceInitializationError: no address left in the bridge's subnet");
		goto out;
	}
	r = assign_ports(n, u, ports, n_ports, ret, err);
	if (r < 0)
		goto out;
	addr_str(addr, ret->address);
	addr_str(n->subnet + 1, ret->gateway);
	ret->prefix = n->prefix;
	snprintf(ret->mac, sizeof(ret->mac), "02:42:%02x:%02x:%02x:%02x", addr >> 24,
		 (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
	random_bytes(hash, sizeof(hash));
	snprintf(ret->veth, sizeof(ret->veth), "%s%02x%02x%02x%02x", n->veth_prefix, hash[0],
		 hash[1], hash[2], hash[3]);

	/* recorded first: whatever happens next, a restarted agent knows to clean it */
	r = record_save(n, ret, err);
	if (r < 0)
		goto out;
	r = nl_open(&nl);
	if (r < 0) {
		err_set(err, r, E_SERVER, "netlink: %s", strerror(-r));
		goto fail;
	}
	r = bridge_setup(n, &nl, err);
	if (r == 0)
		r = netns_create(n, ret, err);
	if (r < 0)
		goto fail;
	index = (int)if_nametoindex(ret->veth);
	r = index ? link_up(&nl, index, (int)if_nametoindex(n->bridge)) : -ENODEV;
	if (r < 0) {
		err_set(err, r, E_SERVER, "attaching %s to %s: %s", ret->veth, n->bridge,
			strerror(-r));
		goto fail;
	}
	if (ret->n_ports) {
		buf_printf(&s, "add element ip %s ports { ", n->table);
		port_elements(ret, true, &s);
		buf_puts(&s, " }\n");
		r = nft_run(n, buf_str(&s), err);
		if (r < 0)
			goto fail;
	}
	r = 0;
	goto out;
fail:
	err_wrap(err, "ResourceInitializationError: failed to set up the network of %s", id);
	endpoint_teardown(n, ret);
out:
	nl_close(&nl);
	if (u)
		free(u->addrs);
	free(u);
	pthread_mutex_unlock(&n->lock);
	return r;
}

int net_endpoint_get(struct net *n, const char *id, struct net_endpoint *ret, struct err *err)
{
	int r;

	if (!id_valid(id))
		return err_set(err, -ENOENT, E_CLIENT, "no endpoint '%.100s'", id ? id : "");
	pthread_mutex_lock(&n->lock);
	r = record_load(n, id, ret);
	pthread_mutex_unlock(&n->lock);
	if (r < 0)
		return err_set(err, r == -EINVAL ? -EINVAL : -ENOENT, E_CLIENT,
			       "no endpoint '%.100s'", id);
	return 0;
}

int net_endpoint_remove(struct net *n, const char *id, struct err *err)
{
	_cleanup_free_ struct net_endpoint *ep = malloc(sizeof(*ep));
	int r;

	if (!ep)
		return err_set(err, -ENOMEM, E_SERVER, "out of memory");
	if (!id_valid(id))
		return 0;
	pthread_mutex_lock(&n->lock);
	if (!n->ready && if_nametoindex(n->bridge))
		n->ready = true; /* made by an earlier run: its rules may need removing */
	r = record_load(n, id, ep);
	if (r == 0)
		endpoint_unpublish(n, ep);
	pthread_mutex_unlock(&n->lock);
	if (r == 0)
		endpoint_unplug(n, ep);
	return 0;
}

struct sweep {
	struct net *n;
	bool (*keep)(const char *task, void *userdata);
	void *userdata;
	struct buf elements; /* the kept endpoints' map elements */
	size_t kept;
};

static int sweep_one(struct net_endpoint *ep, void *arg)
{
	struct sweep *s = arg;

	if (s->keep(ep->task, s->userdata)) {
		if (ep->n_ports) {
			if (s->elements.len)
				buf_puts(&s->elements, ", ");
			port_elements(ep, true, &s->elements);
		}
		s->kept++;
		return 0;
	}
	endpoint_teardown(s->n, ep);
	return 0;
}

/* Whether path is one of the kept endpoints' namespaces (its record exists). */
static bool netns_recorded(struct net *n, const char *name)
{
	_cleanup_free_ struct net_endpoint *ep = malloc(sizeof(*ep));

	return ep && id_valid(name) && record_load(n, name, ep) == 0;
}

int net_sweep(struct net *n, bool (*keep)(const char *task, void *userdata), void *userdata,
	      struct err *err)
{
	struct sweep s = { .n = n, .keep = keep, .userdata = userdata, .elements = BUF_INIT };
	DIR *d;
	struct dirent *e;
	int r = 0;

	pthread_mutex_lock(&n->lock);
	n->ready = if_nametoindex(n->bridge) != 0;
	records_each(n, sweep_one, &s);
	d = opendir(buf_str(&n->netns_dir));
	while (d && (e = readdir(d))) {
		_cleanup_buf_ struct buf path = BUF_INIT;

		if (e->d_name[0] == '.' || netns_recorded(n, e->d_name))
			continue;
		buf_printf(&path, "%s/%s", buf_str(&n->netns_dir), e->d_name);
		netns_remove(buf_str(&path));
	}
	if (d)
		closedir(d);
	if (s.kept == 0) {
		if (n->ready || if_nametoindex(n->bridge))
			bridge_remove(n);
		else {
			_cleanup_buf_ struct buf cmd = BUF_INIT;
			struct err ignored = ERR_INIT;

			/* a table left without its bridge */
			buf_printf(&cmd, "delete table ip %s\n", n->table);
			nft_run(n, buf_str(&cmd), &ignored);
		}
	} else if (n->ready) {
		_cleanup_buf_ struct buf cmd = BUF_INIT;

		/* the map holds exactly what the kept records publish */
		buf_printf(&cmd, "flush map ip %s ports\n", n->table);
		if (s.elements.len)
			buf_printf(&cmd, "add element ip %s ports { %s }\n", n->table,
				   buf_str(&s.elements));
		r = table_setup(n, err);
		if (r == 0)
			r = nft_run(n, buf_str(&cmd), err);
	}
	pthread_mutex_unlock(&n->lock);
	buf_release(&s.elements);
	return r;
}
