/*
 * bpe.c - byte-level BPE: loaders, pre-tokenizer, merge loop, word cache.
 *
 * Data layout of a loaded tokenizer (immutable after load):
 *   - tokens: the bytes of id i are bytes[off[i] .. off[i+1]); flags[i]
 *     says whether the id is used and whether it is special;
 *   - tmap: open-addressing map from the bytes of a non-special token to its
 *     id, slots {32-bit hash tag, id};
 *   - pmap: open-addressing map from a pair of adjacent ids (a, b) to the
 *     rank at which they merge and the id they merge into.  For the gpt2
 *     loader every split of a ranked token into two tokens is a pair
 *     (tiktoken's "the concatenation is a token" rule); for tokenizer.json
 *     only the listed merges are.
 *
 * Encoding: the text is cut into pieces by the GPT-2 pattern (piece_end),
 * each piece looked up whole (gpt2), then in the context's word cache, and
 * only then merged: a quadratic lowest-rank scan for short pieces, a binary
 * heap over a linked list of parts for long ones.  Both pick the lowest
 * rank and, among equal ranks, the leftmost pair, as tiktoken does.
 */
#include "text/bpe.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "stream/io.h"
#include "text/pretok.h"
#include "text/unicode.h"

enum { KIND_GPT2, KIND_HF, KIND_BYTES };

enum {
	F_USED = 1,
	F_SPECIAL = 2,    /* outside the merge vocabulary (added-only, EOS) */
	F_HFSPECIAL = 4,  /* tokenizer.json added token with "special": true */
	F_ADDED = 8,      /* a tokenizer.json added token */
	F_NORMALIZED = 16,/* ... matched in normalized text */
	F_FALLBACK = 32,  /* a <0xXX> byte token (SentencePiece byte_fallback) */
};

/*
 * The added tokens of a tokenizer.json, for splitting them out of text: a
 * byte trie, leftmost-longest as Hugging Face matches them.  root[c] is the
 * node after byte c (-1: none); the other edges are in an open-addressing
 * map keyed by (node, byte); term[node] is the token ending there or -1.
 */
struct trie {
	int32_t root[256];
	uint64_t *keys;         /* node << 8 | byte, UINT64_MAX empty */
	int32_t *child;
	size_t mask;
	int32_t *term;
	size_t nnodes, cap;
};

#define MAX_IDS ((size_t)1 << 24)
#define MAX_FILE ((size_t)1 << 30)
#define NO_RANK UINT32_MAX
/* Pieces up to this many bytes are merged by the quadratic scan. */
#define SMALL_WORD 64
/* Pieces up to this many bytes go into the word cache. */
#define CACHE_WORD 255

struct tslot {
	uint32_t tag;
	int32_t id; /* -1: empty */
};

struct pslot {
	uint64_t key; /* (a << 32 | b), PAIR_EMPTY when empty */
	uint32_t rank;
	int32_t id;
};
#define PAIR_EMPTY UINT64_MAX
#define SP_NOCUT 16

struct rm_bpe {
	int kind;
	int whole_first;  /* a piece that is a token is taken whole */
	int prefix_space; /* HF add_prefix_space */
	size_t n_ids;
	uint32_t *off;
	char *bytes;
	uint8_t *flags;
	int32_t byte_id[256];
	int32_t eos;
	struct tslot *tmap;
	size_t tmask;
	struct pslot *pmap;
	size_t pmask, pn;
	int32_t *specials;
	size_t n_specials;
	uint64_t hash;
	uint64_t file_hash;
	/* tokenizer.json beyond GPT-2's ByteLevel */
	struct rm_pretok *pre;  /* normalizer + pre-tokenizer, NULL: legacy */
	int sp;                 /* SentencePiece style: units are characters */
	int byte_fallback, fuse_unk;
	int32_t unk;            /* unk_token id or -1 */
	int32_t fb[256];        /* <0xXX> ids (byte_fallback) */
	/* SentencePiece word cuts (sp_find_cuts): cut before a U+2581 that
	 * follows a character other than U+2581 and these */
	int sp_cut;
	/* SentencePiece decoder: "▁" -> " ", byte tokens -> bytes, then up
	 * to dec_strip leading spaces off */
	int dec_space, dec_bytes;
	size_t dec_strip;
	size_t n_nocut;
	uint32_t nocut[SP_NOCUT];
	struct trie added[2];   /* [0] raw text, [1] normalized text */
	int32_t post_pre[8], post_suf[8];
	size_t npre, nsuf;
};

/* ---- added-token trie --------------------------------------------------- */

static int32_t
trie_next(const struct trie *t, int32_t node, unsigned char c)
{
	uint64_t key;
	size_t i;

	if (node < 0)
		return t->root[c];
	if (t->keys == NULL)
		return -1;
	key = (uint64_t)node << 8 | c;
	for (i = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) & t->mask;;
	     i = (i + 1) & t->mask) {
		if (t->keys[i] == key)
			return t->child[i];
		if (t->keys[i] == UINT64_MAX)
			return -1;
	}
}

static int
trie_grow_map(struct trie *t)
{
	size_t cap = t->keys ? 2 * (t->mask + 1) : 1024;
	uint64_t *nk = malloc(cap * sizeof *nk);
	int32_t *nc = malloc(cap * sizeof *nc);

	if (nk == NULL || nc == NULL) {
		free(nk);
		free(nc);
		return -1;
	}
	for (size_t i = 0; i < cap; i++)
		nk[i] = UINT64_MAX;
	if (t->keys)
		for (size_t i = 0; i <= t->mask; i++) {
			if (t->keys[i] == UINT64_MAX)
				continue;
			size_t j = (size_t)((t->keys[i] * 0x9e3779b97f4a7c15ULL) >> 20) &
			    (cap - 1);
			while (nk[j] != UINT64_MAX)
				j = (j + 1) & (cap - 1);
			nk[j] = t->keys[i];
			nc[j] = t->child[i];
		}
	free(t->keys);
	free(t->child);
	t->keys = nk;
	t->child = nc;
	t->mask = cap - 1;
	return 0;
}

static int32_t
trie_node(struct trie *t)
{
	if (t->nnodes == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		int32_t *nt = realloc(t->term, cap * sizeof *nt);
		if (nt == NULL)
			return -1;
		t->term = nt;
		t->cap = cap;
	}
	t->term[t->nnodes] = -1;
	return (int32_t)t->nnodes++;
}

/* Add s[0..n) (n >= 1) ending in token id; the first added wins. */
static int
trie_add(struct trie *t, const unsigned char *s, size_t n, int32_t id)
{
	int32_t node = -1;

	if (t->nnodes == 0)
		for (int c = 0; c < 256; c++)
			t->root[c] = -1;
	for (size_t i = 0; i < n; i++) {
		int32_t nx = trie_next(t, node, s[i]);
		if (nx < 0) {
			if ((nx = trie_node(t)) < 0)
				return -1;
			if (node < 0) {
				t->root[s[i]] = nx;
			} else {
				if (t->keys == NULL || 2 * (t->nnodes + 1) > t->mask + 1)
					if (trie_grow_map(t) < 0)
						return -1;
				uint64_t key = (uint64_t)node << 8 | s[i];
				size_t j = (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 20) &
				    t->mask;
				while (t->keys[j] != UINT64_MAX)
					j = (j + 1) & t->mask;
				t->keys[j] = key;
				t->child[j] = nx;
			}
		}
		node = nx;
	}
	if (t->term[node] < 0)
		t->term[node] = id;
	return 0;
}

/* The longest token at s[0..n): its id and *len, or -1. */
static inline int32_t
trie_match(const struct trie *t, const unsigned char *s, size_t n, size_t *len)
{
	int32_t node, best = -1;

	if (t->nnodes == 0 || (node = t->root[s[0]]) < 0)
		return -1;
	for (size_t i = 1;; i++) {
		if (t->term[node] >= 0) {
			best = t->term[node];
			*len = i;
		}
		if (i == n || (node = trie_next(t, node, s[i])) < 0)
			return best;
	}
}

static void
trie_free(struct trie *t)
{
	free(t->keys);
	free(t->child);
	free(t->term);
}

/* ---- hashing ---------------------------------------------------------- */

static inline uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* A fast in-memory hash of a byte string (not stable across endianness). */
static inline uint64_t
hash_bytes(const unsigned char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0x100000001b3ULL), w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	if (n > 0) {
		w = 0;
		if (n >= 4) {
			uint32_t a, b;
			memcpy(&a, p, 4);
			memcpy(&b, p + n - 4, 4);
			w = (uint64_t)a << 32 | b;
		} else {
			w = (uint64_t)p[0] << 16 | (uint64_t)p[n / 2] << 8 |
			    p[n - 1];
		}
		h = (h ^ w) * 0x94d049bb133111ebULL;
	}
	return mix64(h);
}

static inline size_t
pair_slot(uint64_t key, size_t mask)
{
	return (size_t)(mix64(key) & mask);
}

/* ---- token and pair maps ----------------------------------------------- */

static inline size_t
tok_len(const struct rm_bpe *b, int32_t id)
{
	return b->off[id + 1] - b->off[id];
}

static int32_t
tmap_get_h(const struct rm_bpe *b, const unsigned char *s, size_t n,
	   uint64_t h)
{
	uint32_t tag = (uint32_t)(h >> 32);
	size_t i = (size_t)h & b->tmask;

	for (;; i = (i + 1) & b->tmask) {
		const struct tslot *t = &b->tmap[i];
		if (t->id < 0)
			return -1;
		if (t->tag == tag && tok_len(b, t->id) == n &&
		    memcmp(b->bytes + b->off[t->id], s, n) == 0)
			return t->id;
	}
}

static int32_t
tmap_get(const struct rm_bpe *b, const unsigned char *s, size_t n)
{
	return tmap_get_h(b, s, n, hash_bytes(s, n));
}

/* Build tmap over the used, non-special ids; first id wins on equal bytes. */
static int
tmap_build(struct rm_bpe *b, struct rm_error *err)
{
	size_t cap = 16;

	while (cap < 2 * b->n_ids)
		cap *= 2;
	b->tmap = malloc(cap * sizeof *b->tmap);
	if (b->tmap == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	b->tmask = cap - 1;
	for (size_t i = 0; i < cap; i++)
		b->tmap[i].id = -1;
	for (size_t id = 0; id < b->n_ids; id++) {
		const unsigned char *s;
		size_t n;
		uint64_t h;

		if ((b->flags[id] & (F_USED | F_SPECIAL)) != F_USED)
			continue;
		s = (const unsigned char *)b->bytes + b->off[id];
		n = tok_len(b, (int32_t)id);
		h = hash_bytes(s, n);
		if (tmap_get_h(b, s, n, h) >= 0)
			continue;
		size_t i = (size_t)h & b->tmask;
		while (b->tmap[i].id >= 0)
			i = (i + 1) & b->tmask;
		b->tmap[i].tag = (uint32_t)(h >> 32);
		b->tmap[i].id = (int32_t)id;
	}
	return 0;
}

static inline const struct pslot *
pair_get(const struct rm_bpe *b, int32_t x, int32_t y)
{
	uint64_t key = (uint64_t)(uint32_t)x << 32 | (uint32_t)y;
	size_t i = pair_slot(key, b->pmask);

	for (;; i = (i + 1) & b->pmask) {
		const struct pslot *p = &b->pmap[i];
		if (p->key == key)
			return p;
		if (p->key == PAIR_EMPTY)
			return NULL;
	}
}

static int
pmap_grow(struct rm_bpe *b, size_t cap)
{
	struct pslot *old = b->pmap, *nw;
	size_t oldcap = old ? b->pmask + 1 : 0;

	nw = malloc(cap * sizeof *nw);
	if (nw == NULL)
		return -1;
	for (size_t i = 0; i < cap; i++)
		nw[i].key = PAIR_EMPTY;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key == PAIR_EMPTY)
			continue;
		size_t j = pair_slot(old[i].key, cap - 1);
		while (nw[j].key != PAIR_EMPTY)
			j = (j + 1) & (cap - 1);
		nw[j] = old[i];
	}
	free(old);
	b->pmap = nw;
	b->pmask = cap - 1;
	return 0;
}

