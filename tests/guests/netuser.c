/*
 * netuser.c - the user-mode network (--net user, QEMU's -netdev user) seen from an
 * NE2000 at 0x300, with frames built by hand (run-netuser.sh runs it under QEMU and
 * trapeze, each with hostfwd=tcp:127.0.0.1:HOSTPORT-:8080):
 * - DHCP (RFC 2131): a DISCOVER gets an OFFER of 10.0.2.15 from 10.0.2.2 with QEMU's
 *   mask, router and DNS server; a REQUEST for it gets an ACK;
 * - ARP (RFC 826): requests for the host 10.0.2.2 and the DNS server 10.0.2.3 get
 *   replies; an ICMP echo to 10.0.2.2 gets its echo reply;
 * - port forwarding, first, before the guest sent a frame: a host connection to
 *   HOSTPORT arrives as a TCP SYN to 10.0.2.15:8080 from 10.0.2.2; the guest answers
 *   SYN-ACK (RFC 793), gets the handshake's ACK, sends a line the host peer checks and
 *   gets the peer's line back.
 * - malformed IPv4, UDP, TCP and ARP frames leave the network working.
 * The guest answers ARP requests for 10.0.2.15 while it waits, as any host would.
 * Without a card (run-guest.sh) every port floats to all ones, and the guest checks
 * only that.
 */
#include "ne2k.h"

#define ETH_IP   0x0800
#define ETH_ARP  0x0806
#define IP_ICMP  1
#define IP_TCP   6
#define IP_UDP   17
#define TCP_FIN  0x01
#define TCP_SYN  0x02
#define TCP_RST  0x04
#define TCP_PSH  0x08
#define TCP_ACK  0x10
#define GUEST_PORT 8080
#define CONNECT_US 20000000u            /* the host peer connects once it sees the line */

static const uint8_t my_ip[4] = { 10, 0, 2, 15 };
static const uint8_t host_ip[4] = { 10, 0, 2, 2 };
static const uint8_t dns_ip[4] = { 10, 0, 2, 3 };
static const uint8_t zero_ip[4] = { 0, 0, 0, 0 };
static const uint8_t all_ip[4] = { 255, 255, 255, 255 };
static const uint8_t slirp_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 };  /* libslirp's own */
static uint8_t host_mac[6];             /* learnt from the SYN, then the ARP reply */
static uint16_t rx_len;                 /* the frame in rxbuf */

/* ---- bytes ---- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)get16(p) << 16 | get16(p + 2); }

/* The Internet checksum (RFC 1071) of n bytes, continuing sum. */
static uint32_t sum_bytes(uint32_t sum, const uint8_t *p, unsigned n)
{
	for (unsigned i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- building frames in txbuf ---- */

static void eth(const uint8_t *dst, uint16_t type)
{
	memcpy(txbuf, dst, 6);
	memcpy(txbuf + 6, mac, 6);
	put16(txbuf + 12, type);
}

/* An IPv4 header at txbuf + 14 for len bytes of payload; the payload follows at 34. */
static void ip(uint8_t proto, const uint8_t *src, const uint8_t *dst, uint16_t len)
{
	uint8_t *h = txbuf + 14;
	static uint16_t id = 1;
	memset(h, 0, 20);
	h[0] = 0x45;
	put16(h + 2, (uint16_t)(20 + len));
	put16(h + 4, id++);
	h[8] = 64;
	h[9] = proto;
	memcpy(h + 12, src, 4);
	memcpy(h + 16, dst, 4);
	put16(h + 10, fold(sum_bytes(0, h, 20)));
}

/* The TCP or UDP checksum over the pseudo-header and the len bytes at txbuf + 34. */
static uint16_t l4_sum(uint8_t proto, uint16_t len)
{
	uint32_t s = sum_bytes(0, txbuf + 26, 8) + proto + len;
	return fold(sum_bytes(s, txbuf + 34, len));
}

static void send_frame(uint16_t len) { transmit(len < 60 ? 60 : len); }

/* ---- receiving ---- */

static int is_ip(uint8_t proto)
{
	return rx_len >= 34 && get16(rxbuf + 12) == ETH_IP && (rxbuf[14] >> 4) == 4 &&
	       rxbuf[23] == proto;
}

static const uint8_t *l4(void) { return rxbuf + 14 + (rxbuf[14] & 15) * 4; }

static void arp_reply_to(const uint8_t *req)
{
	eth(req + 22, ETH_ARP);
	uint8_t *a = txbuf + 14;
	put16(a, 1);
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 2);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, my_ip, 4);
	memcpy(a + 18, req + 22, 10);   /* the asker's MAC and IP */
	send_frame(42);
}

