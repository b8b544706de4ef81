/*
 * test_network.c: what network.c decides without touching the host: the
 * agent's options (subnet, port range, bridge name), the addresses it hands
 * out, and its endpoint records read back (a damaged one is refused).
 * Making bridges, namespaces and rules is tested end to end in
 * tests/integration/test_network.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/network.h"

static void test_options(void **state)
{
	uint32_t addr;
	int prefix;
	uint16_t lo, hi;

	(void)state;
	assert_int_equal(net_parse_cidr("172.29.0.0/16", &addr, &prefix), 0);
	assert_int_equal(addr, 0xac1d0000u);
	assert_int_equal(prefix, 16);
	/* host bits are dropped */
	assert_int_equal(net_parse_cidr("10.1.2.3/24", &addr, &prefix), 0);
	assert_int_equal(addr, 0x0a010200u);
	assert_int_equal(net_parse_cidr("10.1.2.0", &addr, &prefix), -EINVAL);
	assert_int_equal(net_parse_cidr("10.1.2.0/31", &addr, &prefix), -EINVAL);
	assert_int_equal(net_parse_cidr("10.1.2.0/7", &addr, &prefix), -EINVAL);
	assert_int_equal(net_parse_cidr("10.1.2/24", &addr, &prefix), -EINVAL);
	assert_int_equal(net_parse_cidr("fd00::/64", &addr, &prefix), -EINVAL);
	assert_int_equal(net_parse_cidr(NULL, &addr, &prefix), -EINVAL);

	assert_int_equal(net_parse_port_range("49153-65535", &lo, &hi), 0);
	assert_int_equal(lo, 49153);
	assert_int_equal(hi, 65535);
	assert_int_equal(net_parse_port_range("80-80", &lo, &hi), 0);
	assert_int_equal(net_parse_port_range("81-80", &lo, &hi), -EINVAL);
	assert_int_equal(net_parse_port_range("0-80", &lo, &hi), -EINVAL);
	assert_int_equal(net_parse_port_range("1-65536", &lo, &hi), -EINVAL);
	assert_int_equal(net_parse_port_range("-80", &lo, &hi), -EINVAL);
	assert_int_equal(net_parse_port_range("80", &lo, &hi), -EINVAL);

	assert_true(net_ifname_valid("berth0"));
	assert_true(net_ifname_valid("br_test-1"));
	assert_false(net_ifname_valid(""));
	assert_false(net_ifname_valid("a-name-too-long0"));
	assert_false(net_ifname_valid("a b"));
	assert_false(net_ifname_valid("x\"; flush ruleset"));
}

static void test_open_refuses_bad_options(void **state)
{
	struct net_config cfg = { .data_dir = "/nonexistent" };
	struct net *n = NULL;
	struct err err = ERR_INIT;

	(void)state;
	cfg.bridge = "bad name";
	assert_int_equal(net_open(&cfg, &n, &err), -EINVAL);
	assert_int_equal(err.kind, E_INVALID_PARAMETER);
	assert_non_null(strstr(err.msg, "--bridge"));
	cfg.bridge = NULL;
	cfg.subnet = "10.0.0.0/33";
	assert_int_equal(net_open(&cfg, &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--bridge-subnet"));
	cfg.subnet = NULL;
	cfg.port_range = "9-1";
	assert_int_equal(net_open(&cfg, &n, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--host-port-range"));
	cfg.port_range = NULL;
	/* nothing is made on the host until an endpoint is */
	assert_int_equal(net_open(&cfg, &n, &err), 0);
	assert_string_equal(net_bridge(n), NET_DEFAULT_BRIDGE);
	net_close(n);
	net_close(NULL);
}

static void test_pick_address(void **state)
{
	const uint32_t subnet = 0x0a000000u; /* 10.0.0.0 */
	uint32_t used[3] = { subnet + 2, subnet + 3, subnet + 5 };

	(void)state;
	/* .0 is the network, .1 the bridge */
	assert_int_equal(net_pick_address(subnet, 24, NULL, 0), subnet + 2);
	assert_int_equal(net_pick_address(subnet, 24, used, 3), subnet + 4);
	/* a /30 has .2 only (.3 is the broadcast) */
	assert_int_equal(net_pick_address(subnet, 30, NULL, 0), subnet + 2);
	assert_int_equal(net_pick_address(subnet, 30, used, 1), 0);
}

static void test_records(void **state)
{
	struct net_endpoint ep = { 0 }, back;
	struct buf b = BUF_INIT;
	const char *bad[] = {
		"",
		"[]",
		"{\"id\":\"../x\",\"address\":\"10.0.0.2\",\"veth\":\"v1\"}",
		"{\"id\":\"a\",\"address\":\"10.0.0.300\",\"veth\":\"v1\"}",
		"{\"id\":\"a\",\"address\":\"10.0.0.2\",\"veth\":\"v 1\"}",
		"{\"id\":\"a\",\"address\":\"10.0.0.2\",\"veth\":\"v1\",\"ports\":[{"
		"\"containerPort\":"
		"0,\"hostPort\":1}]}",
		"{\"id\":\"a\",\"address\":\"10.0.0.2\",\"veth\":\"v1\",\"ports\":[{"
		"\"containerPort\":"
		"80,\"hostPort\":70000}]}",
	};

	(void)state;
	strcpy(ep.id, "task1-0");
	strcpy(ep.task, "task1");
	strcpy(ep.address, "10.0.0.2");
	strcpy(ep.gateway, "10.0.0.1");
	ep.prefix = 24;
	strcpy(ep.mac, "02:42:0a:00:00:02");
	strcpy(ep.veth, "v123456abcdef01");
	strcpy(ep.netns, "/var/lib/berth/agent/netns/task1-0");
	ep.ports[0] = (struct net_port){ .udp = false, .container_port = 80, .host_port = 8081 };
	ep.ports[1] = (struct net_port){ .udp = true, .container_port = 53, .host_port = 49153 };
	ep.n_ports = 2;
	net_endpoint_to_json(&ep, &b);
	assert_int_equal(net_endpoint_from_json(b.data, b.len, &back), 0);
	assert_string_equal(back.id, ep.id);
	assert_string_equal(back.task, ep.task);
	assert_string_equal(back.address, ep.address);
	assert_string_equal(back.gateway, ep.gateway);
	assert_int_equal(back.prefix, 24);
	assert_string_equal(back.mac, ep.mac);
	assert_string_equal(back.veth, ep.veth);
	assert_string_equal(back.netns, ep.netns);
	assert_int_equal(back.n_ports, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(back.ports[i].udp, ep.ports[i].udp);
		assert_int_equal(back.ports[i].container_port, ep.ports[i].container_port);
		assert_int_equal(back.ports[i].host_port, ep.ports[i].host_port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(net_endpoint_from_json(bad[i], strlen(bad[i]), &back), -EINVAL);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_open_refuses_bad_options),
		cmocka_unit_test(test_pick_address),
		cmocka_unit_test(test_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