/*
 * pmap_put - add pair (x, y) -> (rank, id).  Returns 1 when added, 0 when the
 * pair was already there (untouched), < 0 when out of memory.
 */
static int
pmap_put(struct rm_bpe *b, int32_t x, int32_t y, uint32_t rank, int32_t id)
{
	uint64_t key = (uint64_t)(uint32_t)x << 32 | (uint32_t)y;
	size_t i;

	if (b->pmap == NULL || 2 * (b->pn + 1) > b->pmask + 1)
		if (pmap_grow(b, b->pmap ? 2 * (b->pmask + 1) : 1024) < 0)
			return -1;
	i = pair_slot(key, b->pmask);
	for (; b->pmap[i].key != PAIR_EMPTY; i = (i + 1) & b->pmask)
		if (b->pmap[i].key == key)
			return 0;
	b->pmap[i].key = key;
	b->pmap[i].rank = rank;
	b->pmap[i].id = id;
	b->pn++;
	return 1;
}

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ----------------------- */

/*
 * Byte b is written as the code point b when printable (0x21..0x7E,
 * 0xA1..0xAC, 0xAE..0xFF) and as U+0100 + k for the k-th other byte.  The
 * inverse covers code points below 0x144 (256 + 68).
 */
#define BL_CPS 0x144
static void
byte_level_inverse(int16_t inv[BL_CPS])
{
	int k = 0;

	for (int i = 0; i < BL_CPS; i++)
		inv[i] = -1;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= 0x21 && b <= 0x7E) ||
				(b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
		inv[printable ? b : 256 + k++] = (int16_t)b;
	}
}

/*
 * bl_decode - byte-level string s[0..n) to raw bytes in dst (room for n).
 * Returns the byte count or -1 when a character is outside the alphabet.
 */
static long
bl_decode(const int16_t inv[BL_CPS], const char *s, size_t n,
	  unsigned char *dst)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	while (i < n) {
		uint32_t cp;
		size_t l = rm_utf8_decode(u + i, n - i, &cp);
		if (l == 0 || cp >= BL_CPS || inv[cp] < 0)
			return -1;
		dst[o++] = (unsigned char)inv[cp];
		i += l;
	}
	return (long)o;
}

/* Quote s[0..n) for a message: printable ASCII and UTF-8 kept, short. */
static const char *
quote(char *dst, size_t cap, const char *s, size_t n)
{
	size_t o = 0, max = cap - 8;

	for (size_t i = 0; i < n && o < max; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= 40) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\')
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
	return dst;
}

/* ---- building a tokenizer ----------------------------------------------- */

/* Staging used while loading: tokens by id, merges in rank order. */
struct build {
	struct rm_bpe *b;
	unsigned char *tmp; /* scratch for one decoded token */
	size_t tmpcap;
	char *bytes;
	size_t blen, bcap;
	int32_t (*merges)[3]; /* a, b, merged id */
	size_t nmerges, mcap;
};