/* The next frame for which match() holds, within us; ARP requests for 10.0.2.15 are
 * answered on the way, every other frame dropped. */
static int wait_frame(int (*match)(void), uint32_t us)
{
	uint32_t t0 = tb_now();
	struct rx h;
	while (tb_now() - t0 < TB_US(us)) {
		if (!receive_within(&h, 100000))
			continue;
		rx_len = h.count >= 4 ? (uint16_t)(h.count - 4) : 0;
		if (rx_len >= 42 && get16(rxbuf + 12) == ETH_ARP && get16(rxbuf + 20) == 1 &&
		    !memcmp(rxbuf + 38, my_ip, 4)) {
			uint8_t req[42];
			memcpy(req, rxbuf, 42);
			arp_reply_to(req);
			continue;
		}
		if (match())
			return 1;
	}
	return 0;
}

/* ---- DHCP ---- */

#define DHCP_XID 0x7a9e0e01u
#define DHCP_LEN 300                    /* BOOTP's minimum message */
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_ACK 5

static void send_dhcp(uint8_t type)
{
	eth(bcast, ETH_IP);
	uint8_t *u = txbuf + 34, *b = u + 8;
	memset(u, 0, 8 + DHCP_LEN);
	put16(u, 68);
	put16(u + 2, 67);
	put16(u + 4, 8 + DHCP_LEN);
	b[0] = 1;                       /* BOOTREQUEST, Ethernet, 6-byte addresses */
	b[1] = 1;
	b[2] = 6;
	put32(b + 4, DHCP_XID);
	memcpy(b + 28, mac, 6);
	uint8_t *o = b + 236;
	put32(o, 0x63825363);           /* the magic cookie */
	o += 4;
	*o++ = 53, *o++ = 1, *o++ = type;
	if (type == DHCP_REQUEST) {
		*o++ = 50, *o++ = 4, memcpy(o, my_ip, 4), o += 4;
		*o++ = 54, *o++ = 4, memcpy(o, host_ip, 4), o += 4;
	}
	*o = 255;
	ip(IP_UDP, zero_ip, all_ip, 8 + DHCP_LEN);
	put16(u + 6, l4_sum(IP_UDP, 8 + DHCP_LEN));
	send_frame(34 + 8 + DHCP_LEN);
}

static int is_dhcp_reply(void)
{
	if (!is_ip(IP_UDP))
		return 0;
	const uint8_t *u = l4(), *b = u + 8;
	return get16(u) == 67 && get16(u + 2) == 68 && b[0] == 2 && get32(b + 4) == DHCP_XID;
}

/* Option code's first data bytes (n of them) into out; whether it is there. */
static int dhcp_option(uint8_t code, uint8_t *out, unsigned n)
{
	const uint8_t *u = l4();
	const uint8_t *o = u + 8 + 240, *end = u + get16(u + 4);
	if (end > rxbuf + rx_len)
		end = rxbuf + rx_len;
	while (o < end && *o != 255) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			return 0;
		if (*o == code && o[1] >= n) {
			memcpy(out, o + 2, n);
			return 1;
		}
		o += 2 + o[1];
	}
	return 0;
}

static int ip_is(const uint8_t *got, const uint8_t *want) { return !memcmp(got, want, 4); }

static void test_dhcp(void)
{
	static const uint8_t mask[4] = { 255, 255, 255, 0 };
	uint8_t type = 0, v[4];
	send_dhcp(DHCP_DISCOVER);
	int got = wait_frame(is_dhcp_reply, 3000000);
	check(got, "dhcp-discover-answered");
	if (!got)
		return;
	const uint8_t *b = l4() + 8;
	check(dhcp_option(53, &type, 1) && type == DHCP_OFFER, "dhcp-offer-type");
	check(ip_is(b + 16, my_ip), "dhcp-offer-yiaddr-10.0.2.15");
	check(ip_is(rxbuf + 26, host_ip), "dhcp-offer-ip-source-10.0.2.2");
	check(dhcp_option(54, v, 4) && ip_is(v, host_ip), "dhcp-offer-server-id-10.0.2.2");
	check(dhcp_option(1, v, 4) && ip_is(v, mask), "dhcp-offer-mask-255.255.255.0");
	check(dhcp_option(3, v, 4) && ip_is(v, host_ip), "dhcp-offer-router-10.0.2.2");
	check(dhcp_option(6, v, 4) && ip_is(v, dns_ip), "dhcp-offer-dns-10.0.2.3");

	send_dhcp(DHCP_REQUEST);
	got = wait_frame(is_dhcp_reply, 3000000);
	b = l4() + 8;
	check(got && dhcp_option(53, &type, 1) && type == DHCP_ACK && ip_is(b + 16, my_ip),
	      "dhcp-request-acked-10.0.2.15");
}

