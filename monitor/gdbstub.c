/*
 * gdbstub.c - the GDB remote serial protocol (see gdbstub.h; the protocol as GDB's
 * manual, appendix "Remote Protocol", describes it; QEMU's -s -S is the model).
 *
 * One connection at a time, one thread (thread 1), all-stop. The stub owns its
 * sockets, the debugger's breakpoint list (armed through dbg_set_host) and the
 * single-step state. Input is a byte-wise state machine: '$' data '#' two hex digits;
 * a bad checksum gets '-' (the debugger sends again), a packet longer than PKT_MAX
 * is acknowledged and answered E01, Ctrl-C (0x03) between packets interrupts. While the
 * guest runs, the sockets raise SIGIO (the handler kicks translated code out and sets
 * rt.sigio), so the dispatcher looks at them only then.
 *
 * Registers are gdbregs.c's. Memory is guest linear, translated by
 * the guest's own page tables without setting their A/D bits; only RAM is read or
 * written (device memory answers E14: a debugger's read must not touch a device).
 * Writes go through mem_write_phys, which drops translations of the code they reach.
 */
#define _GNU_SOURCE
#include "gdbstub.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "debug.h"
#include "engine.h"
#include "fpu.h"
#include "gdbregs.h"
#include "vm.h"
#include "../shadowmmu/mem.h"
#include "../shadowmmu/mmu.h"

#define PKT_MAX 4096            /* the longest packet data taken: PacketSize=1000 (hex) */
#define REPLY_MAX (2 * PKT_MAX + 8)

enum event { EV_NONE, EV_PACKET, EV_INTERRUPT, EV_CLOSED, EV_SIGNAL };
enum action { ACT_STAY, ACT_RESUME, ACT_DETACH, ACT_KILL };
enum rx_state { RX_IDLE, RX_DATA, RX_SUM1, RX_SUM2 };

/* A breakpoint or watchpoint the debugger asked for: Z type '0'..'4'. */
struct gdb_point {
	char type;
	uint32_t addr, len;
};

struct gdb {
	int listen_fd;
	int fd;                         /* the debugger's connection, or -1 */
	bool wait;                      /* --gdb-wait: hold the first instruction */
	bool swbreak, hwbreak;          /* the debugger takes "swbreak:"/"hwbreak:" stops */
	/* single-stepping: where the step began, to see that the instruction completed */
	bool stepping, step_done;
	uint32_t mark_eip, mark_cs, mark_deliveries;
	uint64_t mark_runs;
	struct gdb_point pt[DBG_HOST_MAX];
	int npt;
	/* input */
	enum rx_state rx;
	bool rx_long;                   /* this packet passed PKT_MAX: answered E01 */
	uint8_t rx_sum, rx_want;
	size_t rx_len;
	char pkt[PKT_MAX + 1];
	uint8_t raw[1024];
	size_t raw_pos, raw_len;
	/* output */
	char reply[REPLY_MAX];          /* the last packet sent, for a '-' */
	size_t reply_len;
	char stop_reply[96];            /* what '?' answers */
};

/* ---- sockets ---- */

/* SIGIO for fd, to this thread: the guest is kicked out of translated code. */
static void raise_sigio(int fd)
{
	struct f_owner_ex own = { F_OWNER_TID, gettid() };
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && fcntl(fd, F_SETOWN_EX, &own) == 0 && fcntl(fd, F_SETSIG, SIGIO) == 0)
		fcntl(fd, F_SETFL, fl | O_ASYNC);
}