static int
build_init(struct build *bd, int kind, size_t n_ids, struct rm_error *err)
{
	struct rm_bpe *b;

	memset(bd, 0, sizeof *bd);
	if (n_ids == 0 || n_ids > MAX_IDS)
		return rm_error_set(err, RM_EDATA,
				    "vocabulary of %zu tokens (want 1 to %zu)",
				    n_ids, MAX_IDS);
	b = calloc(1, sizeof *b);
	if (b == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	bd->b = b;
	b->kind = kind;
	b->n_ids = n_ids;
	b->eos = -1;
	b->unk = -1;
	for (int c = 0; c < 256; c++)
		b->fb[c] = -1;
	b->off = calloc(n_ids + 1, sizeof *b->off);
	b->flags = calloc(n_ids, 1);
	/* lengths go in off[id + 1] first, prefix-summed by build_finish */
	if (b->off == NULL || b->flags == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	return 0;
}

/*
 * build_set - give id the bytes s[0..n) (bytes are appended to a staging
 * area in any id order and placed by build_finish).
 */
struct staged {
	size_t at, len;
};

static int
stage_bytes(struct build *bd, const void *s, size_t n, size_t *at,
	    struct rm_error *err)
{
	if (bd->blen + n > bd->bcap) {
		size_t cap = bd->bcap ? bd->bcap : 65536;
		while (cap < bd->blen + n)
			cap *= 2;
		if (cap > UINT32_MAX)
			return rm_error_set(err, RM_ENOMEM,
					    "token bytes exceed 4 GiB");
		char *p = realloc(bd->bytes, cap);
		if (p == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		bd->bytes = p;
		bd->bcap = cap;
	}
	memcpy(bd->bytes + bd->blen, s, n);
	*at = bd->blen;
	bd->blen += n;
	return 0;
}

static int
build_tmp(struct build *bd, size_t n, struct rm_error *err)
{
	if (n <= bd->tmpcap)
		return 0;
	unsigned char *p = realloc(bd->tmp, n);
	if (p == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	bd->tmp = p;
	bd->tmpcap = n;
	return 0;
}

/*
 * build_finish - lay the staged bytes out by id.  stg[id] says where id's
 * bytes are in the staging area.
 */
static int
build_layout(struct build *bd, const struct staged *stg, struct rm_error *err)
{
	struct rm_bpe *b = bd->b;
	size_t total = 0;

	for (size_t id = 0; id < b->n_ids; id++) {
		b->off[id] = (uint32_t)total;
		total += stg[id].len;
	}
	b->off[b->n_ids] = (uint32_t)total;
	b->bytes = malloc(total ? total : 1);
	if (b->bytes == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t id = 0; id < b->n_ids; id++)
		memcpy(b->bytes + b->off[id], bd->bytes + stg[id].at,
		       stg[id].len);
	free(bd->bytes);
	bd->bytes = NULL;
	return 0;
}

/* Single-byte ids for all 256 bytes, or an error naming the first missing. */
static int
find_byte_ids(struct rm_bpe *b, struct rm_error *err)
{
	for (int c = 0; c < 256; c++) {
		unsigned char ch = (unsigned char)c;
		b->byte_id[c] = tmap_get(b, &ch, 1);
		if (b->byte_id[c] < 0)
			return rm_error_set(err, RM_EDATA,
					    "byte 0x%02x has no token", c);
	}
	return 0;
}

static int
add_merge(struct build *bd, int32_t x, int32_t y, int32_t t,
	  struct rm_error *err)
{
	if (bd->nmerges == bd->mcap) {
		size_t cap = bd->mcap ? 2 * bd->mcap : 1024;
		void *p = realloc(bd->merges, cap * sizeof *bd->merges);
		if (p == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		bd->merges = p;
		bd->mcap = cap;
	}
	bd->merges[bd->nmerges][0] = x;
	bd->merges[bd->nmerges][1] = y;
	bd->merges[bd->nmerges][2] = t;
	bd->nmerges++;
	return 0;
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/*
 * fingerprint - rm_hash64 over a canonical little-endian serialization:
 * "rmkit-bpe 1", kind, whole_first, prefix_space, n_ids, eos, per id
 * (flags, length, bytes), then the merges (a, b, merged id) in rank order.
 * It depends on the tokenizer's files and behaviour only: flags derived
 * from them for speed or decoding stay out, so streams made by other builds
 * of the same tokenizer carry the same hash (t-hftok pins the values).
 */
static int
fingerprint(struct build *bd, struct rm_error *err)
{
	struct rm_bpe *b = bd->b;
	size_t n = 11 + 3 + 8 + b->n_ids * 5 + b->off[b->n_ids] +
		   bd->nmerges * 12 + 128;
	unsigned char *buf = malloc(n), *p;

	if (buf == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	p = buf;
	memcpy(p, "rmkit-bpe 1", 11);
	p += 11;
	*p++ = (unsigned char)b->kind;
	*p++ = (unsigned char)b->whole_first;
	*p++ = (unsigned char)b->prefix_space;
	put_u32(p, (uint32_t)b->n_ids);
	put_u32(p + 4, (uint32_t)b->eos);
	p += 8;
	for (size_t id = 0; id < b->n_ids; id++) {
		uint32_t l = b->off[id + 1] - b->off[id];
		/* F_FALLBACK follows from byte_fallback and the token text:
		 * left out, so the fingerprint is what it was before it */
		*p++ = (unsigned char)(b->flags[id] & ~F_FALLBACK);
		put_u32(p, l);
		memcpy(p + 4, b->bytes + b->off[id], l);
		p += 4 + l;
	}
	for (size_t i = 0; i < bd->nmerges; i++) {
		for (int k = 0; k < 3; k++)
			put_u32(p + 4 * k, (uint32_t)bd->merges[i][k]);
		p += 12;
	}
	/* what tokenizer.json adds to GPT-2's scheme (absent for it) */
	if (b->pre || b->sp || b->npre || b->nsuf) {
		uint64_t ph = rm_pretok_hash(b->pre);
		memcpy(p, "tokjson", 7);
		p += 7;
		put_u32(p, (uint32_t)ph);
		put_u32(p + 4, (uint32_t)(ph >> 32));
		p += 8;
		*p++ = (unsigned char)(b->sp | b->byte_fallback << 1 |
		    b->fuse_unk << 2);
		put_u32(p, (uint32_t)b->unk);
		p += 4;
		*p++ = (unsigned char)b->npre;
		*p++ = (unsigned char)b->nsuf;
		for (size_t i = 0; i < b->npre; i++, p += 4)
			put_u32(p, (uint32_t)b->post_pre[i]);
		for (size_t i = 0; i < b->nsuf; i++, p += 4)
			put_u32(p, (uint32_t)b->post_suf[i]);
	}
	b->hash = rm_hash64(buf, (size_t)(p - buf));
	free(buf);
	return 0;
}

/* Specials list (for rm_bpe_token_id) and the EOS "<|endoftext|>". */
static int
find_specials(struct rm_bpe *b, struct rm_error *err)
{
	static const char eot[] = "<|endoftext|>";
	size_t k = 0;

	for (size_t id = 0; id < b->n_ids; id++)
		if (b->flags[id] & F_SPECIAL)
			k++;
	b->specials = malloc((k ? k : 1) * sizeof *b->specials);
	if (b->specials == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t id = 0; id < b->n_ids; id++)
		if (b->flags[id] & F_SPECIAL)
			b->specials[b->n_specials++] = (int32_t)id;
	b->eos = rm_bpe_token_id(b, eot, sizeof eot - 1);
	return 0;
}

static int
build_done(struct build *bd, struct rm_bpe **out, int rc)
{
	free(bd->tmp);
	free(bd->bytes);
	free(bd->merges);
	if (rc < 0) {
		rm_bpe_free(bd->b);
		*out = NULL;
	} else {
		*out = bd->b;
	}
	return rc;
}

/*
 * stage_token - id gets the bytes of the byte-level text key; bd->tmp keeps
 * them until the next call.  Fails on an id used twice or a key outside the
 * byte-level alphabet.
 */
static int
stage_token(struct build *bd, const int16_t *inv, struct staged *stg,
	    long id, const char *key, struct rm_error *err)
{
	size_t klen = strlen(key);
	char q[128];
	long bl;
	int rc;

	if (bd->b->flags[id])
		return rm_error_set(err, RM_EDATA,
				    "token id %ld used twice (token '%s')",
				    id, quote(q, sizeof q, key, klen));
	if ((rc = build_tmp(bd, klen + 1, err)) < 0)
		return rc;
	if (bd->b->sp) {
		memcpy(bd->tmp, key, klen);
		bl = (long)klen;
	} else {
		bl = bl_decode(inv, key, klen, bd->tmp);
	}
	if (bl <= 0 && bd->b->kind == KIND_HF && klen > 0) {
		/* tokenizer.json may list raw text (DeepSeek-V3's specials):
		 * a token merges can never make */
		if ((rc = stage_bytes(bd, key, klen, &stg[id].at, err)) < 0)
			return rc;
		stg[id].len = klen;
		bd->b->flags[id] = F_USED | F_SPECIAL;
		return 0;
	}
	if (bl <= 0)
		return rm_error_set(err, RM_EDATA,
				    "token '%s' (id %ld) is not in the byte-level alphabet",
				    quote(q, sizeof q, key, klen), id);
	if ((rc = stage_bytes(bd, bd->tmp, (size_t)bl, &stg[id].at, err)) < 0)
		return rc;
	stg[id].len = (size_t)bl;
	bd->b->flags[id] = F_USED;
	return 0;
}

/* Parse JSON, reporting where it broke. */
static int
parse_json(cJSON **root, const char *buf, size_t len, struct rm_error *err)
{
	const char *end = NULL;

	*root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
	if (*root != NULL)
		return 0;
	if (end == NULL || end < buf || end > buf + len)
		return rm_error_set(err, RM_EDATA, "invalid JSON");
	size_t line = 1, col = 1;
	for (const char *p = buf; p < end; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	return rm_error_set(err, RM_EDATA, "invalid JSON at line %zu, column %zu",
			    line, col);
}

/* A JSON number that is an integer in [0, limit), else -1. */
static long
json_id(const cJSON *v, size_t limit)
{
	double d;

	if (!cJSON_IsNumber(v))
		return -1;
	d = v->valuedouble;
	if (!(d >= 0) || d >= (double)limit || d != floor(d))
		return -1;
	return (long)d;
}

/* ---- gpt2: encoder.json + vocab.bpe ------------------------------------ */

static int
parse_encoder(struct build *bd, const char *buf, size_t len,
	      struct rm_error *err)
{
	static const char eot[] = "<|endoftext|>";
	int16_t inv[BL_CPS];
	cJSON *root, *it;
	struct staged *stg = NULL;
	char q[128];
	size_t n = 0;
	int rc;

	byte_level_inverse(inv);
	rc = parse_json(&root, buf, len, err);
	if (rc < 0)
		return rc;
	if (!cJSON_IsObject(root)) {
		rc = rm_error_set(err, RM_EDATA, "not a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(it, root)
		n++;
	rc = build_init(bd, KIND_GPT2, n, err);
	if (rc < 0)
		goto out;
	stg = calloc(n, sizeof *stg);
	if (stg == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		const char *key = it->string;
		size_t klen = strlen(key);
		long id;

		if (!cJSON_IsNumber(it)) {
			rc = rm_error_set(err, RM_EDATA,
					  "token '%s': id is not a number",
					  quote(q, sizeof q, key, klen));
			goto out;
		}
		id = json_id(it, MAX_IDS);
		if (id < 0 || (size_t)id >= n) {
			rc = rm_error_set(err, RM_EDATA,
					  "token id %.17g out of range (%zu tokens)",
					  it->valuedouble, n);
			goto out;
		}
		if ((rc = stage_token(bd, inv, stg, id, key, err)) < 0)
			goto out;
		if (stg[id].len == sizeof eot - 1 &&
		    memcmp(bd->tmp, eot, stg[id].len) == 0)
			bd->b->flags[id] |= F_SPECIAL;
	}
	rc = build_layout(bd, stg, err);
	if (rc == 0)
		rc = tmap_build(bd->b, err);
	if (rc == 0)
		rc = find_byte_ids(bd->b, err);
out:
	free(stg);
	cJSON_Delete(root);
	return rc;
}

/* Look up a byte-level token text; fills err with "what 'tok' ..." on miss. */
static int32_t
bl_lookup(struct build *bd, const int16_t *inv, const char *s, size_t n)
{
	long bl;

	if (bd->b->sp)
		return tmap_get(bd->b, (const unsigned char *)s, n);
	if (build_tmp(bd, n + 1, NULL) < 0)
		return -2;
	bl = bl_decode(inv, s, n, bd->tmp);
	if (bl <= 0)
		return -1;
	return tmap_get(bd->b, bd->tmp, (size_t)bl);
}

/*
 * parse_vocab_bpe - one merge "a b" per line, in rank order, after an
 * optional "#version" line.  Ranks a merged token at its line; then every
 * split of a ranked token into two tokens becomes a pair (tiktoken).
 */
static int
parse_vocab_bpe(struct build *bd, const char *buf, size_t len,
		struct rm_error *err)
{
	struct rm_bpe *b = bd->b;
	int16_t inv[BL_CPS];
	uint32_t *rank = NULL;
	const char *p = buf, *end = buf + len;
	size_t lineno = 0;
	char q[128], q2[128];
	int rc = 0;

	byte_level_inverse(inv);
	rank = malloc(b->n_ids * sizeof *rank);
	if (rank == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < b->n_ids; i++)
		rank[i] = NO_RANK;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *sp;
		int32_t x, y, t;

		lineno++;
		if (le > p && le[-1] == '\r')
			le--;
		if (lineno == 1 && le - p >= 8 && memcmp(p, "#version", 8) == 0)
			goto next;
		if (le == p)
			goto next;
		sp = memchr(p, ' ', (size_t)(le - p));
		if (sp == NULL || sp == p || sp + 1 == le ||
		    memchr(sp + 1, ' ', (size_t)(le - sp - 1)) != NULL) {
			rc = rm_error_set(err, RM_EDATA,
					  "line %zu: '%s' is not two tokens separated by a space",
					  lineno, quote(q, sizeof q, p, (size_t)(le - p)));
			goto out;
		}
		x = bl_lookup(bd, inv, p, (size_t)(sp - p));
		y = bl_lookup(bd, inv, sp + 1, (size_t)(le - sp - 1));
		if (x < 0 || y < 0) {
			const char *bad = x < 0 ? p : sp + 1;
			size_t bn = x < 0 ? (size_t)(sp - p) : (size_t)(le - sp - 1);
			rc = rm_error_set(err, RM_EDATA,
					  "line %zu: token '%s' is not in the vocabulary",
					  lineno, quote(q, sizeof q, bad, bn));
			goto out;
		}
		/* the concatenation, as raw bytes */
		size_t lx = tok_len(b, x), ly = tok_len(b, y);
		if ((rc = build_tmp(bd, lx + ly, err)) < 0)
			goto out;
		memcpy(bd->tmp, b->bytes + b->off[x], lx);
		memcpy(bd->tmp + lx, b->bytes + b->off[y], ly);
		t = tmap_get(b, bd->tmp, lx + ly);
		if (t < 0) {
			rc = rm_error_set(err, RM_EDATA,
					  "line %zu: merge '%s' makes a token not in the vocabulary",
					  lineno, quote(q, sizeof q, p, (size_t)(le - p)));
			goto out;
		}
		if (rank[t] != NO_RANK) {
			rc = rm_error_set(err, RM_EDATA,
					  "line %zu: merge '%s' makes the same token as merge %u ('%s')",
					  lineno, quote(q, sizeof q, p, (size_t)(le - p)),
					  rank[t] + 1,
					  quote(q2, sizeof q2, b->bytes + b->off[t],
						tok_len(b, t)));
			goto out;
		}
		rank[t] = (uint32_t)bd->nmerges;
		if ((rc = add_merge(bd, x, y, t, err)) < 0)
			goto out;
next:
		p = nl ? nl + 1 : end;
	}
	/* pairs: every split of every ranked token into two tokens */
	for (size_t i = 0; i < bd->nmerges; i++) {
		int32_t t = bd->merges[i][2];
		const unsigned char *s = (const unsigned char *)b->bytes + b->off[t];
		size_t n = tok_len(b, t);
		for (size_t k = 1; k < n; k++) {
			int32_t x = tmap_get(b, s, k), y = tmap_get(b, s + k, n - k);
			if (x < 0 || y < 0)
				continue;
			if (pmap_put(b, x, y, rank[t], t) < 0) {
				rc = rm_error_set(err, RM_ENOMEM, "out of memory");
				goto out;
			}
		}
	}
	if (b->pmap == NULL && pmap_grow(b, 16) < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
out:
	free(rank);
	return rc;
}

int
rm_bpe_parse_gpt2(struct rm_bpe **out, const char *encoder_json,
		  size_t encoder_len, const char *vocab_bpe, size_t vocab_len,
		  struct rm_error *err)
{
	struct build bd;
	int rc;

	memset(&bd, 0, sizeof bd);
	rc = parse_encoder(&bd, encoder_json, encoder_len, err);
	if (rc < 0) {
		rm_error_prefix(err, "encoder.json");
		return build_done(&bd, out, rc);
	}
	bd.b->whole_first = 1;
	rc = parse_vocab_bpe(&bd, vocab_bpe, vocab_len, err);
	if (rc < 0) {
		rm_error_prefix(err, "vocab.bpe");
		return build_done(&bd, out, rc);
	}
	rc = find_specials(bd.b, err);
	if (rc == 0)
		rc = fingerprint(&bd, err);
	if (rc == 0) {
		/* FNV-1a 64 of encoder.json's bytes followed by vocab.bpe's */
		char *cat = malloc(encoder_len + vocab_len + 1);
		if (cat == NULL) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		} else {
			memcpy(cat, encoder_json, encoder_len);
			memcpy(cat + encoder_len, vocab_bpe, vocab_len);
			bd.b->file_hash = rm_hash64(cat, encoder_len + vocab_len);
			free(cat);
		}
	}
	return build_done(&bd, out, rc);
}

/*
 * Messages of the _parse_ functions start with the file's role
 * ("encoder.json: ..."); the file loaders put the path in its place.
 */
static int
replace_role(struct rm_error *err, const char *role, const char *path)
{
	size_t rl = strlen(role);

	if (err == NULL)
		return RM_EIO;
	if (strncmp(err->msg, role, rl) == 0 && err->msg[rl] == ':') {
		char tail[sizeof err->msg];
		snprintf(tail, sizeof tail, "%s", err->msg + rl);
		snprintf(err->msg, sizeof err->msg, "%s%s", path, tail);
	}
	return err->code;
}

int
rm_bpe_load_gpt2(struct rm_bpe **out, const char *encoder_json,
		 const char *vocab_bpe, struct rm_error *err)
{
	char *eb = NULL, *vb = NULL;
	size_t el = 0, vl = 0;
	int rc;

	*out = NULL;
	rc = rm_read_file(encoder_json, MAX_FILE, &eb, &el, err);
	if (rc == 0)
		rc = rm_read_file(vocab_bpe, MAX_FILE, &vb, &vl, err);
	if (rc == 0) {
		rc = rm_bpe_parse_gpt2(out, eb, el, vb, vl, err);
		if (rc < 0) {
			replace_role(err, "encoder.json", encoder_json);
			replace_role(err, "vocab.bpe", vocab_bpe);
		}
	}
	free(eb);
	free(vb);
	return rc;
}

/* ---- Hugging Face tokenizer.json --------------------------------------- */

static const char *
json_type(const cJSON *o)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
	return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* true when o has key set to something other than null/false/0/"" */
static int
json_set(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return 0;
	if (cJSON_IsNumber(v))
		return v->valuedouble != 0;
	if (cJSON_IsString(v))
		return v->valuestring[0] != '\0';
	return 1;
}

/* Whether a pre-tokenizer (or a Sequence holding one) is ByteLevel. */
static int
has_bytelevel(const cJSON *pre)
{
	const char *ty = pre ? json_type(pre) : NULL;
	const cJSON *it;

	if (ty == NULL)
		return 0;
	if (strcmp(ty, "ByteLevel") == 0)
		return 1;
	if (strcmp(ty, "Sequence") != 0)
		return 0;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers"))
		if (has_bytelevel(it))
			return 1;
	return 0;
}

static int
check_hf_options(struct rm_bpe *b, const cJSON *root, const cJSON *model,
		 struct rm_error *err)
{
	static const char *refused[] = {
		"dropout", "continuing_subword_prefix", "end_of_word_suffix",
	};
	const cJSON *pre, *norm, *v;
	const char *ty;

	ty = json_type(model);
	if (ty == NULL || strcmp(ty, "BPE") != 0)
		return rm_error_set(err, RM_EDATA,
				    "model type '%s' is not supported (need BPE)",
				    ty ? ty : "(none)");
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
		if (json_set(model, refused[i]))
			return rm_error_set(err, RM_EDATA,
					    "model option '%s' is not supported",
					    refused[i]);
	b->whole_first = json_set(model, "ignore_merges");
	b->byte_fallback = json_set(model, "byte_fallback");
	b->fuse_unk = json_set(model, "fuse_unk");
	norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
	pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	if (norm != NULL && cJSON_IsNull(norm))
		norm = NULL;
	if (pre != NULL && cJSON_IsNull(pre))
		pre = NULL;
	/* GPT-2's own scheme (ByteLevel alone, its regex): the hand-written
	 * pre-tokenizer of this file */
	v = pre;
	ty = v ? json_type(v) : NULL;
	if (ty != NULL && strcmp(ty, "Sequence") == 0) {
		const cJSON *seq =
			cJSON_GetObjectItemCaseSensitive(v, "pretokenizers");
		if (cJSON_GetArraySize(seq) == 1) {
			v = cJSON_GetArrayItem(seq, 0);
			ty = json_type(v);
		}
	}
	if (norm == NULL && ty != NULL && strcmp(ty, "ByteLevel") == 0) {
		const cJSON *ur = cJSON_GetObjectItemCaseSensitive(v, "use_regex");
		if (ur == NULL || cJSON_IsTrue(ur)) {
			b->prefix_space = json_set(v, "add_prefix_space");
			return 0;
		}
	}
	b->sp = !has_bytelevel(pre);
	return rm_pretok_parse(&b->pre, norm, pre, err);
}

/*
 * parse_post - the BOS/EOS a post_processor puts around a single sequence:
 * TemplateProcessing's "single" (its SpecialToken items before and after
 * the sequence), ByteLevel (none), or a Sequence of those.
 */
static int
parse_post(struct rm_bpe *b, const cJSON *pp, struct rm_error *err)
{
	const char *ty = pp ? json_type(pp) : NULL;
	const cJSON *it, *single, *sp;
	int after = 0;

	if (pp == NULL || cJSON_IsNull(pp) || (ty && strcmp(ty, "ByteLevel") == 0))
		return 0;
	if (ty && strcmp(ty, "Sequence") == 0) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pp, "processors")) {
			int rc = parse_post(b, it, err);
			if (rc < 0)
				return rc;
		}
		return 0;
	}
	if (ty == NULL || strcmp(ty, "TemplateProcessing") != 0)
		return rm_error_set(err, RM_EDATA,
		    "post_processor '%s' is not supported (supported: "
		    "TemplateProcessing, ByteLevel, Sequence)", ty ? ty : "(none)");
	single = cJSON_GetObjectItemCaseSensitive(pp, "single");
	sp = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
	cJSON_ArrayForEach(it, single) {
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
		const cJSON *name, *ids, *x;
		if (cJSON_GetObjectItemCaseSensitive(it, "Sequence")) {
			after = 1;
			continue;
		}
		name = cJSON_GetObjectItemCaseSensitive(st, "id");
		if (!cJSON_IsString(name))
			return rm_error_set(err, RM_EDATA,
			    "post_processor: an item of 'single' is neither "
			    "Sequence nor SpecialToken");
		ids = cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(sp, name->valuestring), "ids");
		if (!cJSON_IsArray(ids))
			return rm_error_set(err, RM_EDATA,
			    "post_processor: special token '%s' has no ids",
			    name->valuestring);
		cJSON_ArrayForEach(x, ids) {
			long id = json_id(x, b->n_ids);
			size_t *n = after ? &b->nsuf : &b->npre;
			int32_t *v = after ? b->post_suf : b->post_pre;
			if (id < 0)
				return rm_error_set(err, RM_EDATA,
				    "post_processor: special token '%s': id out of range",
				    name->valuestring);
			if (*n == 8)
				return rm_error_set(err, RM_EDATA,
				    "post_processor: more than 8 special tokens");
			v[(*n)++] = (int32_t)id;
		}
	}
	return 0;
}

/* The largest id in vocab and added_tokens, or an error. */
static int
hf_count_ids(const cJSON *vocab, const cJSON *added, size_t *n,
	     struct rm_error *err)
{
	const cJSON *it;
	char q[128];
	long max = -1;

	cJSON_ArrayForEach(it, vocab) {
		long id = json_id(it, MAX_IDS);
		if (!cJSON_IsNumber(it) || id < 0)
			quote(q, sizeof q, it->string, strlen(it->string));
		if (!cJSON_IsNumber(it))
			return rm_error_set(err, RM_EDATA,
					    "model.vocab: token '%s': id is not a number",
					    q);
		if (id < 0)
			return rm_error_set(err, RM_EDATA,
					    "model.vocab: token '%s': id %.17g out of range",
					    q, it->valuedouble);
		if (id > max)
			max = id;
	}
	cJSON_ArrayForEach(it, added) {
		long id = json_id(cJSON_GetObjectItemCaseSensitive(it, "id"),
				  MAX_IDS);
		if (id < 0)
			return rm_error_set(err, RM_EDATA,
					    "added_tokens: entry without a valid id");
		if (id > max)
			max = id;
	}
	*n = (size_t)(max + 1);
	return 0;
}

static int
parse_hf_tokens(struct build *bd, const cJSON *vocab, const cJSON *added,
		struct rm_error *err)
{
	struct rm_bpe *b = bd->b;
	struct staged *stg;
	int16_t inv[BL_CPS];
	const cJSON *it;
	int rc = 0;

	byte_level_inverse(inv);
	stg = calloc(b->n_ids, sizeof *stg);
	if (stg == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	cJSON_ArrayForEach(it, vocab) {
		long id = json_id(it, b->n_ids);

		if ((rc = stage_token(bd, inv, stg, id, it->string, err)) < 0) {
			rm_error_prefix(err, "model.vocab");
			goto out;
		}
	}
	/*
	 * added tokens: raw text.  One that the vocabulary has under the same
	 * id with the same bytes stays a token merges can make (Gemma's
	 * whitespace runs); the others are outside the merge vocabulary.
	 */
	cJSON_ArrayForEach(it, added) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
		long id = json_id(cJSON_GetObjectItemCaseSensitive(it, "id"),
				  b->n_ids);
		static const char *const unsup[] = { "lstrip", "rstrip",
		    "single_word" };
		const cJSON *nz = cJSON_GetObjectItemCaseSensitive(it, "normalized");
		int special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it,
		    "special"));
		int normalized = nz && !cJSON_IsNull(nz) ? cJSON_IsTrue(nz) :
		    !special;
		if (!cJSON_IsString(c) || c->valuestring[0] == '\0') {
			rc = rm_error_set(err, RM_EDATA,
					  "added_tokens: id %ld has no content", id);
			goto out;
		}
		for (size_t k = 0; k < 3; k++)
			if (json_set(it, unsup[k])) {
				rc = rm_error_set(err, RM_EDATA,
				    "added_tokens: id %ld: option '%s' is not "
				    "supported", id, unsup[k]);
				goto out;
			}
		size_t cl = strlen(c->valuestring);
		int same = (b->flags[id] & F_USED) && stg[id].len == cl &&
		    memcmp(bd->bytes + stg[id].at, c->valuestring, cl) == 0;
		if ((rc = stage_bytes(bd, c->valuestring, cl, &stg[id].at, err)) < 0)
			goto out;
		stg[id].len = cl;
		b->flags[id] = F_USED | F_ADDED | (same ? 0 : F_SPECIAL) |
		    (special ? F_HFSPECIAL : 0) |
		    (normalized && rm_pretok_normalizes(b->pre) ? F_NORMALIZED : 0);
	}
	rc = build_layout(bd, stg, err);
out:
	free(stg);
	return rc;
}

/* One merge: "a b" or ["a", "b"]; sets *x, *y, the texts for messages. */
static int
hf_merge_sides(const cJSON *m, const char **a, size_t *al, const char **bb,
	       size_t *bl)
{
	if (cJSON_IsString(m)) {
		const char *s = m->valuestring, *sp = strchr(s, ' ');
		if (sp == NULL || sp == s || sp[1] == '\0' || strchr(sp + 1, ' '))
			return -1;
		*a = s;
		*al = (size_t)(sp - s);
		*bb = sp + 1;
		*bl = strlen(sp + 1);
		return 0;
	}
	if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
		const cJSON *x = cJSON_GetArrayItem(m, 0), *y = cJSON_GetArrayItem(m, 1);
		if (!cJSON_IsString(x) || !cJSON_IsString(y))
			return -1;
		*a = x->valuestring;
		*al = strlen(*a);
		*bb = y->valuestring;
		*bl = strlen(*bb);
		return *al && *bl ? 0 : -1;
	}
	return -1;
}

static int
parse_hf_merges(struct build *bd, const cJSON *merges, struct rm_error *err)
{
	struct rm_bpe *b = bd->b;
	int16_t inv[BL_CPS];
	const cJSON *m;
	size_t i = 0;
	char q[128];

	byte_level_inverse(inv);
	{
		/* sized once: no rehashing while 100k-500k merges go in */
		size_t nm = (size_t)cJSON_GetArraySize(merges), cap = 1024;
		while (cap < 2 * (nm + 1))
			cap *= 2;
		if (b->pmap == NULL && nm > 0 && pmap_grow(b, cap) < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	cJSON_ArrayForEach(m, merges) {
		const char *sa, *sb;
		size_t la, lb;
		int32_t x, y, t;

		if (hf_merge_sides(m, &sa, &la, &sb, &lb) < 0)
			return rm_error_set(err, RM_EDATA,
					    "model.merges[%zu]: not \"a b\" nor [\"a\", \"b\"]",
					    i);
		x = bl_lookup(bd, inv, sa, la);
		y = bl_lookup(bd, inv, sb, lb);
		if (x < 0 || y < 0)
			return rm_error_set(err, RM_EDATA,
					    "model.merges[%zu]: token '%s' is not in the vocabulary",
					    i, x < 0 ? quote(q, sizeof q, sa, la)
						     : quote(q, sizeof q, sb, lb));
		size_t lx = tok_len(b, x), ly = tok_len(b, y);
		if (build_tmp(bd, lx + ly, err) < 0)
			return RM_ENOMEM;
		memcpy(bd->tmp, b->bytes + b->off[x], lx);
		memcpy(bd->tmp + lx, b->bytes + b->off[y], ly);
		t = tmap_get(b, bd->tmp, lx + ly);
		if (t < 0)
			return rm_error_set(err, RM_EDATA,
					    "model.merges[%zu]: '%s' + '%s' is not in the vocabulary",
					    i, quote(q, sizeof q, sa, la),
					    quote(q + 64, sizeof q - 64, sb, lb));
		int r = pmap_put(b, x, y, (uint32_t)i, t);
		if (r < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		if (r == 0)
			return rm_error_set(err, RM_EDATA,
					    "model.merges[%zu]: merge '%s' '%s' appears twice",
					    i, quote(q, sizeof q, sa, la),
					    quote(q + 64, sizeof q - 64, sb, lb));
		if (add_merge(bd, x, y, t, err) < 0)
			return RM_ENOMEM;
		i++;
	}
	if (b->pmap == NULL && pmap_grow(b, 16) < 0)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	return 0;
}

/* SentencePiece style: unk_token and the <0xXX> byte tokens. */
static int
find_sp_ids(struct rm_bpe *b, const cJSON *model, struct rm_error *err)
{
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(model, "unk_token");

	b->unk = -1;
	if (cJSON_IsString(u)) {
		b->unk = rm_bpe_token_id(b, u->valuestring, strlen(u->valuestring));
		if (b->unk < 0)
			return rm_error_set(err, RM_EDATA,
			    "unk_token '%s' is not a token", u->valuestring);
	}
	for (int c = 0; c < 256; c++) {
		char name[8];
		snprintf(name, sizeof name, "<0x%02X>", c);
		b->fb[c] = rm_bpe_token_id(b, name, 6);
		if (b->byte_fallback && b->fb[c] < 0)
			return rm_error_set(err, RM_EDATA,
			    "byte_fallback: byte token '%s' is missing", name);
		if (b->fb[c] >= 0)
			b->flags[b->fb[c]] |= F_FALLBACK;
	}
	return 0;
}

/*
 * sp_find_cuts - whether a SentencePiece-style text may be merged word by
 * word.  Hugging Face merges a pre-tokenizer piece as one sequence; with
 * Gemma's (spaces become U+2581, no split) that is the whole text.  A part
 * made by merging is a vocabulary token, so no part ever spans the
 * boundary between characters c and U+2581 unless some token holds "c"
 * followed by U+2581: cutting there changes nothing, and the words between
 * cuts can be cached.  The characters c other than U+2581 that tokens hold
 * before a U+2581 (Gemma 3: only '>', in ">▁</") are kept as exceptions;
 * with more than SP_NOCUT of them, or when pieces that are tokens are
 * taken whole (ignore_merges), or "▁" is no token, there are no cuts.
 */
/* The character of w[lo..j) that ends at j (lo < j); 0xFFFFFFFF: a byte. */
static uint32_t
char_before(const unsigned char *w, size_t lo, size_t j)
{
	size_t q = j - 1;
	uint32_t cp = 0;

	while (q > lo && (w[q] & 0xC0) == 0x80 && j - q < 4)
		q--;
	return rm_utf8_decode(w + q, j - q, &cp) == j - q ? cp : 0xFFFFFFFF;
}

static int
sp_nocut(const struct rm_bpe *b, uint32_t cp)
{
	for (size_t k = 0; k < b->n_nocut; k++)
		if (b->nocut[k] == cp)
			return 1;
	return 0;
}

static void
sp_find_cuts(struct rm_bpe *b)
{
	static const unsigned char ms[3] = { 0xE2, 0x96, 0x81 };

	b->sp_cut = 0;
	b->n_nocut = 0;
	if (!b->sp || b->whole_first || rm_bpe_token_id(b, (const char *)ms, 3) < 0)
		return;
	for (size_t id = 0; id < b->n_ids; id++) {
		const unsigned char *t = (const unsigned char *)b->bytes + b->off[id];
		size_t n = tok_len(b, (int32_t)id);

		if ((b->flags[id] & F_SPECIAL) || n < 4)
			continue;
		for (size_t p = 1; p + 3 <= n; p++) {
			uint32_t cp;
			if (memcmp(t + p, ms, 3) != 0)
				continue;
			cp = char_before(t, 0, p);
			if (cp == 0x2581 || sp_nocut(b, cp))
				continue;
			if (b->n_nocut == SP_NOCUT)
				return;
			b->nocut[b->n_nocut++] = cp;
		}
	}
	b->sp_cut = 1;
}

/*
 * sp_decoder - what a SentencePiece-style tokenizer.json's "decoder" does
 * to the tokens' text: Replace of "▁" by " " or Metaspace (spaces back),
 * ByteFallback (<0xXX> tokens to their bytes), Strip of leading spaces
 * (Llama-2, Mistral), Metaspace's own leading space, Fuse; in a Sequence
 * or alone.  Other decoders change nothing here.
 */
static void
sp_decoder(struct rm_bpe *b, const cJSON *d)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(d, "type");

	if (!cJSON_IsString(t))
		return;
	if (strcmp(t->valuestring, "Sequence") == 0) {
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d,
		    "decoders"))
			sp_decoder(b, e);
	} else if (strcmp(t->valuestring, "Replace") == 0) {
		const cJSON *pat = cJSON_GetObjectItemCaseSensitive(d, "pattern");
		const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "content");
		if (cJSON_IsString(str) && cJSON_IsString(c) &&
		    strcmp(str->valuestring, "\xe2\x96\x81") == 0 &&
		    strcmp(c->valuestring, " ") == 0)
			b->dec_space = 1;
	} else if (strcmp(t->valuestring, "ByteFallback") == 0) {
		b->dec_bytes = 1;
	} else if (strcmp(t->valuestring, "Strip") == 0) {
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(d, "content");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "start");
		if (cJSON_IsString(c) && strcmp(c->valuestring, " ") == 0 &&
		    cJSON_IsNumber(st) && st->valuedouble > 0)
			b->dec_strip = (size_t)st->valuedouble;
	} else if (strcmp(t->valuestring, "Metaspace") == 0) {
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(d,
		    "prepend_scheme");
		b->dec_space = 1;
		if (!cJSON_IsString(ps) || strcmp(ps->valuestring, "never") != 0)
			b->dec_strip = 1;
	}
}