/* ---- ARP and ICMP ---- */

static const uint8_t *arp_target;

static void send_arp_request(const uint8_t *target)
{
	eth(bcast, ETH_ARP);
	uint8_t *a = txbuf + 14;
	put16(a, 1);
	put16(a + 2, ETH_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, my_ip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, target, 4);
	send_frame(42);
}

static int is_arp_reply(void)
{
	return rx_len >= 42 && get16(rxbuf + 12) == ETH_ARP && get16(rxbuf + 20) == 2 &&
	       ip_is(rxbuf + 28, arp_target) && ip_is(rxbuf + 38, my_ip);
}

static void test_arp(void)
{
	arp_target = host_ip;
	send_arp_request(host_ip);
	int got = wait_frame(is_arp_reply, 2000000);
	check(got, "arp-reply-for-10.0.2.2");
	check(got && !memcmp(rxbuf, mac, 6) && !memcmp(rxbuf + 32, mac, 6), "arp-reply-to-our-mac");
	check(got && !memcmp(rxbuf + 22, slirp_mac, 6), "arp-reply-mac-52:55:0a:00:02:02");
	memcpy(host_mac, got ? rxbuf + 22 : slirp_mac, 6);
	arp_target = dns_ip;
	send_arp_request(dns_ip);
	check(wait_frame(is_arp_reply, 2000000), "arp-reply-for-10.0.2.3");
}

#define PING_ID 0x4242

static int is_echo_reply(void)
{
	if (!is_ip(IP_ICMP))
		return 0;
	const uint8_t *i = l4();
	return i[0] == 0 && get16(i + 4) == PING_ID && ip_is(rxbuf + 26, host_ip);
}

static void test_ping(void)
{
	eth(host_mac, ETH_IP);
	uint8_t *i = txbuf + 34;
	memset(i, 0, 40);
	i[0] = 8;                       /* echo request */
	put16(i + 4, PING_ID);
	put16(i + 6, 1);
	memcpy(i + 8, "trapeze ping payload", 20);
	put16(i + 2, fold(sum_bytes(0, i, 40)));
	ip(IP_ICMP, my_ip, host_ip, 40);
	send_frame(34 + 40);
	int got = wait_frame(is_echo_reply, 2000000);
	check(got, "icmp-echo-reply-from-10.0.2.2");
	check(got && !memcmp(l4() + 8, "trapeze ping payload", 20), "icmp-echo-reply-payload");
}

/* ---- TCP through the port forward ---- */

#define GUEST_ISN 0x1000u
static const char guest_line[] = "hello from the guest\n";
static const char host_line[] = "hello from the host\n";
static uint16_t peer_port;
static uint32_t peer_seq;               /* the next sequence number the peer sends */

static int is_tcp_to_us(uint8_t need)
{
	if (!is_ip(IP_TCP) || !ip_is(rxbuf + 30, my_ip))
		return 0;
	const uint8_t *t = l4();
	return get16(t + 2) == GUEST_PORT && (t[13] & need) == need;
}

static int is_syn(void) { return is_tcp_to_us(TCP_SYN) && !(l4()[13] & TCP_ACK); }
static int is_ack(void) { return is_tcp_to_us(TCP_ACK) && get16(l4()) == peer_port; }

static uint16_t tcp_payload_len(void)
{
	const uint8_t *t = l4();
	return (uint16_t)(get16(rxbuf + 16) - (rxbuf[14] & 15) * 4 - (t[12] >> 4) * 4);
}

static int is_data(void) { return is_ack() && tcp_payload_len() > 0; }

