/*
 * t-jsonraw - member scanning, exact u64, splicing; and stats.h.
 */
#include <string.h>

#include "check.h"
#include "stream/jsonraw.h"
#include "data/stats.h"

static void
splice_case(const char *obj, const struct rm_jraw_field *f, size_t n,
	    const char *want)
{
	struct rm_buf b = { 0 };
	int rc = rm_jraw_splice(&b, obj, strlen(obj), f, n);

	CHECK(rc == 0 && strcmp(b.p, want) == 0, "splice %s: got %s, want %s",
	    obj, b.p ? b.p : "(null)", want);
	rm_buf_release(&b);
}

int
main(void)
{
	const char *obj = " { \"a\" : [1, {\"b\": \"}\"}], \"id\":18446744073709551615,"
	    "\"s\":\"x\\\"y\" , \"n\": -1.5e3 } ";
	struct rm_jraw_member m;
	const char *v;
	size_t pos = 0, n, count = 0;
	uint64_t u;

	while (rm_jraw_next(obj, strlen(obj), &pos, &m) == 1)
		count++;
	CHECK(count == 4, "members: %zu", count);
	CHECK(rm_jraw_find(obj, strlen(obj), "s", &v, &n) == 1 &&
	    n == 6 && memcmp(v, "\"x\\\"y\"", 6) == 0, "find s");
	CHECK(rm_jraw_find(obj, strlen(obj), "n", &v, &n) == 1 &&
	    n == 6 && memcmp(v, "-1.5e3", 6) == 0, "find n");
	CHECK(rm_jraw_find(obj, strlen(obj), "b", &v, &n) == 0, "nested key not top level");
	CHECK(rm_jraw_find(obj, strlen(obj), "id", &v, &n) == 1 &&
	    rm_jraw_parse_u64(v, n, &u) == 0 && u == UINT64_MAX, "u64 max");
	CHECK(rm_jraw_find("[1]", 3, "a", &v, &n) < 0, "not an object");
	CHECK(rm_jraw_find("{\"a\":", 5, "a", &v, &n) < 0, "truncated");
	CHECK(rm_jraw_find("{}", 2, "a", &v, &n) == 0, "empty object");

	CHECK(rm_jraw_parse_u64("18446744073709551616", 20, &u) < 0, "overflow");
	CHECK(rm_jraw_parse_u64("12.0", 4, &u) < 0, "fraction");
	CHECK(rm_jraw_parse_u64("1e3", 3, &u) < 0, "exponent");
	CHECK(rm_jraw_parse_u64("-1", 2, &u) < 0, "negative");
	CHECK(rm_jraw_parse_u64("01", 2, &u) < 0, "leading zero");
	CHECK(rm_jraw_parse_u64("\"0xff\"", 6, &u) == 0 && u == 255, "hex string");
	CHECK(rm_jraw_parse_u64("\"42\"", 4, &u) == 0 && u == 42, "decimal string");
	CHECK(rm_jraw_parse_u64("0", 1, &u) == 0 && u == 0, "zero");

	{
		struct rm_jraw_field f[] = {
			{ "margin", "0.5", 3 }, { "a", "2", 1 }, { "target", "1", 1 },
		};
		splice_case("{\"a\": 1, \"b\": \"a\"}", f, 3,
		    "{\"a\": 2, \"b\": \"a\",\"margin\":0.5,\"target\":1}");
		splice_case(" {} ", f, 1, " {\"margin\":0.5} ");
		splice_case("{ }", f, 1, "{ \"margin\":0.5}");
		splice_case("{\"margin\":9,\"x\":[]}\r", f, 1, "{\"margin\":0.5,\"x\":[]}\r");
	}

	{
		double x[] = { 3, 1, 2, 1 }, mean, std, s[4];
		size_t idx[4];

		rm_mean_std(x, 4, &mean, &std);
		CHECK_CLOSE(mean, 1.75, 1e-12, 0, "mean");
		CHECK_CLOSE(std, sqrt(0.6875), 1e-12, 0, "population std");
		memcpy(s, x, sizeof s);
		rm_sort_doubles(s, 4);
		CHECK_CLOSE(rm_quantile_sorted(s, 4, 0.5), 1.5, 1e-12, 0, "median");
		CHECK_CLOSE(rm_quantile_sorted(s, 4, 0.1), 1, 1e-12, 0, "q10");
		CHECK_CLOSE(rm_quantile_sorted(s, 4, 0.9), 2.7, 1e-12, 0, "q90");
		CHECK_CLOSE(rm_quantile_sorted(s, 4, 1), 3, 1e-12, 0, "max");
		CHECK(rm_rank_order(x, 4, idx) == 0 && idx[0] == 1 && idx[1] == 3 &&
		    idx[2] == 2 && idx[3] == 0, "rank order with ties by position");
		for (size_t nn = 1; nn < 40; nn++)
			for (size_t g = 1; g < 12; g++)
				for (size_t r = 0; r < nn; r++) {
					size_t j = rm_rank_group(r, nn, g);
					CHECK(j < g && j * nn / g <= r && r < (j + 1) * nn / g,
					    "rank group r=%zu n=%zu g=%zu -> %zu", r, nn, g, j);
				}
	}
	return check_done();
}