/* The tries of the added tokens: [0] matched in raw text, [1] normalized. */
static int
build_tries(struct rm_bpe *b, struct rm_error *err)
{
	for (size_t id = 0; id < b->n_ids; id++) {
		if (!(b->flags[id] & F_ADDED) || tok_len(b, (int32_t)id) == 0)
			continue;
		struct trie *t = &b->added[(b->flags[id] & F_NORMALIZED) ? 1 : 0];
		if (trie_add(t, (const unsigned char *)b->bytes + b->off[id],
		    tok_len(b, (int32_t)id), (int32_t)id) < 0)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	return 0;
}

int
rm_bpe_parse_hf(struct rm_bpe **out, const char *json, size_t len,
		struct rm_error *err)
{
	struct build bd;
	cJSON *root = NULL;
	const cJSON *model, *vocab, *merges, *added;
	size_t n_ids = 0;
	int rc;

	memset(&bd, 0, sizeof bd);
	rc = parse_json(&root, json, len, err);
	if (rc < 0)
		goto out;
	model = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (!cJSON_IsObject(model)) {
		rc = rm_error_set(err, RM_EDATA, "no \"model\" object");
		goto out;
	}
	vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
	added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
	if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
		rc = rm_error_set(err, RM_EDATA,
				  "model needs a \"vocab\" object and a \"merges\" array");
		goto out;
	}
	if (added != NULL && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
		rc = rm_error_set(err, RM_EDATA, "\"added_tokens\" is not an array");
		goto out;
	}
	if ((rc = hf_count_ids(vocab, added, &n_ids, err)) < 0)
		goto out;
	if ((rc = build_init(&bd, KIND_HF, n_ids, err)) < 0)
		goto out;
	if ((rc = check_hf_options(bd.b, root, model, err)) < 0)
		goto out;
	if ((rc = parse_hf_tokens(&bd, vocab, added, err)) < 0)
		goto out;
	if ((rc = tmap_build(bd.b, err)) < 0)
		goto out;
	if (bd.b->sp) {
		rc = find_sp_ids(bd.b, model, err);
		sp_find_cuts(bd.b);
		sp_decoder(bd.b, cJSON_GetObjectItemCaseSensitive(root,
		    "decoder"));
	} else
		rc = find_byte_ids(bd.b, err);
	if (rc < 0) {
		rm_error_prefix(err, "model.vocab");
		goto out;
	}
	if ((rc = build_tries(bd.b, err)) < 0)
		goto out;
	if ((rc = parse_post(bd.b, cJSON_GetObjectItemCaseSensitive(root,
	    "post_processor"), err)) < 0)
		goto out;
	if ((rc = parse_hf_merges(&bd, merges, err)) < 0)
		goto out;
	if ((rc = find_specials(bd.b, err)) < 0)
		goto out;
	rc = fingerprint(&bd, err);
	bd.b->file_hash = rm_hash64(json, len);
out:
	cJSON_Delete(root);
	return build_done(&bd, out, rc);
}