static void send_tcp(uint8_t flags, uint32_t seq, const char *data, uint16_t n)
{
	eth(host_mac, ETH_IP);
	uint8_t *t = txbuf + 34;
	memset(t, 0, 20);
	put16(t, GUEST_PORT);
	put16(t + 2, peer_port);
	put32(t + 4, seq);
	put32(t + 8, peer_seq);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, 8192);
	memcpy(t + 20, data, n);
	ip(IP_TCP, my_ip, host_ip, (uint16_t)(20 + n));
	put16(t + 16, l4_sum(IP_TCP, (uint16_t)(20 + n)));
	send_frame((uint16_t)(34 + 20 + n));
}

static void test_hostfwd(void)
{
	printf("netuser: waiting for a connection to guest port %d\n", GUEST_PORT);
	int got = wait_frame(is_syn, CONNECT_US);
	check(got, "hostfwd-syn-reaches-guest-port");
	if (!got)
		return;
	check(ip_is(rxbuf + 26, host_ip), "hostfwd-syn-from-10.0.2.2");
	memcpy(host_mac, rxbuf + 6, 6);
	const uint8_t *t = l4();
	peer_port = get16(t);
	peer_seq = get32(t + 4) + 1;
	send_tcp(TCP_SYN | TCP_ACK, GUEST_ISN, "", 0);
	got = wait_frame(is_ack, 3000000);
	check(got && get32(l4() + 8) == GUEST_ISN + 1, "hostfwd-handshake-acked");
	uint16_t n = sizeof(guest_line) - 1;
	send_tcp(TCP_PSH | TCP_ACK, GUEST_ISN + 1, guest_line, n);
	got = wait_frame(is_data, 10000000);
	check(got, "hostfwd-data-from-host");
	if (!got)
		return;
	t = l4();
	const uint8_t *payload = t + (t[12] >> 4) * 4;
	check(get32(t + 8) == GUEST_ISN + 1 + n, "hostfwd-guest-data-acked");
	check(tcp_payload_len() == sizeof(host_line) - 1 &&
	      !memcmp(payload, host_line, sizeof(host_line) - 1), "hostfwd-host-line");
	peer_seq += tcp_payload_len();
	send_tcp(TCP_RST | TCP_ACK, GUEST_ISN + 1 + n, "", 0);
}

/* ---- frames no stack should trust ---- */

/* Malformed IPv4, UDP, TCP and ARP frames, then an ARP request: the network is still
 * there (libslirp drops them; the monitor must not stop). */
static void test_hostile(void)
{
	/* IPv4 whose total length runs past the frame; IHL below 5; UDP longer than its
	 * packet; TCP with a data offset of 60 bytes in a 20-byte segment; a bare header. */
	eth(host_mac, ETH_IP);
	memset(txbuf + 34, 0xa5, 64);
	ip(IP_UDP, my_ip, host_ip, 1400);
	send_frame(34 + 64);
	ip(IP_UDP, my_ip, host_ip, 8);
	txbuf[14] = 0x42;
	send_frame(34 + 8);
	ip(IP_UDP, my_ip, host_ip, 8);
	put16(txbuf + 34, 1234);
	put16(txbuf + 36, 53);
	put16(txbuf + 38, 9000);
	put16(txbuf + 40, 0);
	send_frame(34 + 8);
	ip(IP_TCP, my_ip, host_ip, 20);
	memset(txbuf + 34, 0, 20);
	put16(txbuf + 36, 80);
	txbuf[46] = 0xf0;
	txbuf[47] = TCP_SYN;
	send_frame(34 + 20);
	eth(bcast, ETH_IP);
	send_frame(14);
	eth(bcast, ETH_ARP);
	memset(txbuf + 14, 0xff, 8);
	send_frame(22);
	arp_target = host_ip;
	send_arp_request(host_ip);
	check(wait_frame(is_arp_reply, 2000000), "network-alive-after-malformed-frames");
}

void test_main(void)
{
	guest_init();
	irq_install();
	pic_init();
	tb_start(2);
	if (!card_present())
		return;
	outb(NE_CR, CR_NODMA | CR_STP);
	outb(P0_DCR, DCR_WORD);
	ring_init(RX_START, RX_STOP, RCR_AB);
	/* First, before the guest sent anything: the port forward works from the start. */
	test_hostfwd();
	test_dhcp();
	test_arp();
	test_ping();
	test_hostile();
}
