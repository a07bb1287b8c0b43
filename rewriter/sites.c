/*
 * sites.c - the table of learnt instruction sites (sites.h): a small open-addressing
 * hash of linear EIPs, probed linearly.
 */
#include <string.h>

#include "sites.h"

static int slot(const struct sites *s, uint32_t lin, bool for_insert)
{
	uint32_t h = (lin * 0x9e3779b1u) >> 20;
	for (uint32_t k = 0; k < 32; k++) {
		uint32_t i = (h + k) % SITES;
		if (s->lin[i] == lin + 1)
			return (int)i;
		if (!s->lin[i])
			return for_insert ? (int)i : -1;
	}
	return -1;
}

unsigned sites_get(const struct sites *s, uint32_t lin)
{
	if (!s->count)
		return 0;
	int i = slot(s, lin, false);
	return i < 0 ? 0 : s->flags[i];
}

bool sites_learn(struct sites *s, uint32_t lin, unsigned flag)
{
	if (s->count >= SITES * 3 / 4)
		return false;
	int i = slot(s, lin, true);
	if (i < 0 || (s->flags[i] & flag))
		return false;
	if (flag == SITE_EMULATE && (s->flags[i] & SITE_NATIVE))
		return false;
	if (!s->lin[i]) {
		s->lin[i] = lin + 1;
		s->count++;
	}
	s->flags[i] |= (uint8_t)flag;
	return true;
}

void sites_give_back(struct sites *s, uint32_t lin)
{
	int i = slot(s, lin, true);
	if (i < 0)
		return;
	if (!s->lin[i]) {
		s->lin[i] = lin + 1;
		s->count++;
	}
	s->flags[i] = (uint8_t)((s->flags[i] & ~SITE_EMULATE) | SITE_NATIVE);
}

bool sites_count(struct sites *s, uint32_t lin, bool needed)
{
	int i = slot(s, lin, false);
	if (i < 0)
		return false;
	if (needed)
		s->needy[i]++;
	else
		s->idle[i]++;
	if (s->needy[i] + s->idle[i] >= 64 && s->idle[i] > 7u * s->needy[i]) {
		s->flags[i] = (uint8_t)((s->flags[i] & ~SITE_EMULATE) | SITE_NATIVE);
		return true;
	}
	if (s->needy[i] + s->idle[i] >= 4096) {         /* keep the recent past */
		s->needy[i] /= 2;
		s->idle[i] /= 2;
	}
	return false;
}

void sites_clear(struct sites *s)
{
	memset(s, 0, sizeof(*s));
}