int
rm_bpe_load_hf(struct rm_bpe **out, const char *path, struct rm_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = rm_read_file(path, MAX_FILE, &buf, &len, err);
	if (rc == 0) {
		rc = rm_bpe_parse_hf(out, buf, len, err);
		if (rc < 0)
			rm_error_prefix(err, "%s", path);
	}
	free(buf);
	return rc;
}

/* ---- bytes ------------------------------------------------------------- */

int
rm_bpe_load_bytes(struct rm_bpe **out, struct rm_error *err)
{
	static const char eot[] = "<|endoftext|>";
	struct staged stg[257];
	struct build bd;
	int rc;

	memset(&bd, 0, sizeof bd);
	rc = build_init(&bd, KIND_BYTES, 257, err);
	for (int c = 0; c < 256 && rc == 0; c++) {
		unsigned char ch = (unsigned char)c;
		rc = stage_bytes(&bd, &ch, 1, &stg[c].at, err);
		stg[c].len = 1;
		bd.b->flags[c] = F_USED;
	}
	if (rc == 0) {
		rc = stage_bytes(&bd, eot, sizeof eot - 1, &stg[256].at, err);
		stg[256].len = sizeof eot - 1;
		bd.b->flags[256] = F_USED | F_SPECIAL;
	}
	if (rc == 0)
		rc = build_layout(&bd, stg, err);
	if (rc == 0)
		rc = tmap_build(bd.b, err);
	if (rc == 0)
		rc = find_byte_ids(bd.b, err);
	if (rc == 0 && pmap_grow(bd.b, 16) < 0)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	if (rc == 0)
		rc = find_specials(bd.b, err);
	if (rc == 0)
		rc = fingerprint(&bd, err);
	return build_done(&bd, out, rc);
}

