/*
 * network.h: the networks of the agent's tasks (bridge and awsvpc modes;
 * host and none need nothing from here).
 *
 * One Linux bridge per agent (--bridge, default "berth0") with the first
 * address of --bridge-subnet (default 172.29.0.0/16) as the gateway. An
 * endpoint is one network namespace with one veth pair: "eth0" inside,
 * with an address of the subnet, a MAC derived from it (02:42 and the
 * address, as Docker derives them) and a default route through the bridge;
 * the host's end is a port of the bridge, named "v", 6 hex digits of a hash
 * of the bridge's name and 8 random ones. bridge mode gives each container
 * an endpoint, awsvpc each task.
 *
 * Published ports (bridge mode) are DNAT rules in an nftables table of the
 * agent's own, `ip berth_BRIDGE`: a map from protocol and host port to the
 * endpoint's address and container port, looked up for every packet to a
 * local address, from outside (prerouting) or from the host itself
 * (output, loopback included: the bridge gets route_localnet and what
 * leaves the host for the bridge with a local source address is
 * masqueraded, so the answer comes back). Traffic from the subnet to
 * anywhere but the bridge is masqueraded (outbound NAT). The agent turns
 * net.ipv4.ip_forward on, as Docker does.
 *
 * State: DATA-DIR/network/ID.json records each endpoint (address, MAC,
 * host veth, ports), written before anything is made, so an address or
 * port is never handed out twice and an agent that restarts (or crashed
 * half-way) finds everything it made; DATA-DIR/netns/ID is the namespace
 * (a bind mount of its nsfs file, which runc joins). The bridge and the
 * table are made when the first endpoint is and removed by net_close and
 * net_sweep once no endpoint is left.
 *
 * Every function is safe to call from several threads (one lock).
 */
#ifndef BERTH_AGENT_NETWORK_H
#define BERTH_AGENT_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define NET_DEFAULT_BRIDGE     "berth0"
#define NET_DEFAULT_SUBNET     "172.29.0.0/16"
#define NET_DEFAULT_PORT_RANGE "49153-65535"
#define NET_ID_MAX	       128
#define NET_PORTS_MAX	       128
#define NET_PATH_MAX	       1024
#define NET_IFNAME_MAX	       16 /* IFNAMSIZ */

struct net_config {
	const char *data_dir;	/* the agent's DATA-DIR */
	const char *bridge;	/* NULL: NET_DEFAULT_BRIDGE */
	const char *subnet;	/* IPv4 CIDR, NULL: NET_DEFAULT_SUBNET */
	const char *port_range; /* "LO-HI" for dynamic host ports, NULL: NET_DEFAULT_PORT_RANGE */
};

/* A published port: host_port 0 asks for a dynamic one from the range. */
struct net_port {
	bool udp;
	uint16_t container_port;
	uint16_t host_port;
};

struct net_endpoint {
	char id[NET_ID_MAX];   /* [A-Za-z0-9_.-] */
	char task[NET_ID_MAX]; /* the task it belongs to */
	char address[16];      /* dotted quad */
	char gateway[16];
	int prefix;
	char mac[18];
	char veth[NET_IFNAME_MAX]; /* the host's end */
	char netns[NET_PATH_MAX];  /* the namespace's path (bind mount) */
	struct net_port ports[NET_PORTS_MAX];
	size_t n_ports;
};

struct net;

/* Check cfg's bridge name, subnet and port range: -EINVAL, E_INVALID_PARAMETER naming the option. */
int net_config_check(const struct net_config *cfg, struct err *err);

/*
 * Check cfg (net_config_check) and return a handle for it. Makes nothing
 * on the host yet.
 */
int net_open(const struct net_config *cfg, struct net **ret, struct err *err);

/* Release n; when no endpoint is recorded, remove the bridge and the table. NULL is fine. */
void net_close(struct net *n);

/*
 * Make endpoint id of task: a namespace with an address and, for each of
 * ports (n_ports at most NET_PORTS_MAX), a DNAT rule from its host port
 * (chosen from the range when 0: one not recorded and not bound on the host
 * now) to its container port. ret gets what was made, dynamic ports
 * filled in. Fails with E_CLIENT and "ResourceInitializationError: ..."
 * for a static host port another endpoint of this agent has or something
 * on the host listens on, an exhausted subnet or port range; E_SERVER for
 * the host's failures. A failure leaves nothing behind.
 */
int net_endpoint_create(struct net *n, const char *id, const char *task,
			const struct net_port *ports, size_t n_ports, struct net_endpoint *ret,
			struct err *err);

/* What is recorded of endpoint id: -ENOENT when none. */
int net_endpoint_get(struct net *n, const char *id, struct net_endpoint *ret, struct err *err);

/* Remove endpoint id (its rules, veth, namespace and record); 0 when there was none. */
int net_endpoint_remove(struct net *n, const char *id, struct err *err);

/*
 * After an agent restart: remove every endpoint whose task keep() does not
 * want, namespaces under DATA-DIR/netns no record names, and rules no
 * record names (the map is rewritten from the records); then, when no
 * endpoint is left, the bridge and the table.
 */
int net_sweep(struct net *n, bool (*keep)(const char *task, void *userdata), void *userdata,
	      struct err *err);

/* The bridge's name and the nftables table's (for messages and tests). */
const char *net_bridge(const struct net *n);

/* Parsing, exposed for the unit tests. */
int net_parse_cidr(const char *s, uint32_t *ret_addr, int *ret_prefix);
int net_parse_port_range(const char *s, uint16_t *ret_lo, uint16_t *ret_hi);
bool net_ifname_valid(const char *s);

/*
 * The lowest free host address of subnet/prefix (network and broadcast
 * addresses and the gateway, the first, excluded) not in used (n_used
 * addresses in host byte order): 0 when there is none.
 */
uint32_t net_pick_address(uint32_t subnet, int prefix, const uint32_t *used, size_t n_used);

/* An endpoint record (DATA-DIR/network/ID.json) and back. */
void net_endpoint_to_json(const struct net_endpoint *ep, struct buf *out);
int net_endpoint_from_json(const char *data, size_t len, struct net_endpoint *ret);

#endif
