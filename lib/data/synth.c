/*
 * synth.c - the synthetic preference world (see synth.h).
 */
#include "data/synth.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

/*
 * The vocabulary.  cls groups words of equal weight, so that a near-tie
 * can replace every word by another of its class without changing the
 * score: 0..7 quality classes, FILLER, then NOUN + topic.
 */
enum { NQCLASS = 8, FILLER = NQCLASS, NOUN = NQCLASS + 1, NTOPIC = 8 };

static const double qweight[NQCLASS] = {
	2.0, 1.5, 1.0, 0.5, -0.5, -1.0, -1.5, -2.0,
};

static const char *const qwords[NQCLASS][7] = {
	{ "carefully", "safely", "clearly", "thoroughly" },
	{ "gladly", "happily", "patiently", "gently" },
	{ "sure", "certainly", "recommend", "suggest", "helpful", "useful" },
	{ "try", "check", "consider", "plan", "first", "then" },
	{ "whatever", "probably", "somehow", "guess" },
	{ "dunno", "boring", "pointless", "skip", "lazy", "ugh" },
	{ "stupid", "useless", "ignore", "refuse" },
	{ "dangerous", "reckless", "hate", "never" },
};

static const char *const fillers[] = {
	"the", "a", "your", "you", "it", "and", "to", "with", "for", "this",
	"that", "can", "should", "will", "just", "some", "more", "about", "is",
	"be", "do", "get", "make", "keep", "use", "of", "on", "in", "at",
	"time", "now", "here", "so", "well", "also", "we", "if", "when",
};
#define NFILLER (sizeof fillers / sizeof fillers[0])

static const char *const nouns[NTOPIC][8] = {
	{ "soup", "bread", "pasta", "salad", "sauce", "oven", "recipe", "kitchen" },
	{ "roses", "tomatoes", "lawn", "soil", "seeds", "hedge", "compost", "garden" },
	{ "budget", "savings", "loan", "taxes", "rent", "account", "bills", "salary" },
	{ "trip", "flight", "luggage", "hotel", "passport", "itinerary", "train", "visa" },
	{ "sleep", "diet", "back", "posture", "workout", "stress", "headache", "routine" },
	{ "dog", "cat", "puppy", "kitten", "leash", "aquarium", "parrot", "litter" },
	{ "sink", "roof", "window", "door", "carpet", "heater", "fence", "garage" },
	{ "exam", "essay", "notes", "homework", "lecture", "thesis", "vocabulary", "schedule" },
};

static const char *const verbs[] = {
	"fix", "clean", "plan", "choose", "improve", "start", "protect", "organize",
};

static const char *const templates[] = {
	"How do I %s my %s?",
	"What is the best way to %s a %s?",
	"Can you help me %s the %s?",
	"Any tips to %s my %s?",
	"I need to %s my %s. What should I do?",
};

#define NELEM(a) (sizeof (a) / sizeof (a)[0])

static size_t
qclass_size(int c)
{
	size_t n = 0;

	while (n < NELEM(qwords[c]) && qwords[c][n])
		n++;
	return n;
}

/* A word of the generated text: its class and index inside the class. */
struct word {
	int cls, idx;
};

static const char *
word_text(struct word w)
{
	if (w.cls < NQCLASS)
		return qwords[w.cls][w.idx];
	if (w.cls == FILLER)
		return fillers[w.idx];
	return nouns[w.cls - NOUN][w.idx];
}

/* How responses are drawn: the training distribution and the policy's. */
struct dist {
	int len_lo, len_hi;       /* base word count, uniform */
	double len_slope;         /* extra words per unit of latent quality */
	double p_noun, p_qual;    /* word kind probabilities */
	double z_mean, z_std;     /* latent quality of a response */
	double q_bias;            /* positive classes favour the mild ones */
};

static const struct dist train_dist = { 8, 18, 1.2, 0.15, 0.35, 0.0, 1.0, 0.0 };
static const struct dist shift_dist = { 16, 32, 2.0, 0.25, 0.45, 0.8, 0.7, 0.6 };

#define MAXW 96

struct resp {
	struct word w[MAXW];
	int n;
	int breaks[MAXW];         /* 1 where a sentence ends after word i */
	double score, quality;
};

static double
sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