int gdb_open(struct vm *vm, uint16_t port, bool wait)
{
	struct gdb *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->fd = -1;
	g->wait = wait;
	g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, r = 0;
	/* Loopback only: the stub reads and writes all of the guest. */
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (g->listen_fd < 0 ||
	    setsockopt(g->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(g->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    bind(g->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(g->listen_fd, 1) < 0)
		r = -errno;
	if (r < 0) {
		if (g->listen_fd >= 0)
			close(g->listen_fd);
		free(g);
		return r;
	}
	fcntl(g->listen_fd, F_SETFL, fcntl(g->listen_fd, F_GETFL) | O_NONBLOCK);
	raise_sigio(g->listen_fd);
	vm->gdb = g;
	return 0;
}

int gdb_wait_fds(struct vm *vm, int *fds, int max)
{
	struct gdb *g = vm->gdb;
	int n = 0;
	if (!g)
		return 0;
	if (n < max)
		fds[n++] = g->fd >= 0 ? g->fd : g->listen_fd;
	return n;
}

/* Send all of buf; false if the connection is gone. */
static bool send_all(struct gdb *g, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0 && g->fd >= 0) {
		ssize_t k = send(g->fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pf = { g->fd, POLLOUT, 0 };
			poll(&pf, 1, 1000);
			continue;
		}
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return g->fd >= 0;
}

static const char hexdig[] = "0123456789abcdef";

/* Frame data (n bytes, escaped already) as $data#ck and send it; kept for a '-'. */
static void send_packet(struct gdb *g, const char *data, size_t n)
{
	if (n + 4 > sizeof(g->reply))
		n = sizeof(g->reply) - 4;
	uint8_t sum = 0;
	g->reply[0] = '$';
	for (size_t k = 0; k < n; k++) {
		g->reply[1 + k] = data[k];
		sum += (uint8_t)data[k];
	}
	g->reply[1 + n] = '#';
	g->reply[2 + n] = hexdig[sum >> 4];
	g->reply[3 + n] = hexdig[sum & 15];
	g->reply_len = n + 4;
	send_all(g, g->reply, g->reply_len);
}

static void send_str(struct gdb *g, const char *s)
{
	send_packet(g, s, strlen(s));
}

static void drop_connection(struct gdb *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	g->rx = RX_IDLE;
	g->raw_pos = g->raw_len = 0;
}

/* ---- input ---- */

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* One byte from the debugger through the framing state machine. */
static enum event rx_byte(struct gdb *g, uint8_t b)
{
	switch (g->rx) {
	case RX_IDLE:
		if (b == '$') {
			g->rx = RX_DATA;
			g->rx_len = 0;
			g->rx_sum = 0;
			g->rx_long = false;
		} else if (b == 0x03) {
			return EV_INTERRUPT;
		} else if (b == '-' && g->reply_len) {
			send_all(g, g->reply, g->reply_len);
		}
		return EV_NONE;         /* '+' and noise */
	case RX_DATA:
		if (b == '#') {
			g->rx = RX_SUM1;
		} else if (b == '$') {
			g->rx_len = 0;          /* a new start: the old packet was cut off */
			g->rx_sum = 0;
			g->rx_long = false;
		} else {
			g->rx_sum += b;
			if (g->rx_len < PKT_MAX)
				g->pkt[g->rx_len++] = (char)b;
			else
				g->rx_long = true;
		}
		return EV_NONE;
	case RX_SUM1:
	case RX_SUM2: {
		int v = hexval(b);
		if (v < 0) {
			g->rx = RX_IDLE;
			send_all(g, "-", 1);
			return b == '$' ? rx_byte(g, b) : EV_NONE;     /* a new packet begins */
		}
		if (g->rx == RX_SUM1) {
			g->rx_want = (uint8_t)(v << 4);
			g->rx = RX_SUM2;
			return EV_NONE;
		}
		g->rx = RX_IDLE;
		if ((uint8_t)(g->rx_want | v) != g->rx_sum) {
			send_all(g, "-", 1);
			return EV_NONE;
		}
		send_all(g, "+", 1);
		if (g->rx_long) {
			send_str(g, "E01");
			return EV_NONE;
		}
		g->pkt[g->rx_len] = 0;
		return EV_PACKET;
	}
	}
	return EV_NONE;
}

/* The next event from what was received; with block, wait for one. EV_SIGNAL if a
 * host signal asks the VM to stop meanwhile. Without block, everything received is
 * read (SIGIO comes once per arrival): a flood holds the guest up, as a debugger
 * may anyway. */
static enum event next_event(struct vm *vm, struct gdb *g, bool block)
{
	for (;;) {
		while (g->raw_pos < g->raw_len) {
			enum event e = rx_byte(g, g->raw[g->raw_pos++]);
			if (e != EV_NONE)
				return e;
		}
		if (g->fd < 0)
			return EV_CLOSED;
		if (block) {
			if (vm->rt.async_signal)
				return EV_SIGNAL;
			struct pollfd pf = { g->fd, POLLIN, 0 };
			if (poll(&pf, 1, -1) < 0)
				continue;       /* EINTR: a timer or input signal */
		}
		ssize_t n = recv(g->fd, g->raw, sizeof(g->raw), MSG_DONTWAIT);
		bool again = n < 0 && (errno == EAGAIN || errno == EINTR);
		if (again && !block)
			return EV_NONE;
		if (again)
			continue;
		if (n <= 0)
			return EV_CLOSED;
		g->raw_pos = 0;
		g->raw_len = (size_t)n;
	}
}

/* ---- parsing ---- */

/* A hex number of at most 8 digits (32 bits) at *p, up to a byte not a hex digit;
 * advances *p. False if there is none or it is longer. */
static bool parse_hex32(const char **p, uint32_t *v)
{
	uint32_t x = 0;
	int n = 0;
	while (hexval(**p) >= 0) {
		if (++n > 8)
			return false;
		x = x << 4 | (uint32_t)hexval(**p);
		(*p)++;
	}
	*v = x;
	return n > 0;
}

static bool expect_char(const char **p, char ch)
{
	if (**p != ch)
		return false;
	(*p)++;
	return true;
}

/* n bytes from 2n hex digits at p; false on a bad digit. */
static bool hex_to_bytes(const char *p, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int hi = hexval(p[2 * k]), lo = hi < 0 ? -1 : hexval(p[2 * k + 1]);
		if (lo < 0)
			return false;
		out[k] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static size_t bytes_to_hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t k = 0; k < n; k++) {
		out[2 * k] = hexdig[in[k] >> 4];
		out[2 * k + 1] = hexdig[in[k] & 15];
	}
	return 2 * n;
}

/* ---- guest memory ---- */

/* Guest linear [lin, lin + n) in RAM, page by page through the guest's tables (a
 * supervisor's view; nothing raised, no A/D bits set): the host pointer of each
 * page's part, or NULL where a page is not present or not RAM. */
static uint8_t *guest_page(struct vm *vm, uint32_t lin, uint32_t n)
{
	uint64_t pa;
	if (mmu_peek(vm->mmu, lin, 0, &pa) < 0)
		return NULL;
	return mem_phys(&vm->mem, pa, n);
}

/* Bytes read from lin on (fewer where a page cannot be read). */
static uint32_t read_guest(struct vm *vm, uint32_t lin, uint8_t *buf, uint32_t n)
{
	uint32_t done = 0;
	while (done < n) {
		uint32_t at = lin + done, chunk = 4096 - (at & 0xfff);
		if (chunk > n - done)
			chunk = n - done;
		const uint8_t *p = guest_page(vm, at, chunk);
		if (!p)
			break;
		memcpy(buf + done, p, chunk);
		done += chunk;
	}
	return done;
}

/* All of buf to lin, or nothing if a page cannot be written. */
static bool write_guest(struct vm *vm, uint32_t lin, const uint8_t *buf, uint32_t n)
{
	for (uint32_t done = 0; done < n;) {
		uint32_t at = lin + done, chunk = 4096 - (at & 0xfff);
		if (chunk > n - done)
			chunk = n - done;
		if (!guest_page(vm, at, chunk))
			return false;
		done += chunk;
	}
	for (uint32_t done = 0; done < n;) {
		uint32_t at = lin + done, chunk = 4096 - (at & 0xfff);
		uint64_t pa;
		if (chunk > n - done)
			chunk = n - done;
		if (mmu_peek(vm->mmu, at, 0, &pa) < 0 || !mem_write_phys(&vm->mem, pa, buf + done, chunk))
			return false;
		done += chunk;
	}
	return true;
}

/* A range the debugger named: 32-bit, not wrapping past 4 GiB. */
static bool range_ok(uint32_t addr, uint32_t len)
{
	return len == 0 || addr + (len - 1) >= addr;
}

/* ---- breakpoints ---- */

/* Z0 software and Z1 hardware breakpoints are the same here; Z2 write, Z3 read, Z4
 * access watchpoints. */
static const enum dbg_kind kind_of[5] = {
	DBG_EXEC, DBG_EXEC, DBG_WRITE, DBG_READ, DBG_ACCESS
};

/* Arm the list through the debug machinery; -1 (unchanged there) if it cannot. */
static int arm_points(struct vm *vm, struct gdb *g)
{
	struct dbg_point p[DBG_HOST_MAX];
	for (int k = 0; k < g->npt; k++)
		p[k] = (struct dbg_point){ g->pt[k].addr, g->pt[k].len, kind_of[g->pt[k].type - '0'],
					   DBG_HOST_OWNER + k };
	return dbg_set_host(vm, p, g->npt);
}

/* Z and z: "Z<type>,<addr>,<kind>". */
static void point_packet(struct vm *vm, struct gdb *g, const char *p)
{
	bool insert = *p++ == 'Z';
	char type = *p++;
	uint32_t addr, len;
	if (type < '0' || type > '4' || !expect_char(&p, ',') || !parse_hex32(&p, &addr) ||
	    !expect_char(&p, ',') || !parse_hex32(&p, &len) || *p) {
		send_str(g, "E01");
		return;
	}
	if (type <= '1')
		len = 1;                /* the breakpoint's kind: x86's is one byte */
	if (len == 0 || len > DBG_HOST_LEN || !range_ok(addr, len)) {
		send_str(g, "E22");
		return;
	}
	int at = -1;
	for (int k = 0; k < g->npt; k++)
		if (g->pt[k].type == type && g->pt[k].addr == addr && g->pt[k].len == len)
			at = k;
	if (insert && at < 0) {
		if (g->npt == DBG_HOST_MAX) {
			send_str(g, "E28");
			return;
		}
		g->pt[g->npt++] = (struct gdb_point){ type, addr, len };
		if (arm_points(vm, g) < 0) {
			g->npt--;
			send_str(g, "E28");
			return;
		}
	} else if (!insert && at >= 0) {
		g->pt[at] = g->pt[--g->npt];
		arm_points(vm, g);
	}
	send_str(g, "OK");
}

/* ---- stop replies ---- */

/* The stop reply for signal sig (5 SIGTRAP, 2 SIGINT) and the host points met. */
static void make_stop_reply(struct gdb *g, int sig, uint32_t hits)
{
	char *s = g->stop_reply;
	size_t size = sizeof(g->stop_reply);
	int n = snprintf(s, size, "T%02xthread:01;", sig);
	for (int k = 0; k < g->npt && n < (int)size; k++) {
		if (!(hits >> k & 1))
			continue;
		char t = g->pt[k].type;
		if (t >= '2') {
			static const char *const what[3] = { "watch", "rwatch", "awatch" };
			n += snprintf(s + n, size - (size_t)n, "%s:%08x;", what[t - '2'], g->pt[k].addr);
			break;
		}
		if ((t == '0' && g->swbreak) || (t == '1' && g->hwbreak)) {
			n += snprintf(s + n, size - (size_t)n, "%s:;", t == '0' ? "swbreak" : "hwbreak");
			break;
		}
	}
}

/* ---- packets ---- */

static void read_registers(struct vm *vm, struct gdb *g)
{
	static char out[2 * 400];
	size_t n = 0;
	uint8_t buf[16];
	for (int r = 0; r < GDB_REG_COUNT; r++)
		n += bytes_to_hex(buf, (size_t)gdb_reg_get(vm, r, buf), out + n);
	send_packet(g, out, n);
}

static void write_registers(struct vm *vm, struct gdb *g, const char *p)
{
	size_t len = strlen(p), at = 0;
	uint8_t buf[16];
	/* At least the general registers, EIP, EFLAGS and the segment registers. */
	bool hex = len % 2 == 0 && len >= 2 * 4 * (GDB_REG_GS + 1);
	for (size_t k = 0; hex && k < len; k++)
		hex = hexval(p[k]) >= 0;
	if (!hex) {
		send_str(g, "E01");
		return;
	}
	for (int r = 0; r < GDB_REG_COUNT; r++) {
		size_t size = (size_t)gdb_reg_size(r);
		if (at + 2 * size > len)
			break;          /* a shorter packet sets the first registers only */
		if (!hex_to_bytes(p + at, buf, size)) {
			send_str(g, "E01");
			return;
		}
		uint8_t now[16];
		gdb_reg_get(vm, r, now);
		if (memcmp(now, buf, size) && gdb_reg_set(vm, r, buf) < 0) {
			send_str(g, "E01");
			return;
		}
		at += 2 * size;
	}
	send_str(g, "OK");
}

/* p n / P n=v */
static void one_register(struct vm *vm, struct gdb *g, const char *p)
{
	bool set = *p++ == 'P';
	uint32_t n;
	uint8_t buf[16];
	char out[40];
	if (!parse_hex32(&p, &n) || gdb_reg_size((int)n) < 0 || n >= GDB_REG_COUNT) {
		send_str(g, "E01");
		return;
	}
	int size = gdb_reg_size((int)n);
	if (!set) {
		if (*p) {
			send_str(g, "E01");
			return;
		}
		gdb_reg_get(vm, (int)n, buf);
		send_packet(g, out, bytes_to_hex(buf, (size_t)size, out));
		return;
	}
	if (!expect_char(&p, '=') || strlen(p) != 2 * (size_t)size ||
	    !hex_to_bytes(p, buf, (size_t)size) || gdb_reg_set(vm, (int)n, buf) < 0) {
		send_str(g, "E01");
		return;
	}
	send_str(g, "OK");
}

/* m addr,len */
static void read_memory(struct vm *vm, struct gdb *g, const char *p)
{
	static uint8_t buf[PKT_MAX / 2];
	static char out[PKT_MAX];
	uint32_t addr, len;
	p++;
	if (!parse_hex32(&p, &addr) || !expect_char(&p, ',') || !parse_hex32(&p, &len) || *p ||
	    len == 0) {
		send_str(g, "E01");
		return;
	}
	if (len > sizeof(buf))
		len = sizeof(buf);      /* a short answer: the debugger asks for the rest */
	if (!range_ok(addr, len))
		len = 0u - addr;
	uint32_t got = read_guest(vm, addr, buf, len);
	if (!got)
		send_str(g, "E14");
	else
		send_packet(g, out, bytes_to_hex(buf, got, out));
}

/* M addr,len:hex and X addr,len:binary (0x7d escapes the next byte, xor 0x20). */
static void write_memory(struct vm *vm, struct gdb *g, const char *p, size_t plen)
{
	static uint8_t buf[PKT_MAX];
	const char *end = p + plen;
	bool binary = *p++ == 'X';
	uint32_t addr, len;
	if (!parse_hex32(&p, &addr) || !expect_char(&p, ',') || !parse_hex32(&p, &len) ||
	    !expect_char(&p, ':') || len > sizeof(buf) || !range_ok(addr, len)) {
		send_str(g, "E01");
		return;
	}
	uint32_t n = 0;
	if (binary) {
		while (p < end && n < len) {
			uint8_t b = (uint8_t)*p++;
			if (b == 0x7d) {
				if (p == end)
					break;
				b = (uint8_t)(*p++ ^ 0x20);
			}
			buf[n++] = b;
		}
		if (n != len || p != end) {
			send_str(g, "E01");
			return;
		}
	} else if ((size_t)(end - p) != 2 * (size_t)len || !hex_to_bytes(p, buf, len)) {
		send_str(g, "E01");
		return;
	}
	send_str(g, len == 0 || write_guest(vm, addr, buf, len) ? "OK" : "E14");
}

/* qXfer:features:read:target.xml:offset,length */
static void read_features(struct gdb *g, const char *p)
{
	static char out[PKT_MAX];
	const char *annex = "target.xml:";
	uint32_t off, len;
	if (strncmp(p, annex, strlen(annex))) {
		send_str(g, "E00");
		return;
	}
	p += strlen(annex);
	if (!parse_hex32(&p, &off) || !expect_char(&p, ',') || !parse_hex32(&p, &len) || *p) {
		send_str(g, "E01");
		return;
	}
	size_t total = gdb_target_xml_len;
	if (off > total) {
		send_str(g, "E01");
		return;
	}
	if (len > sizeof(out) / 2 - 1)
		len = sizeof(out) / 2 - 1;
	size_t n = total - off < len ? total - off : len;
	out[0] = off + n < total ? 'm' : 'l';
	size_t k = 1;
	for (size_t i = 0; i < n; i++) {        /* the reply escapes $ # } * (none expected) */
		char ch = gdb_target_xml[off + i];
		if (ch == '$' || ch == '#' || ch == '}' || ch == '*') {
			out[k++] = '}';
			ch ^= 0x20;
		}
		out[k++] = ch;
	}
	send_packet(g, out, k);
}

static void query(struct vm *vm, struct gdb *g, const char *p)
{
	(void)vm;
	if (!strncmp(p, "qSupported", 10)) {
		g->swbreak = strstr(p, "swbreak+") != NULL;
		g->hwbreak = strstr(p, "hwbreak+") != NULL;
		send_str(g, "PacketSize=1000;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+");
	} else if (!strncmp(p, "qXfer:features:read:", 20)) {
		read_features(g, p + 20);
	} else if (!strcmp(p, "qAttached")) {
		send_str(g, "1");       /* quitting the debugger detaches: the guest runs on */
	} else if (!strcmp(p, "qC")) {
		send_str(g, "QC01");
	} else if (!strcmp(p, "qfThreadInfo")) {
		send_str(g, "m01");
	} else if (!strcmp(p, "qsThreadInfo")) {
		send_str(g, "l");
	} else if (!strncmp(p, "qSymbol", 7)) {
		send_str(g, "OK");
	} else {
		send_str(g, "");
	}
}

/* Resume (c, s, their signal forms, vCont's first action), at addr if one is given. */
static enum action resume(struct vm *vm, struct gdb *g, bool step, const char *addr)
{
	uint32_t a;
	if (addr && *addr) {
		if (!parse_hex32(&addr, &a) || *addr) {
			send_str(g, "E01");
			return ACT_STAY;
		}
		vm->cpu.sh->eip = a;
		vm->engine->redirected(vm);
	}
	g->stepping = step;
	g->step_done = false;
	vm->dbg.host_step = step;
	if (step) {
		const uint64_t *x = vm->stats.exits;
		g->mark_eip = vm->cpu.sh->eip;
		g->mark_cs = vm->cpu.seg[SR_CS].sel;
		g->mark_deliveries = vm->cpu.deliveries;
		g->mark_runs = x[EXIT_CHAIN] + x[EXIT_LOOKUP] + x[EXIT_CALLOUT] + x[EXIT_IC_FILL] +
			       x[EXIT_IC_REFILL] + x[EXIT_GUARD] + vm->stats.direct_callouts;
	}
	dbg_host_resume(vm);
	return ACT_RESUME;
}

/* vCont;ACTION[:thread][;ACTION...]: one thread, so the first action decides. */
static enum action vcont(struct vm *vm, struct gdb *g, const char *p)
{
	if (!strcmp(p, "vCont?")) {
		send_str(g, "vCont;c;C;s;S");
		return ACT_STAY;
	}
	if (strncmp(p, "vCont;", 6)) {
		send_str(g, "");
		return ACT_STAY;
	}
	char a = p[6];
	if (a == 'c' || a == 'C')
		return resume(vm, g, false, NULL);
	if (a == 's' || a == 'S')
		return resume(vm, g, true, NULL);
	send_str(g, "E01");
	return ACT_STAY;
}

/* One packet while the guest is stopped. */
static enum action handle_packet(struct vm *vm, struct gdb *g)
{
	const char *p = g->pkt;
	switch (p[0]) {
	case '?':
		send_str(g, g->stop_reply);
		return ACT_STAY;
	case 'g':
		read_registers(vm, g);
		return ACT_STAY;
	case 'G':
		write_registers(vm, g, p + 1);
		return ACT_STAY;
	case 'p':
	case 'P':
		one_register(vm, g, p);
		return ACT_STAY;
	case 'm':
		read_memory(vm, g, p);
		return ACT_STAY;
	case 'M':
	case 'X':
		write_memory(vm, g, p, g->rx_len);
		return ACT_STAY;
	case 'Z':
	case 'z':
		point_packet(vm, g, p);
		return ACT_STAY;
	case 'c':
		return resume(vm, g, false, p + 1);
	case 's':
		return resume(vm, g, true, p + 1);
	case 'C':
	case 'S': {
		/* The signal means nothing to a CPU: resume, at ;addr if given. */
		const char *semi = strchr(p, ';');
		return resume(vm, g, p[0] == 'S', semi ? semi + 1 : NULL);
	}
	case 'D':
		send_str(g, "OK");
		return ACT_DETACH;
	case 'k':
		return ACT_KILL;
	case 'H':
	case 'T':
		send_str(g, "OK");
		return ACT_STAY;
	case 'q':
		query(vm, g, p);
		return ACT_STAY;
	case 'v':
		if (!strncmp(p, "vKill", 5)) {
			send_str(g, "OK");
			return ACT_KILL;
		}
		return vcont(vm, g, p);
	default:
		send_str(g, "");        /* not supported */
		return ACT_STAY;
	}
}

/* The debugger leaves: its points go, the guest runs on. */
static void detach(struct vm *vm, struct gdb *g)
{
	g->npt = 0;
	dbg_set_host(vm, NULL, 0);
	g->stepping = false;
	vm->dbg.host_step = false;
	vm->dbg.host_hit = 0;
	drop_connection(g);
}

/* The guest is stopped: serve the debugger until it resumes, leaves or kills. */
static void serve(struct vm *vm, struct gdb *g)
{
	g->stepping = false;
	vm->dbg.host_step = false;
	for (;;) {
		switch (next_event(vm, g, true)) {
		case EV_PACKET:
			break;
		case EV_CLOSED:
			detach(vm, g);
			return;
		case EV_SIGNAL:
			return;         /* the dispatcher stops the VM */
		default:
			continue;       /* Ctrl-C while stopped: nothing to do */
		}
		switch (handle_packet(vm, g)) {
		case ACT_STAY:
			continue;
		case ACT_RESUME:
			return;
		case ACT_DETACH:
			detach(vm, g);
			return;
		case ACT_KILL:
			drop_connection(g);
			vm_stop(vm, STOP_SIGNAL, 128 + SIGKILL, "killed by the debugger at eip %#x",
				vm->cpu.sh->eip);
			return;
		}
	}
}

/* Stop for the debugger with signal sig and the host points met; tell it unless it
 * has just connected (it asks with '?'). */
static void stop(struct vm *vm, struct gdb *g, int sig, uint32_t hits, bool tell)
{
	make_stop_reply(g, sig, hits);
	vm->dbg.host_hit = 0;
	if (tell)
		send_str(g, g->stop_reply);
	serve(vm, g);
}

/* A debugger connects: the guest stops for it. */
static bool take_connection(struct vm *vm, struct gdb *g, bool block)
{
	if (block) {
		struct pollfd pf = { g->listen_fd, POLLIN, 0 };
		while (!vm->rt.async_signal && poll(&pf, 1, -1) <= 0)
			;
	}
	int fd = accept4(g->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return false;
	g->fd = fd;
	g->rx = RX_IDLE;
	g->raw_pos = g->raw_len = 0;
	g->reply_len = 0;
	raise_sigio(fd);
	stop(vm, g, 5, 0, false);
	return true;
}

bool gdb_turn(struct vm *vm)
{
	struct gdb *g = vm->gdb;
	if (g->wait) {
		g->wait = false;
		fpu_save();
		fprintf(stderr, "trapeze: waiting for gdb to connect\n");
		take_connection(vm, g, true);
		return true;            /* (or a signal came first: the turn stops the VM) */
	}
	if (g->stepping && g->step_done) {
		fpu_save();
		stop(vm, g, 5, vm->dbg.host_hit, true);
		return true;
	}
	if (vm->dbg.host_hit) {         /* a watchpoint, after the access */
		if (g->fd < 0) {
			vm->dbg.host_hit = 0;
			return false;
		}
		fpu_save();
		stop(vm, g, 5, vm->dbg.host_hit, true);
		return true;
	}
	if (!vm->rt.sigio)
		return false;
	vm->rt.sigio = 0;
	fpu_save();
	if (g->fd < 0)
		return take_connection(vm, g, false);
	switch (next_event(vm, g, false)) {
	case EV_INTERRUPT:
		stop(vm, g, 2, 0, true);
		return true;
	case EV_CLOSED:
		detach(vm, g);
		return false;
	case EV_PACKET:
		/* A packet while the guest runs (all-stop: none expected): refused. */
		send_str(g, "E01");
		return false;
	default:
		return false;
	}
}

void gdb_break(struct vm *vm)
{
	struct gdb *g = vm->gdb;
	fpu_save();
	if (g->fd < 0) {
		vm->dbg.host_hit = 0;
		dbg_host_resume(vm);
		return;
	}
	stop(vm, g, 5, vm->dbg.host_hit, true);
}

bool gdb_stepping(const struct vm *vm)
{
	return vm->gdb->stepping;
}

void gdb_after_run(struct vm *vm)
{
	struct gdb *g = vm->gdb;
	struct cpu *c = &vm->cpu;
	if (!g->stepping || g->step_done)
		return;
	const uint64_t *x = vm->stats.exits;
	uint64_t runs = x[EXIT_CHAIN] + x[EXIT_LOOKUP] + x[EXIT_CALLOUT] + x[EXIT_IC_FILL] +
			x[EXIT_IC_REFILL] + x[EXIT_GUARD] + vm->stats.direct_callouts;
	/* Done: it moved on, raised or delivered an event, or ran and came back without
	 * asking to run again (a jump to itself). A host fault that mapped a page, or a
	 * breakpoint exit, leaves it to start again. */
	g->step_done = c->sh->eip != g->mark_eip || c->seg[SR_CS].sel != g->mark_cs ||
		       c->deliveries != g->mark_deliveries || c->exc.pending ||
		       vm->stop != STOP_NONE || (runs != g->mark_runs && !vm->one_step);
}

void gdb_close(struct vm *vm)
{
	struct gdb *g = vm->gdb;
	if (!g)
		return;
	if (g->fd >= 0) {
		char w[8];
		snprintf(w, sizeof(w), "W%02x", vm->exit_status & 0xff);
		send_str(g, w);
	}
	drop_connection(g);
	close(g->listen_fd);
	free(g);
	vm->gdb = NULL;
}