/* ---- queries ------------------------------------------------------------ */

void
rm_bpe_free(struct rm_bpe *b)
{
	if (b == NULL)
		return;
	free(b->off);
	free(b->bytes);
	free(b->flags);
	free(b->tmap);
	free(b->pmap);
	free(b->specials);
	rm_pretok_free(b->pre);
	trie_free(&b->added[0]);
	trie_free(&b->added[1]);
	free(b);
}

size_t
rm_bpe_vocab_size(const struct rm_bpe *b)
{
	return b->n_ids;
}

int32_t
rm_bpe_eos(const struct rm_bpe *b)
{
	return b->eos;
}

const char *
rm_bpe_name(const struct rm_bpe *b)
{
	switch (b->kind) {
	case KIND_GPT2:
		return "gpt2";
	case KIND_HF:
		return "hf";
	default:
		return "bytes";
	}
}

uint64_t
rm_bpe_hash(const struct rm_bpe *b)
{
	return b->hash;
}

int
rm_bpe_exact_bytes(const struct rm_bpe *b)
{
	return !b->sp && !b->prefix_space && !rm_pretok_rewrites(b->pre);
}

uint64_t
rm_bpe_file_hash(const struct rm_bpe *b)
{
	return b->file_hash;
}

int
rm_bpe_token(const struct rm_bpe *b, int32_t id, const char **s, size_t *len)
{
	if (id < 0 || (size_t)id >= b->n_ids || !(b->flags[id] & F_USED))
		return RM_EUSAGE;
	*s = b->bytes + b->off[id];
	*len = tok_len(b, id);
	return 0;
}

int32_t
rm_bpe_token_id(const struct rm_bpe *b, const char *s, size_t len)
{
	int32_t id = tmap_get(b, (const unsigned char *)s, len);

	if (id >= 0)
		return id;
	for (size_t i = 0; i < b->n_specials; i++) {
		int32_t sp = b->specials[i];
		if (tok_len(b, sp) == len &&
		    memcmp(b->bytes + b->off[sp], s, len) == 0)
			return sp;
	}
	return -1;
}

int
rm_bpe_is_special(const struct rm_bpe *b, int32_t id)
{
	return id >= 0 && (size_t)id < b->n_ids &&
	       (b->flags[id] & (F_SPECIAL | F_HFSPECIAL));
}

/* ---- rm_ids ------------------------------------------------------------- */

int
rm_ids_reserve(struct rm_ids *ids, size_t extra, struct rm_error *err)
{
	size_t cap;
	int32_t *v;

	if (extra <= ids->cap - ids->n)
		return 0;
	if (extra > SIZE_MAX / sizeof *v / 2 - ids->n)
		return rm_error_set(err, RM_ENOMEM, "too many token ids");
	cap = ids->cap ? ids->cap : 256;
	while (cap < ids->n + extra)
		cap *= 2;
	v = realloc(ids->v, cap * sizeof *v);
	if (v == NULL)
		return rm_error_set(err, RM_ENOMEM,
				    "out of memory for %zu token ids", cap);
	ids->v = v;
	ids->cap = cap;
	return 0;
}

int
rm_ids_push(struct rm_ids *ids, int32_t id, struct rm_error *err)
{
	if (ids->n == ids->cap) {
		int rc = rm_ids_reserve(ids, 1, err);
		if (rc < 0)
			return rc;
	}
	ids->v[ids->n++] = id;
	return 0;
}

void
rm_ids_release(struct rm_ids *ids)
{
	free(ids->v);
	ids->v = NULL;
	ids->n = ids->cap = 0;
}

/* ---- encoding context -------------------------------------------------- */

/*
 * Word cache: open addressing, slots point into a key arena and an id
 * arena.  When the table is half full or an arena is full, it is emptied
 * whole (cheap, rare, and keeps the memory bounded).
 */
#define CACHE_SLOTS ((size_t)1 << 15)
#define CACHE_KEYS ((size_t)1 << 19)
#define CACHE_IDS ((size_t)1 << 17)

struct cslot {
	uint64_t h;
	uint32_t koff, voff;
	uint16_t klen, vn; /* klen 0: empty */
};

/* Heap entry: parts [pos, right) and [right, rend) merge into id at rank. */
struct hent {
	uint32_t rank, pos, right, rend;
	int32_t id;
};

/* Short-piece table: pieces of 2..8 bytes that make at most SHORT_IDS ids. */
#define SHORT_BITS 14
#define SHORT_IDS 4
struct sslot {
	uint64_t key;        /* the bytes, little-endian */
	uint8_t len, nids;   /* len 0: empty */
	int32_t ids[SHORT_IDS];
};

struct rm_bpe_ctx {
	const struct rm_bpe *b;
	struct sslot *shorts;
	struct cslot *slots;
	size_t used;
	unsigned char *keys;
	size_t klen;
	int32_t *vals;
	size_t vlen;
	/* merge scratch, sized for the longest piece so far */
	size_t scap;
	int32_t *ids, *mid;
	uint32_t *rank, *next, *prev;
	struct hent *heap;
	/* text with a space put in front (add_prefix_space) */
	char *pbuf;
	size_t pcap;
	/* tokenizer.json: pre-tokenizer state, special-token mode */
	struct rm_pretok_ctx *pc;
	int specials;
	const struct rm_span *plain;
	size_t nplain;
	struct rm_ids *out;     /* for the piece callback */
};

int
rm_bpe_ctx_new(struct rm_bpe_ctx **out, const struct rm_bpe *b,
	       struct rm_error *err)
{
	struct rm_bpe_ctx *c = calloc(1, sizeof *c);