static struct word
draw_word(struct rm_rng *r, const struct dist *d, double z, int topic)
{
	double u = rm_rng_uniform_double(r);
	struct word w;

	if (u < d->p_noun) {
		int t = topic;
		if (rm_rng_uniform_double(r) >= sigmoid(1.2 * z + 1.0))
			t = (topic + 1 + (int)rm_rng_below(r, NTOPIC - 1)) % NTOPIC;
		w.cls = NOUN + t;
		w.idx = (int)rm_rng_below(r, 8);
	} else if (u < d->p_noun + d->p_qual) {
		int pos = rm_rng_uniform_double(r) < sigmoid(1.5 * z);
		int mag = (int)rm_rng_below(r, 4);
		/* the policy repeats the mild words it was rewarded for */
		if (pos && mag < 2 && rm_rng_uniform_double(r) < d->q_bias)
			mag += 2;
		w.cls = pos ? mag : NQCLASS - 1 - mag;
		w.idx = (int)rm_rng_below(r, qclass_size(w.cls));
	} else {
		w.cls = FILLER;
		w.idx = (int)rm_rng_below(r, NFILLER);
	}
	return w;
}

static void
draw_breaks(struct rm_rng *r, struct resp *p)
{
	int left = 0;

	for (int i = 0; i < p->n; i++) {
		if (left == 0)
			left = 4 + (int)rm_rng_below(r, 5);
		p->breaks[i] = --left == 0 || i == p->n - 1;
	}
}

static double
word_weight(int cls, int topic)
{
	if (cls < NQCLASS)
		return qweight[cls];
	if (cls == FILLER)
		return 0.0;
	return cls - NOUN == topic ? 1.0 : -1.0;
}

static double
score_words(const struct word *w, int n, int topic)
{
	double s = 0;

	for (int i = 0; i < n; i++)
		s += word_weight(w[i].cls, topic);
	return n ? 3.0 * s / n : 0.0;
}

static void
draw_resp(struct rm_rng *r, const struct dist *d, int topic, double noise,
	  struct resp *p)
{
	double z = d->z_mean + d->z_std * rm_rng_normal(r);
	int n = d->len_lo + (int)rm_rng_below(r, (uint64_t)(d->len_hi - d->len_lo + 1)) +
	    (int)lround(d->len_slope * z);

	p->n = n < 4 ? 4 : n > MAXW ? MAXW : n;
	for (int i = 0; i < p->n; i++)
		p->w[i] = draw_word(r, d, z, topic);
	draw_breaks(r, p);
	p->score = score_words(p->w, p->n, topic);
	p->quality = p->score + noise * rm_rng_normal(r);
}

/* The near-tie twin: every word replaced by one of the same class. */
static void
twin_resp(struct rm_rng *r, const struct resp *a, double noise,
	  struct resp *b)
{
	b->n = a->n;
	for (int i = 0; i < a->n; i++) {
		int cls = a->w[i].cls;
		size_t size = cls < NQCLASS ? qclass_size(cls) :
		    cls == FILLER ? NFILLER : 8;
		b->w[i].cls = cls;
		b->w[i].idx = (int)rm_rng_below(r, size);
	}
	draw_breaks(r, b);
	b->score = a->score;
	b->quality = b->score + noise * rm_rng_normal(r);
}

static int
render_resp(struct rm_buf *b, const struct resp *p)
{
	int start = 1;

	for (int i = 0; i < p->n; i++) {
		const char *t = word_text(p->w[i]);
		char first = start ? (char)toupper((unsigned char)t[0]) : t[0];

		if (rm_buf_append(b, " ", 1) < 0 || rm_buf_append(b, &first, 1) < 0 ||
		    rm_buf_puts(b, t + 1) < 0 ||
		    (p->breaks[i] && rm_buf_append(b, ".", 1) < 0))
			return RM_ENOMEM;
		start = p->breaks[i];
	}
	return 0;
}

static int
render_prompt(struct rm_buf *b, struct rm_rng *r, int topic)
{
	const char *tmpl = templates[rm_rng_below(r, NELEM(templates))];
	const char *verb = verbs[rm_rng_below(r, NELEM(verbs))];
	const char *noun = nouns[topic][rm_rng_below(r, 8)];

	if (rm_buf_puts(b, "\n\nHuman: ") < 0 ||
	    rm_buf_printf(b, tmpl, verb, noun) < 0 ||
	    rm_buf_puts(b, "\n\nAssistant:") < 0)
		return RM_ENOMEM;
	return 0;
}

struct rm_synth {
	struct rm_synth_options o;
	unsigned char *cat;       /* per training pair: CAT_* */
	struct rm_buf prompt, text;
	struct resp a, b;
};

enum { CAT_NORMAL, CAT_FLIP, CAT_TIE };
enum { SPLIT_TRAIN, SPLIT_TEST, SPLIT_GROUPS, SPLIT_ASSIGN };

void
rm_synth_defaults(struct rm_synth_options *o)
{
	o->seed = 1;
	o->n = 4000;
	o->flip = 0.2;
	o->ties = 0.2;
	o->noise = 0.1;
	o->min_margin = 0.5;
}

