/*
 * para_net_idle.c - a para guest that idles while a frame waits for it but no receive
 * buffer is posted must not make the monitor spin (run-para-net.sh --idle bounds the
 * host sleeps it counts: a review found the back end's socket, readable and never
 * read, turning every idle into a busy loop of a million polls a second).
 */
#include "pguest.h"

struct net_req { uint32_t id, buf, len; };
struct ring {
	volatile uint32_t req_prod, req_cons, rsp_prod, rsp_cons;
	uint8_t pad[48];
	union { struct net_req q; uint8_t raw[64]; } slot[63];
};
static struct ring tx __attribute__((aligned(4096))), rx __attribute__((aligned(4096)));
static uint8_t frame[64] __attribute__((aligned(64)));

void test_main(void)
{
	check_eq("setup", hc_ring_setup(0, (uint32_t)&tx, (uint32_t)&rx), 0);
	for (int i = 0; i < 12; i++)
		frame[i] = (uint8_t)(i < 6 ? 0x02 : 0x52);     /* to the peer; the echo comes back */
	frame[12] = 0x88;
	frame[13] = 0xb5;
	tx.slot[0].q = (struct net_req){ 1, (uint32_t)frame, 60 };
	tx.req_prod = 1;
	check_eq("sent", hc_ring_notify(0), 1);
	/* No receive buffer posted: the echo waits in the back end. Idle 300 ms. */
	uint64_t end = now_ns() + 300000000ull;
	while (now_ns() < end)
		hc_idle(end);
	check(now_ns() >= end, "idled-300-ms");
	check_eq("nothing-received", rx.rsp_prod, 0);
}