	*out = NULL;
	if (c == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	c->b = b;
	if (b->pre && rm_pretok_ctx_new(&c->pc, b->pre, err) < 0) {
		free(c);
		return err ? err->code : RM_ENOMEM;
	}
	c->shorts = calloc((size_t)1 << SHORT_BITS, sizeof *c->shorts);
	c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
	c->keys = malloc(CACHE_KEYS);
	c->vals = malloc(CACHE_IDS * sizeof *c->vals);
	if (c->shorts == NULL || c->slots == NULL || c->keys == NULL ||
	    c->vals == NULL) {
		rm_bpe_ctx_free(c);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	*out = c;
	return 0;
}

static void
free_scratch(struct rm_bpe_ctx *c)
{
	free(c->ids);
	free(c->mid);
	free(c->rank);
	free(c->next);
	free(c->prev);
	free(c->heap);
}

void
rm_bpe_ctx_free(struct rm_bpe_ctx *c)
{
	if (c == NULL)
		return;
	free(c->shorts);
	free(c->slots);
	free(c->keys);
	free(c->vals);
	free_scratch(c);
	free(c->pbuf);
	rm_pretok_ctx_free(c->pc);
	free(c);
}

void
rm_bpe_ctx_set_specials(struct rm_bpe_ctx *c, int mode)
{
	c->specials = mode;
}

void
rm_bpe_post(const struct rm_bpe *b, const int32_t **pre, size_t *npre,
	    const int32_t **suf, size_t *nsuf)
{
	*pre = b->post_pre;
	*npre = b->npre;
	*suf = b->post_suf;
	*nsuf = b->nsuf;
}

static int
scratch(struct rm_bpe_ctx *c, size_t n, struct rm_error *err)
{
	size_t cap;

	if (n <= c->scap)
		return 0;
	cap = c->scap ? c->scap : 256;
	while (cap < n)
		cap *= 2;
	free_scratch(c);
	c->scap = 0;
	c->ids = malloc(cap * sizeof *c->ids);
	c->mid = malloc(cap * sizeof *c->mid);
	c->rank = malloc(cap * sizeof *c->rank);
	c->next = malloc(cap * sizeof *c->next);
	c->prev = malloc(cap * sizeof *c->prev);
	c->heap = malloc(3 * cap * sizeof *c->heap);
	if (!c->ids || !c->mid || !c->rank || !c->next || !c->prev || !c->heap) {
		free_scratch(c);
		c->ids = c->mid = NULL;
		c->rank = c->next = c->prev = NULL;
		c->heap = NULL;
		return rm_error_set(err, RM_ENOMEM,
				    "out of memory for a piece of %zu bytes", n);
	}
	c->scap = cap;
	return 0;
}

static inline void
pair_rank(const struct rm_bpe *b, int32_t x, int32_t y, uint32_t *rank,
	  int32_t *id)
{
	const struct pslot *p = pair_get(b, x, y);

	if (p) {
		*rank = p->rank;
		*id = p->id;
	} else {
		*rank = NO_RANK;
	}
}

/*
 * merge_small - merge the n parts in c->ids (n <= scratch) by repeated
 * lowest-rank, leftmost scans; returns the number of parts left.
 * rank[k] and mid[k] describe the pair (ids[k], ids[k + 1]).
 */
static size_t
merge_small(struct rm_bpe_ctx *c, size_t n)
{
	const struct rm_bpe *b = c->b;
	int32_t *ids = c->ids, *mid = c->mid;
	uint32_t *rank = c->rank;

	for (size_t k = 0; k + 1 < n; k++)
		pair_rank(b, ids[k], ids[k + 1], &rank[k], &mid[k]);
	while (n > 1) {
		uint32_t best = NO_RANK;
		size_t bk = 0;

		for (size_t k = 0; k + 1 < n; k++)
			if (rank[k] < best) {
				best = rank[k];
				bk = k;
			}
		if (best == NO_RANK)
			break;
		ids[bk] = mid[bk];
		/* drop part bk + 1 and pair bk + 1 (its pair with bk + 2) */
		memmove(ids + bk + 1, ids + bk + 2, (n - bk - 2) * sizeof *ids);
		if (bk + 2 < n - 1) {
			memmove(rank + bk + 1, rank + bk + 2,
				(n - bk - 3) * sizeof *rank);
			memmove(mid + bk + 1, mid + bk + 2,
				(n - bk - 3) * sizeof *mid);
		}
		n--;
		if (bk + 1 < n)
			pair_rank(b, ids[bk], ids[bk + 1], &rank[bk], &mid[bk]);
		if (bk > 0)
			pair_rank(b, ids[bk - 1], ids[bk], &rank[bk - 1],
				  &mid[bk - 1]);
	}
	return n;
}

static inline int
hless(const struct hent *x, const struct hent *y)
{
	return x->rank < y->rank || (x->rank == y->rank && x->pos < y->pos);
}

static void
hdown(struct hent *h, size_t n, size_t i)
{
	struct hent e = h[i];

	for (;;) {
		size_t l = 2 * i + 1, m;
		if (l >= n)
			break;
		m = l + 1 < n && hless(&h[l + 1], &h[l]) ? l + 1 : l;
		if (!hless(&h[m], &e))
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = e;
}

static void
hpush(struct hent *h, size_t *n, struct hent e)
{
	size_t i = (*n)++;

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!hless(&e, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = e;
}

#define NONE UINT32_MAX

/*
 * merge_heap - the same result as merge_small in O(n log n): parts form a
 * linked list by start index (next[k] is where part k ends, n at the end;
 * id -1 marks a part merged away), candidate pairs sit in a min-heap by
 * (rank, position).  A popped pair is stale unless both parts still span
 * what they spanned when it was pushed.  Packs the surviving ids into
 * c->ids[0..return).
 */
static size_t
merge_heap(struct rm_bpe_ctx *c, size_t n)
{
	const struct rm_bpe *b = c->b;
	int32_t *ids = c->ids;
	uint32_t *next = c->next, *prev = c->prev;
	struct hent *h = c->heap;
	size_t hn = 0, m = 0;

	for (size_t k = 0; k < n; k++) {
		next[k] = (uint32_t)k + 1;
		prev[k] = k > 0 ? (uint32_t)k - 1 : NONE;
	}
	for (size_t k = 0; k + 1 < n; k++) {
		struct hent e = { NO_RANK, (uint32_t)k, (uint32_t)k + 1,
				  (uint32_t)k + 2, 0 };
		pair_rank(b, ids[k], ids[k + 1], &e.rank, &e.id);
		if (e.rank != NO_RANK)
			h[hn++] = e;
	}
	for (size_t i = hn / 2; i-- > 0;)
		hdown(h, hn, i);
	while (hn > 0) {
		struct hent e = h[0];
		uint32_t p = e.pos, r = e.right, nx;

		h[0] = h[--hn];
		hdown(h, hn, 0);
		if (ids[p] < 0 || next[p] != r || ids[r] < 0 ||
		    next[r] != e.rend)
			continue; /* stale */
		ids[p] = e.id;
		ids[r] = -1;
		nx = next[r];
		next[p] = nx;
		if (nx < n)
			prev[nx] = p;
		if (prev[p] != NONE) {
			struct hent f = { NO_RANK, prev[p], p, nx, 0 };
			pair_rank(b, ids[prev[p]], ids[p], &f.rank, &f.id);
			if (f.rank != NO_RANK)
				hpush(h, &hn, f);
		}
		if (nx < n) {
			struct hent f = { NO_RANK, p, nx, next[nx], 0 };
			pair_rank(b, ids[p], ids[nx], &f.rank, &f.id);
			if (f.rank != NO_RANK)
				hpush(h, &hn, f);
		}
	}
	for (uint32_t k = 0; k < n; k = next[k])
		ids[m++] = ids[k];
	return m;
}

static void
cache_clear(struct rm_bpe_ctx *c)
{
	memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots);
	c->used = c->klen = c->vlen = 0;
}

static void
cache_put(struct rm_bpe_ctx *c, const unsigned char *w, size_t n, uint64_t h,
	  const int32_t *v, size_t vn)
{
	size_t i;

	if (2 * (c->used + 1) > CACHE_SLOTS || c->klen + n > CACHE_KEYS ||
	    c->vlen + vn > CACHE_IDS)
		cache_clear(c);
	i = (size_t)h & (CACHE_SLOTS - 1);
	while (c->slots[i].klen != 0)
		i = (i + 1) & (CACHE_SLOTS - 1);
	c->slots[i].h = h;
	c->slots[i].koff = (uint32_t)c->klen;
	c->slots[i].klen = (uint16_t)n;
	c->slots[i].voff = (uint32_t)c->vlen;
	c->slots[i].vn = (uint16_t)vn;
	memcpy(c->keys + c->klen, w, n);
	memcpy(c->vals + c->vlen, v, vn * sizeof *v);
	c->klen += n;
	c->vlen += vn;
	c->used++;
}

static inline const struct cslot *
cache_get(const struct rm_bpe_ctx *c, const unsigned char *w, size_t n,
	  uint64_t h)
{
	size_t i = (size_t)h & (CACHE_SLOTS - 1);

	for (;; i = (i + 1) & (CACHE_SLOTS - 1)) {
		const struct cslot *s = &c->slots[i];
		if (s->klen == 0)
			return NULL;
		if (s->h == h && s->klen == n &&
		    memcmp(c->keys + s->koff, w, n) == 0)
			return s;
	}
}

/* Encode a piece of 2 or more bytes (see encode_piece). */
static int
encode_long(struct rm_bpe_ctx *c, const unsigned char *w, size_t n,
	    struct rm_ids *out, struct rm_error *err)
{
	const struct rm_bpe *b = c->b;
	const struct cslot *s;
	uint64_t h = 0;
	size_t m;
	int rc;

	if (n <= CACHE_WORD) {
		h = hash_bytes(w, n);
		if (b->whole_first) {
			int32_t id = tmap_get_h(b, w, n, h);
			if (id >= 0) {
				out->v[out->n++] = id;
				return 0;
			}
		}
		s = cache_get(c, w, n, h);
		if (s != NULL) {
			memcpy(out->v + out->n, c->vals + s->voff,
			       s->vn * sizeof *out->v);
			out->n += s->vn;
			return 0;
		}
	} else if (b->whole_first) {
		int32_t id = tmap_get(b, w, n);
		if (id >= 0) {
			out->v[out->n++] = id;
			return 0;
		}
	}
	if ((rc = scratch(c, n, err)) < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		c->ids[k] = b->byte_id[w[k]];
	m = n <= SMALL_WORD ? merge_small(c, n) : merge_heap(c, n);
	memcpy(out->v + out->n, c->ids, m * sizeof *out->v);
	out->n += m;
	if (n <= CACHE_WORD)
		cache_put(c, w, n, h, c->ids, m);
	return 0;
}

/*
 * Encode one piece into out (room for n ids reserved by the caller).  Most
 * pieces are short: those of 2 to 8 bytes go through a direct-mapped table
 * keyed by the bytes packed in a 64-bit word, one cache line per lookup.
 */
static int
encode_piece(struct rm_bpe_ctx *c, const unsigned char *w, size_t n,
	     struct rm_ids *out, struct rm_error *err)
{
	struct sslot *s;
	uint64_t key = 0;
	size_t n0;
	int rc;

	if (n == 1) {
		out->v[out->n++] = c->b->byte_id[w[0]];
		return 0;
	}
	if (n > 8)
		return encode_long(c, w, n, out, err);
	for (size_t i = 0; i < n; i++)
		key |= (uint64_t)w[i] << (8 * i);
	s = &c->shorts[((key ^ n) * 0x9e3779b97f4a7c15ULL) >> (64 - SHORT_BITS)];
	if (s->key == key && s->len == n) {
		for (int i = 0; i < s->nids; i++)
			out->v[out->n++] = s->ids[i];
		return 0;
	}
	n0 = out->n;
	if ((rc = encode_long(c, w, n, out, err)) < 0)
		return rc;
	if (out->n - n0 <= SHORT_IDS) {
		s->key = key;
		s->len = (uint8_t)n;
		s->nids = (uint8_t)(out->n - n0);
		memcpy(s->ids, out->v + n0, s->nids * sizeof *s->ids);
	}
	return 0;
}

/* Class and length of the character at s[i] (bad UTF-8: one "other" byte). */
static inline int
char_at(const unsigned char *s, size_t n, size_t i, size_t *len)
{
	uint32_t cp;
	size_t l;

	if (s[i] < 0x80) {
		*len = 1;
		return rm_unicode_ascii_class(s[i]);
	}
	l = rm_utf8_decode(s + i, n - i, &cp);
	if (l == 0) {
		*len = 1;
		return RM_UC_OTHER;
	}
	*len = l;
	return rm_unicode_class(cp);
}

/* End of the run of class cls starting at i. */
static inline size_t
run_end(const unsigned char *s, size_t n, size_t i, int cls)
{
	size_t l;

	while (i < n && char_at(s, n, i, &l) == cls)
		i += l;
	return i;
}

/*
 * piece_end - where the GPT-2 pattern's match starting at i ends (i < n).
 * The alternatives in the pattern's order:
 *   's 't 're 've 'm 'll 'd         (case-sensitive)
 *   ' '? letters | ' '? digits | ' '? others   (longest run)
 *   \s+(?!\S): a run of spaces, less its last character when a non-space
 *   follows (that character then starts the next piece, e.g. " word")
 *   \s+: a single space character before a non-space.
 */
static size_t
piece_end(const unsigned char *s, size_t n, size_t i)
{
	size_t l, j, last;
	int cls;

	if (s[i] == '\'' && i + 1 < n) {
		unsigned char a = s[i + 1];
		if (a == 's' || a == 't' || a == 'm' || a == 'd')
			return i + 2;
		if (i + 2 < n) {
			unsigned char z = s[i + 2];
			if ((a == 'r' && z == 'e') || (a == 'v' && z == 'e') ||
			    (a == 'l' && z == 'l'))
				return i + 3;
		}
	}
	cls = char_at(s, n, i, &l);
	if (s[i] == ' ' && i + 1 < n) {
		size_t l1;
		int c1 = char_at(s, n, i + 1, &l1);
		if (c1 != RM_UC_SPACE)
			return run_end(s, n, i + 1 + l1, c1);
	}
	if (cls != RM_UC_SPACE)
		return run_end(s, n, i + l, cls);
	last = i;
	j = i + l;
	while (j < n && char_at(s, n, j, &l) == RM_UC_SPACE) {
		last = j;
		j += l;
	}
	if (j == n || last == i)
		return j;
	return last;
}

/*
 * SentencePiece-style piece: the units are characters (ids of their UTF-8
 * bytes in the vocabulary; -(1 + offset) for a character the vocabulary
 * lacks, which never merges), merged by rank; a unit left unknown becomes
 * its <0xXX> byte tokens (byte_fallback) or unk_token (consecutive ones
 * fused into one with fuse_unk), or is dropped when there is neither, as
 * Hugging Face does.
 */
static int
encode_sp(struct rm_bpe_ctx *c, const unsigned char *w, size_t n,
	  struct rm_ids *out, struct rm_error *err)
{
	const struct rm_bpe *b = c->b;
	size_t k = 0, m = 0, i;
	int rc, last_unk = 0;

	if (b->whole_first) {
		int32_t id = tmap_get(b, w, n);
		if (id >= 0)
			return rm_ids_push(out, id, err);
	}
	if ((rc = scratch(c, n, err)) < 0)
		return rc;
	for (i = 0; i < n; m++) {
		uint32_t cp;
		size_t l = rm_utf8_decode(w + i, n - i, &cp);
		int32_t id;
		if (l == 0)
			l = 1;
		id = tmap_get(b, w + i, l);
		c->ids[m] = id >= 0 ? id : -(int32_t)(1 + i);
		i += l;
	}
	m = m <= SMALL_WORD ? merge_small(c, m) : merge_heap(c, m);
	if ((rc = rm_ids_reserve(out, 4 * m, err)) < 0)
		return rc;
	for (k = 0; k < m; k++) {
		int32_t id = c->ids[k];
		if (id >= 0) {
			out->v[out->n++] = id;
			last_unk = 0;
			continue;
		}
		size_t at = (size_t)(-(id + 1)), l;
		uint32_t cp;
		l = rm_utf8_decode(w + at, n - at, &cp);
		if (l == 0)
			l = 1;
		if (b->byte_fallback) {
			for (size_t j = 0; j < l; j++)
				out->v[out->n++] = b->fb[w[at + j]];
			last_unk = 0;
		} else if (b->unk >= 0 && !(b->fuse_unk && last_unk)) {
			out->v[out->n++] = b->unk;
			last_unk = 1;
		}
	}
	return 0;
}

/* Where the next word of w[i..n) starts (see sp_find_cuts), n at the end. */
static size_t
sp_next_cut(const struct rm_bpe *b, const unsigned char *w, size_t n,
	    size_t i)
{
	for (size_t j = i + 1; j + 3 <= n; j++) {
		uint32_t cp;
		if (w[j] != 0xE2 || w[j + 1] != 0x96 || w[j + 2] != 0x81)
			continue;
		cp = char_before(w, i, j);
		if (cp != 0x2581 && !sp_nocut(b, cp))
			return j;
	}
	return n;
}

/*
 * SentencePiece-style piece, word by word where the vocabulary allows it
 * (sp_find_cuts), each word of up to CACHE_WORD bytes through the context's
 * word cache (its final ids: a word starts with the known "▁", so fuse_unk
 * never joins unknowns across words).
 */
static int
encode_sp_words(struct rm_bpe_ctx *c, const unsigned char *w, size_t n,
		struct rm_ids *out, struct rm_error *err)
{
	const struct rm_bpe *b = c->b;

	if (!b->sp_cut)
		return encode_sp(c, w, n, out, err);
	for (size_t i = 0; i < n;) {
		size_t j = sp_next_cut(b, w, n, i), wn = j - i, n0 = out->n;
		uint64_t h = 0;
		int rc;

		if (wn <= CACHE_WORD) {
			const struct cslot *s;
			h = hash_bytes(w + i, wn);
			s = cache_get(c, w + i, wn, h);
			if (s != NULL) {
				if ((rc = rm_ids_reserve(out, s->vn, err)) < 0)
					return rc;
				memcpy(out->v + out->n, c->vals + s->voff,
				       s->vn * sizeof *out->v);
				out->n += s->vn;
				i = j;
				continue;
			}
		}
		if ((rc = encode_sp(c, w + i, wn, out, err)) < 0)
			return rc;
		if (wn <= CACHE_WORD && out->n - n0 <= CACHE_IDS / 4)
			cache_put(c, w + i, wn, h, out->v + n0, out->n - n0);
		i = j;
	}
	return 0;
}

static int
piece_cb(void *arg, const char *p, size_t n)
{
	struct rm_bpe_ctx *c = arg;
	int rc;

	if (c->b->sp)
		return encode_sp_words(c, (const unsigned char *)p, n, c->out,
				       NULL);
	if ((rc = rm_ids_reserve(c->out, n, NULL)) < 0)
		return rc;
	return encode_piece(c, (const unsigned char *)p, n, c->out, NULL);
}

static int legacy_encode(struct rm_bpe_ctx *c, const unsigned char *s,
			 size_t len, struct rm_ids *out, struct rm_error *err);

/* Split out the tokens of trie t that may be matched, encode the rest. */
static int section(struct rm_bpe_ctx *c, const char *s, size_t n, int first,
		   struct rm_error *err);

static int
allowed(const struct rm_bpe_ctx *c, int32_t id, size_t at, size_t len)
{
	if (!(c->b->flags[id] & F_HFSPECIAL))
		return 1;
	if (c->plain) {
		for (size_t k = 0; k < c->nplain; k++) {
			const struct rm_span *sp = &c->plain[k];
			if (at < sp->off + sp->len && sp->off < at + len)
				return 0;
		}
		return 1;
	}
	return c->specials == RM_BPE_SPECIALS_SPLIT;
}

/* Pieces of one section (no added token in it) of normalized text. */
static int
subsection(struct rm_bpe_ctx *c, const char *s, size_t n, int first,
	   struct rm_error *err)
{
	int rc;

	if (n == 0)
		return 0;
	if (c->b->pre == NULL) {
		if ((rc = rm_ids_reserve(c->out, n + 1, err)) < 0)
			return rc;
		return legacy_encode(c, (const unsigned char *)s, n, c->out, err);
	}
	rc = rm_pretok_split(c->pc, s, n, first, piece_cb, c, err);
	if (rc < 0 && err && err->msg[0] == '\0')
		rm_error_set(err, rc, "out of memory");
	return rc;
}

static int
section(struct rm_bpe_ctx *c, const char *s, size_t n, int first,
	struct rm_error *err)
{
	const struct trie *t = &c->b->added[1];
	const unsigned char *u;
	const char *ns = s;
	size_t nn = n, start = 0;
	int rc;

	if (n == 0)
		return 0;
	if (c->pc && (rc = rm_pretok_normalize(c->pc, s, n, &ns, &nn, err)) < 0)
		return rc;
	u = (const unsigned char *)ns;
	if (t->nnodes && nn > 0) {
		const struct rm_span *saved = c->plain;
		c->plain = NULL; /* offsets no longer line up after normalizing */
		for (size_t i = 0; i < nn;) {
			size_t l = 0;
			int32_t id = trie_match(t, u + i, nn - i, &l);
			if (id < 0 || !allowed(c, id, i, l)) {
				i++;
				continue;
			}
			if ((rc = subsection(c, ns + start, i - start, first, err)) < 0 ||
			    (rc = rm_ids_push(c->out, id, err)) < 0) {
				c->plain = saved;
				return rc;
			}
			i += l;
			start = i;
		}
		c->plain = saved;
	}
	return subsection(c, ns + start, nn - start, first, err);
}

/* Offset of the first byte that is not well-formed UTF-8, or n. */
static size_t
utf8_check(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t l;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = rm_utf8_decode(s + i, n - i, &cp)) == 0)
			return i;
		i += l;
	}
	return n;
}

static int
encode_hf(struct rm_bpe_ctx *c, const char *text, size_t len,
	  struct rm_ids *out, struct rm_error *err)
{
	const struct trie *t = &c->b->added[0];
	const unsigned char *u = (const unsigned char *)text;
	size_t n0 = out->n, start = 0, bad;
	int rc = 0;

