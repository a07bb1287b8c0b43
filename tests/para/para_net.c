/*
 * para_net.c - the para-x86 network device (docs/para-x86.md, sections 3 and 8) on
 * --net's UDP back end, with an echo peer at the other end (run-para-net.sh) that sends
 * every frame back with its Ethernet addresses swapped.
 *
 * Checks: the device record (MAC, event), ring_setup's refusals, frames sent in one
 * notify and their echoes in the receive buffers with one event, transmit errors, a
 * receive buffer outside RAM, and an absurd receive index: EBUSY, and the VM goes on.
 */
#include <stdbool.h>

#include "pguest.h"

struct net_req { uint32_t id, buf, len; };
struct net_rsp { uint32_t id; int32_t status; };
struct ring {
	volatile uint32_t req_prod, req_cons, rsp_prod, rsp_cons;
	uint8_t pad[48];
	union { struct net_req q; struct net_rsp a; uint8_t raw[64]; } slot[63];
};

static struct ring tx __attribute__((aligned(4096))), rx __attribute__((aligned(4096)));
static uint8_t txbuf[8][256] __attribute__((aligned(4096)));
static uint8_t rxbuf[16][256] __attribute__((aligned(4096)));
static const uint8_t peer[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static uint8_t mac[6];
static uint32_t dev_event;

static void post_rx(uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		unsigned s = rx.req_prod % 63;
		rx.slot[s].q = (struct net_req){ 0x100 + rx.req_prod, (uint32_t)rxbuf[rx.req_prod % 16], 256 };
		rx.req_prod++;
	}
}

/* Frame k: to the peer, from us, type 0x88b5, then a pattern of k. */
static uint32_t make_frame(uint8_t *f, int k)
{
	memcpy(f, peer, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (int i = 14; i < 60; i++)
		f[i] = (uint8_t)(k * 7 + i);
	return 60;
}

static void post_tx(uint32_t id, uint32_t buf, uint32_t len)
{
	tx.slot[tx.req_prod % 63].q = (struct net_req){ id, buf, len };
	tx.req_prod++;
}

/* Wait (idle, 2 s at most) until n more frames have come back since rsp_prod was seen. */
static bool wait_rx(uint32_t want)
{
	uint64_t end = now_ns() + 2000000000ull;
	shared->event_enable |= 1u << dev_event;
	while (rx.rsp_prod != want && now_ns() < end) {
		hc_idle(end);
		hc_event_ack(1u << dev_event);
	}
	return rx.rsp_prod == want;
}

/* The echo of frame k: to us, from the peer, the same payload. */
static bool is_echo(const uint8_t *f, int k)
{
	uint8_t want[60];
	make_frame(want, k);
	return !memcmp(f, mac, 6) && !memcmp(f + 6, peer, 6) && !memcmp(f + 12, want + 12, 48);
}

void test_main(void)
{
	check_eq("ndev", start->ndev, 1);
	check_eq("dev-type", start->dev[0].type, PARA_DEV_NET);
	dev_event = start->dev[0].event;
	check_eq("dev-event", dev_event, PARA_EVENT_DEVICE);
	for (int i = 0; i < 4; i++)
		mac[i] = (uint8_t)(start->dev[0].a >> (8 * i));
	mac[4] = (uint8_t)start->dev[0].b;
	mac[5] = (uint8_t)(start->dev[0].b >> 8);
	static const uint8_t qemu_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	check(memcmp(mac, qemu_mac, 6) == 0, "dev-mac");

	check_err("setup-rx-unaligned", hc_ring_setup(0, (uint32_t)&tx, (uint32_t)&rx + 8), PARA_EINVAL);
	check_err("setup-rx-same-page", hc_ring_setup(0, (uint32_t)&tx, (uint32_t)&tx), PARA_EINVAL);
	check_err("setup-rx-outside-ram", hc_ring_setup(0, (uint32_t)&tx, start->mem_size), PARA_EFAULT);
	check_eq("setup", hc_ring_setup(0, (uint32_t)&tx, (uint32_t)&rx), 0);

	/* One frame there and back. */
	post_rx(8);
	post_tx(1, (uint32_t)txbuf[0], make_frame(txbuf[0], 0));
	check_eq("notify-one", hc_ring_notify(0), 1);
	check_eq("tx-status", tx.slot[0].a.status, 0);
	check(wait_rx(1), "echo-arrived");
	check_eq("echo-length", rx.slot[0].a.status, 60);
	check(is_echo(rxbuf[0], 0), "echo-contents");

	/* A batch: six frames in one notify, six echoes. */
	for (int k = 1; k <= 6; k++)
		post_tx(10 + k, (uint32_t)txbuf[k], make_frame(txbuf[k], k));
	check_eq("notify-batch", hc_ring_notify(0), 6);
	check(wait_rx(7), "batch-echoes-arrived");
	bool ok = true;
	for (int k = 1; k <= 6; k++)
		ok = ok && rx.slot[k].a.status == 60 && is_echo(rxbuf[k], k);
	check(ok, "batch-echo-contents");

	/* Transmit errors answer in the slot; nothing is sent for them. */
	unsigned s = tx.req_prod % 63;
	post_tx(20, (uint32_t)txbuf[0], 13);
	post_tx(21, (uint32_t)txbuf[0], 1515);
	post_tx(22, (uint32_t)txbuf[0] + 4090, 60);
	post_tx(23, start->mem_size, 60);
	check_eq("notify-bad", hc_ring_notify(0), 4);
	check_err("tx-too-short", tx.slot[s].a.status, PARA_EINVAL);
	check_err("tx-too-long", tx.slot[(s + 1) % 63].a.status, PARA_EINVAL);
	check_err("tx-crosses-page", tx.slot[(s + 2) % 63].a.status, PARA_EFAULT);
	check_err("tx-outside-ram", tx.slot[(s + 3) % 63].a.status, PARA_EFAULT);

	/* A receive buffer outside RAM, after the last good one: the second frame that
	 * comes back is refused there, not written. */
	unsigned r = rx.req_prod % 63;
	rx.slot[r].q = (struct net_req){ 0x999, start->mem_size, 256 };
	rx.req_prod++;
	post_tx(30, (uint32_t)txbuf[0], make_frame(txbuf[0], 0));
	post_tx(31, (uint32_t)txbuf[0], make_frame(txbuf[0], 0));
	check_eq("notify-for-bad-rx", hc_ring_notify(0), 2);
	check(wait_rx(rx.req_prod), "bad-rx-answered");
	check_err("rx-outside-ram", rx.slot[r].a.status, PARA_EFAULT);

	/* An absurd receive index breaks the device's rings, and only them. */
	rx.req_prod += 1000;
	post_tx(40, (uint32_t)txbuf[0], 60);
	int32_t e = hc_ring_notify(0);
	e = e >= 0 ? hc_ring_notify(0) : e;
	check_err("absurd-rx-index-busy", e, PARA_EBUSY);
	check_eq("console-after-broken-ring", hc_console_write("ok\n", 3), 3);
}