int
rm_synth_new(struct rm_synth **sp, const struct rm_synth_options *o,
	     struct rm_error *err)
{
	struct rm_synth *s;
	size_t *perm, nflip, ntie;
	struct rm_rng r;

	*sp = NULL;
	if (!(o->flip >= 0 && o->ties >= 0 && o->flip + o->ties <= 1))
		return rm_error_set(err, RM_EUSAGE,
		    "flip and tie fractions must be >= 0 with a sum <= 1");
	if (!(o->noise >= 0 && o->min_margin >= 0 && o->min_margin <= 5))
		return rm_error_set(err, RM_EUSAGE,
		    "noise must be >= 0 and the minimum margin in 0..5");
	s = calloc(1, sizeof *s);
	if (s == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	s->o = *o;
	s->cat = calloc(o->n ? o->n : 1, 1);
	perm = malloc((o->n ? o->n : 1) * sizeof *perm);
	if (s->cat == NULL || perm == NULL) {
		free(perm);
		rm_synth_free(s);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	/* Exact counts, placed at random: the first positions of a random
	 * permutation are flipped, the next ones are ties. */
	for (size_t i = 0; i < o->n; i++)
		perm[i] = i;
	rm_rng_stream(&r, o->seed, SPLIT_ASSIGN, 0, 0);
	rm_rng_shuffle(&r, perm, o->n);
	nflip = (size_t)llround(o->flip * (double)o->n);
	ntie = (size_t)llround(o->ties * (double)o->n);
	if (nflip + ntie > o->n)
		ntie = o->n - nflip;
	for (size_t i = 0; i < nflip + ntie; i++)
		s->cat[perm[i]] = i < nflip ? CAT_FLIP : CAT_TIE;
	free(perm);
	*sp = s;
	return 0;
}

void
rm_synth_free(struct rm_synth *s)
{
	if (s == NULL)
		return;
	free(s->cat);
	rm_buf_release(&s->prompt);
	rm_buf_release(&s->text);
	free(s);
}

/* Print x with 4 decimals, never as "-0.0000". */
static int
put_num(struct rm_buf *b, double x)
{
	if (fabs(x) < 5e-5)
		x = 0;
	return rm_buf_printf(b, "%.4f", x);
}

static int
put_transcript(struct rm_synth *s, struct rm_buf *out, const struct resp *p)
{
	rm_buf_reset(&s->text);
	if (rm_buf_append(&s->text, s->prompt.p, s->prompt.len) < 0 ||
	    render_resp(&s->text, p) < 0)
		return RM_ENOMEM;
	return rm_buf_json_string(out, s->text.p, s->text.len);
}

/* Draws of a pair before --min-margin is declared out of reach. */
#define SYNTH_MAX_DRAWS 1000000L

static int
make_pair(struct rm_synth *s, int split, size_t i, int cat, struct rm_buf *out)
{
	struct rm_rng r;
	int topic, rc;
	const struct resp *c, *rj;
	double margin;

	rm_rng_stream(&r, s->o.seed, (uint64_t)split, i, 0);
	topic = (int)rm_rng_below(&r, NTOPIC);
	rm_buf_reset(&s->prompt);
	if (render_prompt(&s->prompt, &r, topic) < 0)
		return RM_ENOMEM;
	draw_resp(&r, &train_dist, topic, s->o.noise, &s->a);
	if (cat == CAT_TIE) {
		twin_resp(&r, &s->a, s->o.noise, &s->b);
	} else {
		/* Redraw the second response until the pair is at least
		 * min_margin apart; when 200 tries fail (a first response
		 * near the middle, or a large margin), redraw both.  The
		 * margin is a promise: no pair breaks it. */
		long t;
		for (t = 0; t < SYNTH_MAX_DRAWS; t++) {
			if (t >= 200)
				draw_resp(&r, &train_dist, topic, s->o.noise, &s->a);
			draw_resp(&r, &train_dist, topic, s->o.noise, &s->b);
			if (fabs(s->a.quality - s->b.quality) >= s->o.min_margin)
				break;
		}
		if (t == SYNTH_MAX_DRAWS)
			return RM_EDATA;
	}
	c = s->a.quality >= s->b.quality ? &s->a : &s->b;
	rj = c == &s->a ? &s->b : &s->a;
	if (cat == CAT_FLIP) {
		const struct resp *t = c;
		c = rj;
		rj = t;
	}
	margin = c->quality - rj->quality;
	if ((rc = rm_buf_puts(out, "{\"chosen\":")) < 0 ||
	    (rc = put_transcript(s, out, c)) < 0 ||
	    (rc = rm_buf_puts(out, ",\"rejected\":")) < 0 ||
	    (rc = put_transcript(s, out, rj)) < 0 ||
	    (rc = rm_buf_puts(out, ",\"true_margin\":")) < 0 ||
	    (rc = put_num(out, margin)) < 0 ||
	    (rc = rm_buf_printf(out, ",\"flipped\":%s,\"tie\":%s}\n",
		cat == CAT_FLIP ? "true" : "false",
		cat == CAT_TIE ? "true" : "false")) < 0)
		return rc;
	return 0;
}

int
rm_synth_pair(struct rm_synth *s, size_t i, struct rm_buf *out)
{
	if (i >= s->o.n)
		return RM_EUSAGE;
	return make_pair(s, SPLIT_TRAIN, i, s->cat[i], out);
}

int
rm_synth_test_pair(struct rm_synth *s, size_t i, struct rm_buf *out)
{
	return make_pair(s, SPLIT_TEST, i, CAT_NORMAL, out);
}

int
rm_synth_group(struct rm_synth *s, size_t i, size_t k, struct rm_buf *out)
{
	double q[64];
	struct rm_rng r;
	int topic;

	if (k < 2 || k > 64)
		return RM_EUSAGE;
	rm_rng_stream(&r, s->o.seed, SPLIT_GROUPS, i, 0);
	topic = (int)rm_rng_below(&r, NTOPIC);
	rm_buf_reset(&s->prompt);
	if (render_prompt(&s->prompt, &r, topic) < 0 ||
	    rm_buf_puts(out, "{\"prompt\":") < 0 ||
	    rm_buf_json_string(out, s->prompt.p, s->prompt.len) < 0 ||
	    rm_buf_puts(out, ",\"responses\":[") < 0)
		return RM_ENOMEM;
	for (size_t j = 0; j < k; j++) {
		draw_resp(&r, &shift_dist, topic, s->o.noise, &s->a);
		q[j] = s->a.quality;
		rm_buf_reset(&s->text);
		if (render_resp(&s->text, &s->a) < 0 ||
		    (j && rm_buf_append(out, ",", 1) < 0) ||
		    rm_buf_json_string(out, s->text.p, s->text.len) < 0)
			return RM_ENOMEM;
	}
	if (rm_buf_puts(out, "],\"true_scores\":[") < 0)
		return RM_ENOMEM;
	for (size_t j = 0; j < k; j++)
		if ((j && rm_buf_append(out, ",", 1) < 0) || put_num(out, q[j]) < 0)
			return RM_ENOMEM;
	return rm_buf_puts(out, "]}\n");
}

/* Look a lower-case word up: its class, or -1 when unknown. */
static int
lookup(const char *w, size_t n)
{
	for (int c = 0; c < NQCLASS; c++)
		for (size_t j = 0; j < qclass_size(c); j++)
			if (strlen(qwords[c][j]) == n && memcmp(qwords[c][j], w, n) == 0)
				return c;
	for (size_t j = 0; j < NFILLER; j++)
		if (strlen(fillers[j]) == n && memcmp(fillers[j], w, n) == 0)
			return FILLER;
	for (int t = 0; t < NTOPIC; t++)
		for (int j = 0; j < 8; j++)
			if (strlen(nouns[t][j]) == n && memcmp(nouns[t][j], w, n) == 0)
				return NOUN + t;
	return -1;
}

/* Call fn for every word (run of ASCII letters, lower-cased) of s. */
static int
next_word(const char *s, size_t n, size_t *pos, char *w, size_t cap)
{
	size_t i = *pos, len = 0;

	while (i < n && !isalpha((unsigned char)s[i]))
		i++;
	if (i >= n)
		return 0;
	while (i < n && isalpha((unsigned char)s[i])) {
		if (len < cap - 1)
			w[len++] = (char)tolower((unsigned char)s[i]);
		i++;
	}
	w[len] = '\0';
	*pos = i;
	return 1;
}

double
rm_synth_score(const char *prompt, size_t prompt_len, const char *response,
	       size_t response_len)
{
	char w[32];
	size_t pos = 0, n = 0;
	int topic = -1, c;
	double s = 0;

	while (topic < 0 && next_word(prompt, prompt_len, &pos, w, sizeof w))
		if ((c = lookup(w, strlen(w))) >= NOUN)
			topic = c - NOUN;
	pos = 0;
	while (next_word(response, response_len, &pos, w, sizeof w)) {
		n++;
		if ((c = lookup(w, strlen(w))) >= 0)
			s += word_weight(c, topic);
	}
	return n ? 3.0 * s / (double)n : 0.0;
}