	if ((c->b->pre || c->b->sp) && (bad = utf8_check(u, len)) < len)
		return rm_error_set(err, RM_EDATA,
		    "text is not valid UTF-8 at byte %zu", bad);
	c->out = out;
	if (t->nnodes) {
		for (size_t i = 0; i < len;) {
			size_t l = 0;
			int32_t id = trie_match(t, u + i, len - i, &l);
			if (id < 0 || !allowed(c, id, i, l)) {
				i++;
				continue;
			}
			if ((rc = section(c, text + start, i - start, start == 0,
			    err)) < 0 || (rc = rm_ids_push(out, id, err)) < 0)
				goto fail;
			i += l;
			start = i;
		}
	}
	if ((rc = section(c, text + start, len - start, start == 0, err)) == 0)
		return 0;
fail:
	out->n = n0;
	return rc;
}

int
rm_bpe_encode_plain(struct rm_bpe_ctx *c, const char *text, size_t len,
		    const struct rm_span *plain, size_t nplain,
		    struct rm_ids *out, struct rm_error *err)
{
	int rc;

	c->plain = plain;
	c->nplain = nplain;
	if (plain == NULL) {
		static const struct rm_span none;
		c->plain = &none;
		c->nplain = 0;
	}
	rc = rm_bpe_encode(c, text, len, out, err);
	c->plain = NULL;
	c->nplain = 0;
	return rc;
}

int
rm_bpe_encode(struct rm_bpe_ctx *c, const char *text, size_t len,
	      struct rm_ids *out, struct rm_error *err)
{
	if (c->b->kind == KIND_HF)
		return encode_hf(c, text, len, out, err);
	if (rm_ids_reserve(out, len + 1, err) < 0)
		return RM_ENOMEM;
	return legacy_encode(c, (const unsigned char *)text, len, out, err);
}

/* GPT-2's scheme: add_prefix_space, the hand-written pattern, merges. */
static int
legacy_encode(struct rm_bpe_ctx *c, const unsigned char *s0, size_t len,
	      struct rm_ids *out, struct rm_error *err)
{
	const struct rm_bpe *b = c->b;
	const unsigned char *s = s0;
	size_t n0 = out->n, i = 0;
	int rc;

	if (b->prefix_space && len > 0 && s0[0] != ' ') {
		if (len + 1 > c->pcap) {
			char *p = realloc(c->pbuf, len + 1);
			if (p == NULL)
				return rm_error_set(err, RM_ENOMEM,
						    "out of memory");
			c->pbuf = p;
			c->pcap = len + 1;
		}
		c->pbuf[0] = ' ';
		memcpy(c->pbuf + 1, s0, len);
		s = (const unsigned char *)c->pbuf;
		len++;
	}
	/* a token has at least one byte: len ids are enough */
	if ((rc = rm_ids_reserve(out, len, err)) < 0)
		return rc;
	if (b->kind == KIND_BYTES) {
		for (; i < len; i++)
			out->v[out->n++] = s[i];
		return 0;
	}
	while (i < len) {
		size_t j = piece_end(s, len, i);
		if ((rc = encode_piece(c, s + i, j - i, out, err)) < 0) {
			out->n = n0;
			return rc;
		}
		i = j;
	}
	return 0;
}

int
rm_bpe_decode(const struct rm_bpe *b, const int32_t *ids, size_t n,
	      char **buf, size_t *cap, size_t *len, struct rm_error *err)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		if (ids[i] < 0 || (size_t)ids[i] >= b->n_ids ||
		    !(b->flags[ids[i]] & F_USED))
			return rm_error_set(err, RM_EDATA,
					    "token id %ld out of range",
					    (long)ids[i]);
		total += tok_len(b, ids[i]);
	}
	if (*buf == NULL || *cap < total + 1) {
		char *p = realloc(*buf, total + 1);
		if (p == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		*buf = p;
		*cap = total + 1;
	}
	total = 0;
	for (size_t i = 0; i < n; i++) {
		const char *t = b->bytes + b->off[ids[i]];
		size_t l = tok_len(b, ids[i]);
		if (b->dec_bytes && (b->flags[ids[i]] & F_FALLBACK)) {
			(*buf)[total++] = (char)strtol(t + 3, NULL, 16);
			continue;
		}
		if (!b->dec_space) {
			memcpy(*buf + total, t, l);
			total += l;
			continue;
		}
		/* "▁" (3 bytes) becomes " ": never longer */
		for (size_t k = 0; k < l;)
			if (k + 3 <= l && memcmp(t + k, "\xe2\x96\x81", 3) == 0) {
				(*buf)[total++] = ' ';
				k += 3;
			} else {
				(*buf)[total++] = t[k++];
			}
	}
	if (b->dec_strip) {
		size_t k = 0;
		while (k < b->dec_strip && k < total && (*buf)[k] == ' ')
			k++;
		memmove(*buf, *buf + k, total - k);
		total -= k;
	}
	(*buf)[total] = '\0';
	*len = total;
	return 0;
}
