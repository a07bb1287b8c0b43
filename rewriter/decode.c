/*
 * decode.c - one guest instruction at a time, for the monitor's emulators: fetch at
 * CS:EIP as the CPU would (through the guest's paging, no further than the
 * instruction's end), the 32-bit form of 16-bit code, Capstone's decode, and a cache
 * of decoded instructions so that a callout run again and again is decoded once.
 *
 * Interface: rw_decode_one() (rewriter.h), called by emulate.c and memop.c at every
 * callout and emulated access; the decode cache lives in struct rewriter (translate.h).
 */
#include "translate.h"
#include "insnclass.h"
#include "x86len.h"

#include <stdio.h>

/*
 * The instruction's bytes at CS:eip into bytes (15, zero past what was fetched): those
 * on eip's page, and the next page's only if the instruction runs into it (the CPU
 * fetches no further than the instruction's end, and a fetch there could fault: the
 * page not present, or execute-disabled). *avail: how many the CS limit allows (at
 * most 15). Returns how many were fetched, or -1 with #PF raised.
 */
static int fetch_insn(struct rewriter *rw, uint32_t eip, uint8_t *bytes, uint32_t *avail)
{
	const struct seg *cs = &rw->cpu->seg[SR_CS];
	int (*len_of)(const unsigned char *, int) = (cs->attr & SEG_DB) ? x86_insn_len : x86_insn_len16;
	bool user = rw->cpu->cpl == 3;
	uint32_t lin = cs->base + eip;
	*avail = 15;
	if (eip > cs->limit)
		*avail = 0;
	else if (cs->limit - eip < 15)
		*avail = cs->limit - eip + 1;
	uint32_t n = 4096 - (lin & 0xfff);
	if (n > *avail)
		n = *avail;
	if (rw->host.fetch(rw->host.opaque, lin, bytes, n, user) < 0)
		return -1;
	if (n < *avail && len_of(bytes, (int)n) < 0) {
		if (rw->host.fetch(rw->host.opaque, lin + n, bytes + n, *avail - n, user) < 0)
			return -1;
		n = *avail;
	}
	memset(bytes + n, 0, 15 - n);   /* what the length checks may look at */
	return (int)n;
}

/*
 * 16-bit code is decoded in its 32-bit form (normalize16): Capstone's 16-bit mode
 * knows fewer instructions and reads some SSE forms as MMX. Rewrites bytes (n of the
 * guest's fetched) into that form; *glen gets the guest's length. False if there is
 * none: *truncated as rw_decode_one says.
 */
static bool to_32bit_form(struct rewriter *rw, uint32_t eip, uint8_t *bytes, uint32_t n,
			  uint32_t avail, int *glen, int *truncated)
{
	int gl = x86_insn_len16(bytes, (int)n);
	if (gl < 0) {
		*truncated = avail < 15 || x86_insn_len16(bytes, 15) < 0;
		return false;
	}
	uint8_t nb[17];
	int nl = normalize16(bytes, gl, nb);
	if (nl > 15) {
		char msg[128];
		snprintf(msg, sizeof(msg), "eip %#x: a 16-bit instruction whose 32-bit form is "
			 "%d bytes long: not supported", eip, nl);
		rw->host.stop(rw->host.opaque, msg);
		*truncated = -1;
		return false;
	}
	memcpy(bytes, nb, (size_t)nl);
	memset(bytes + nl, 0, (size_t)(15 - nl));
	*glen = gl;
	return true;
}

const cs_insn *rw_decode_one(struct rewriter *rw, uint32_t eip, uint8_t *bytes, int *truncated,
			     int *glen)
{
	const struct seg *cs = &rw->cpu->seg[SR_CS];
	bool code16 = !(cs->attr & SEG_DB);
	int (*len_of)(const unsigned char *, int) = code16 ? x86_insn_len16 : x86_insn_len;
	uint32_t lin = cs->base + eip, avail;
	*truncated = 0;
	int fetched = fetch_insn(rw, eip, bytes, &avail);
	if (fetched < 0) {
		*truncated = -1;        /* #PF raised */
		return NULL;
	}
	uint32_t n = (uint32_t)fetched;
	struct decoded *d = &rw->dcache[(lin * 0x9e3779b1u) >> 22];
	if (d->valid && d->eip == eip && d->lin == lin && d->avail == n && d->code16 == code16 &&
	    !memcmp(d->bytes, bytes, n)) {
		memcpy(bytes, d->nbytes, 15);   /* the form decoded (code16, BSF) */
		if (glen)
			*glen = d->glen;
		return &d->insn;
	}
	uint8_t guest[15];
	memcpy(guest, bytes, 15);
	int gl = 0;
	if (code16 && !to_32bit_form(rw, eip, bytes, n, avail, &gl, truncated))
		return NULL;
	const uint8_t *code = bytes;
	size_t size = code16 ? 15 : n;
	uint64_t addr = eip;
	rw_bsf_form(bytes, (int)size);
	if (!cs_disasm_iter(rw->cs, &code, &size, &addr, rw->insn) &&
	    (!rw_reserved_nop(bytes, (int)(code16 ? 15 : n)) ||
	     (code = bytes, size = code16 ? 15 : n, addr = eip,
	      !cs_disasm_iter(rw->cs, &code, &size, &addr, rw->insn)))) {
		/* SDM Vol. 2, 2.3.11: an instruction longer than 15 bytes is #GP(0). */
		*truncated = code16 ? 0 : avail < 15 || len_of(bytes, 15) < 0;
		return NULL;
	}
	if (code16 && rw->insn->size != (uint16_t)(x86_insn_len(bytes, 15))) {
		*truncated = 0;         /* the two decoders disagree: #UD */
		return NULL;
	}
	if (!code16)
		gl = rw->insn->size;
	if (glen)
		*glen = gl;
	*d = (struct decoded){ .eip = eip, .lin = lin, .avail = n, .valid = true, .code16 = code16,
			       .glen = (uint8_t)gl };
	memcpy(d->bytes, guest, n);
	memcpy(d->nbytes, bytes, 15);
	d->insn = *rw->insn;
	d->detail = *rw->insn->detail;
	d->insn.detail = &d->detail;
	return &d->insn;
}
