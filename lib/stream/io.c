/*
 * io.c - byte streams: plain or zstd input detected by content, buffered
 * output (optionally zstd) written atomically through a temporary file.
 *
 * Input keeps two bounded buffers: `raw` holds bytes as read from the
 * descriptor (only used for zstd), `buf` holds the bytes callers see.  The
 * decompressor's own window is bounded by zstd's default window limit
 * (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 128 MiB), so memory stays bounded whatever
 * the frame headers claim.
 */
#include "stream/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#define IN_BUF_SIZE ((size_t)256 << 10)   /* decompressed / plain buffer */
#define PEEK_MAX 4096
#define OUT_BUF_SIZE ((size_t)128 << 10)

struct rm_in {
	int fd;
	int own_fd;
	char *name;
	int zstd;
	ZSTD_DCtx *dctx;
	int frame_open;         /* last ZSTD_decompressStream returned != 0 */
	unsigned char *raw;     /* compressed bytes (zstd only) */
	size_t raw_cap, raw_pos, raw_len;
	int raw_eof;
	unsigned char *buf;     /* bytes as the caller sees them */
	size_t pos, len;        /* unread bytes are buf[pos..len) */
	int eof;                /* no more bytes will arrive in buf */
	size_t line;
	size_t max_line;
};

static int
read_fd(int fd, void *p, size_t n, const char *name, size_t *got,
	struct rm_error *err)
{
	ssize_t r;

	for (;;) {
		r = read(fd, p, n);
		if (r >= 0)
			break;
		if (errno != EINTR)
			return rm_error_set(err, RM_EIO, "%s: read error: %s",
					    name, strerror(errno));
	}
	*got = (size_t)r;
	return 0;
}

/* Read raw bytes until at least 4 are present (or EOF) to sniff the magic. */
static int
in_sniff(struct rm_in *in, struct rm_error *err)
{
	size_t got;
	int rc;

	while (in->len < 4) {
		rc = read_fd(in->fd, in->buf + in->len, IN_BUF_SIZE - in->len,
			     in->name, &got, err);
		if (rc < 0)
			return rc;
		if (got == 0) {
			in->eof = 1;
			break;
		}
		in->len += got;
	}
	if (in->len >= 4) {
		const unsigned char *b = in->buf;
		uint32_t m = (uint32_t)b[0] | (uint32_t)b[1] << 8 |
			     (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
		/* zstd frame, or a skippable frame 0x184D2A5? */
		in->zstd = m == 0xFD2FB528u || (m & 0xFFFFFFF0u) == 0x184D2A50u;
	}
	if (!in->zstd)
		return 0;
	/* Move what was read into the raw buffer; buf will hold output. */
	in->raw_cap = ZSTD_DStreamInSize();
	if (in->raw_cap < in->len)
		in->raw_cap = in->len;
	in->raw = malloc(in->raw_cap);
	in->dctx = ZSTD_createDCtx();
	if (in->raw == NULL || in->dctx == NULL)
		return rm_error_set(err, RM_ENOMEM, "%s: out of memory",
				    in->name);
	memcpy(in->raw, in->buf, in->len);
	in->raw_len = in->len;
	in->raw_eof = in->eof;
	in->len = 0;
	in->eof = 0;
	return 0;
}

int
rm_in_fdopen(struct rm_in **inp, int fd, const char *name,
	     struct rm_error *err)
{
	struct rm_in *in;
	int rc;

	*inp = NULL;
	in = calloc(1, sizeof *in);
	if (in == NULL) {
		if (fd > 2)
			close(fd);
		return rm_error_set(err, RM_ENOMEM, "%s: out of memory", name);
	}
	in->fd = fd;
	in->own_fd = 1;
	in->max_line = RM_IN_MAX_LINE;
	in->name = strdup(name ? name : "<input>");
	in->buf = malloc(IN_BUF_SIZE);
	if (in->name == NULL || in->buf == NULL) {
		rm_in_close(in);
		return rm_error_set(err, RM_ENOMEM, "%s: out of memory",
				    name ? name : "<input>");
	}
	rc = in_sniff(in, err);
	if (rc < 0) {
		rm_in_close(in);
		return rc;
	}
	*inp = in;
	return 0;
}

int
rm_in_open(struct rm_in **inp, const char *path, struct rm_error *err)
{
	int fd, rc;

	*inp = NULL;
	if (path == NULL || strcmp(path, "-") == 0) {
		rc = rm_in_fdopen(inp, 0, "<stdin>", err);
		if (rc == 0)
			(*inp)->own_fd = 0;  /* leave stdin open */
		return rc;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rm_error_set(err, RM_EIO, "%s: %s", path,
				    strerror(errno));
	return rm_in_fdopen(inp, fd, path, err);
}

void
rm_in_close(struct rm_in *in)
{
	if (in == NULL)
		return;
	if (in->own_fd && in->fd >= 0)
		close(in->fd);
	ZSTD_freeDCtx(in->dctx);
	free(in->raw);
	free(in->buf);
	free(in->name);
	free(in);
}

const char *
rm_in_name(const struct rm_in *in)
{
	return in->name;
}

int
rm_in_is_zstd(const struct rm_in *in)
{
	return in->zstd;
}

size_t
rm_in_line(const struct rm_in *in)
{
	return in->line;
}

void
rm_in_set_max_line(struct rm_in *in, size_t max)
{
	in->max_line = max ? max : RM_IN_MAX_LINE;
}

size_t
rm_in_max_line(const struct rm_in *in)
{
	return in->max_line;
}

/*
 * Decompress into buf[len..IN_BUF_SIZE).  Returns the number of bytes
 * produced, 0 at the end of input, < 0 on error.  The input ends cleanly
 * only between frames; ending inside one is a truncated stream.
 */
static ssize_t
zfill(struct rm_in *in, struct rm_error *err)
{
	size_t got, r;
	int rc;

	for (;;) {
		if (in->raw_pos == in->raw_len && !in->raw_eof) {
			rc = read_fd(in->fd, in->raw, in->raw_cap, in->name,
				     &got, err);
			if (rc < 0)
				return rc;
			in->raw_pos = 0;
			in->raw_len = got;
			if (got == 0)
				in->raw_eof = 1;
		}
		ZSTD_inBuffer ib = { in->raw + in->raw_pos,
				     in->raw_len - in->raw_pos, 0 };
		ZSTD_outBuffer ob = { in->buf + in->len,
				      IN_BUF_SIZE - in->len, 0 };
		if (ib.size == 0 && !in->frame_open)
			return 0;
		r = ZSTD_decompressStream(in->dctx, &ob, &ib);
		if (ZSTD_isError(r))
			return rm_error_set(err, RM_EDATA, "%s: zstd: %s",
					    in->name, ZSTD_getErrorName(r));
		in->raw_pos += ib.pos;
		in->len += ob.pos;
		in->frame_open = r != 0;
		if (ob.pos > 0)
			return (ssize_t)ob.pos;
		if (ib.size == 0)  /* at EOF, nothing more to flush */
			return rm_error_set(err, RM_EDATA,
					    "%s: truncated zstd stream",
					    in->name);
	}
}

/* Append more bytes after buf[len]; returns bytes added, 0 at EOF, < 0. */
static ssize_t
in_fill(struct rm_in *in, struct rm_error *err)
{
	size_t got;
	ssize_t n;
	int rc;

	if (in->eof)
		return 0;
	if (in->pos == in->len) {
		in->pos = in->len = 0;
	} else if (in->len == IN_BUF_SIZE) {
		memmove(in->buf, in->buf + in->pos, in->len - in->pos);
		in->len -= in->pos;
		in->pos = 0;
	}
	if (in->zstd) {
		n = zfill(in, err);
	} else {
		rc = read_fd(in->fd, in->buf + in->len, IN_BUF_SIZE - in->len,
			     in->name, &got, err);
		if (rc < 0)
			return rc;
		in->len += got;
		n = (ssize_t)got;
	}
	if (n == 0)
		in->eof = 1;
	return n;
}

ssize_t
rm_in_peek(struct rm_in *in, const unsigned char **p, size_t n,
	   struct rm_error *err)
{
	ssize_t r;

	if (n > PEEK_MAX)
		return rm_error_set(err, RM_EUSAGE,
				    "%s: peek of %zu bytes is too large",
				    in->name, n);
	if (in->len - in->pos < n && in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->len - in->pos);
		in->len -= in->pos;
		in->pos = 0;
	}
	while (in->len - in->pos < n) {
		r = in_fill(in, err);
		if (r < 0)
			return r;
		if (r == 0)
			break;
	}
	*p = in->buf + in->pos;
	return (ssize_t)(in->len - in->pos < n ? in->len - in->pos : n);
}

ssize_t
rm_in_read(struct rm_in *in, void *buf, size_t n, struct rm_error *err)
{
	unsigned char *d = buf;
	size_t done = 0, k;
	ssize_t r;

	while (done < n) {
		if (in->pos == in->len) {
			r = in_fill(in, err);
			if (r < 0)
				return r;
			if (r == 0)
				break;
		}
		k = in->len - in->pos;
		if (k > n - done)
			k = n - done;
		memcpy(d + done, in->buf + in->pos, k);
		in->pos += k;
		done += k;
	}
	return (ssize_t)done;
}

/* Make room for need+1 bytes in *buf. */
static int
grow(char **buf, size_t *cap, size_t need, const char *name,
     struct rm_error *err)
{
	size_t c;
	char *p;

	if (need < *cap && *buf != NULL)
		return 0;
	c = *cap ? *cap : 256;
	while (c <= need)
		c *= 2;
	p = realloc(*buf, c);
	if (p == NULL)
		return rm_error_set(err, RM_ENOMEM, "%s: out of memory", name);
	*buf = p;
	*cap = c;
	return 0;
}

int
rm_in_getline(struct rm_in *in, char **buf, size_t *cap, size_t *len,
	      struct rm_error *err)
{
	size_t n = 0, k;
	unsigned char *nl;
	ssize_t r;
	int rc, found = 0, any = 0;

	*len = 0;
	for (;;) {
		if (in->pos == in->len) {
			r = in_fill(in, err);
			if (r < 0)
				return r;
			if (r == 0)
				break;
		}
		any = 1;
		nl = memchr(in->buf + in->pos, '\n', in->len - in->pos);
		k = nl ? (size_t)(nl - (in->buf + in->pos))
		       : in->len - in->pos;
		if (n + k > in->max_line)
			return rm_error_set(err, RM_EDATA,
					    "%s:%zu: line longer than %zu bytes",
					    in->name, in->line + 1,
					    in->max_line);
		rc = grow(buf, cap, n + k, in->name, err);
		if (rc < 0)
			return rc;
		memcpy(*buf + n, in->buf + in->pos, k);
		n += k;
		in->pos += k;
		if (nl) {
			in->pos++;
			found = 1;
			break;
		}
	}
	if (!any)
		return 0;
	if (found && n > 0 && (*buf)[n - 1] == '\r')
		n--;
	rc = grow(buf, cap, n, in->name, err);
	if (rc < 0)
		return rc;
	(*buf)[n] = '\0';
	*len = n;
	in->line++;
	return 1;
}

int
rm_read_file(const char *path, size_t limit, char **bufp, size_t *lenp,
	     struct rm_error *err)
{
	struct rm_in *in;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	ssize_t r;
	int rc;

	*bufp = NULL;
	*lenp = 0;
	rc = rm_in_open(&in, path, err);
	if (rc < 0)
		return rc;
	for (;;) {
		if (len == limit) {
			/* Full: is there more? */
			unsigned char extra;
			r = rm_in_read(in, &extra, 1, err);
			if (r > 0)
				r = rm_error_set(err, RM_ENOMEM,
						 "%s: larger than %zu bytes",
						 in->name, limit);
			if (r < 0)
				goto fail;
			break;
		}
		if (len + 1 >= cap) {
			size_t want = cap ? cap * 2 : 65536;
			if (want > limit + 1)
				want = limit + 1;
			if (want <= len + 1)
				want = len + 2;
			char *p = realloc(buf, want);
			if (p == NULL) {
				r = rm_error_set(err, RM_ENOMEM,
						 "%s: out of memory", in->name);
				goto fail;
			}
			buf = p;
			cap = want;
		}
		size_t want = cap - 1 - len;
		if (want > limit - len)
			want = limit - len;
		r = rm_in_read(in, buf + len, want, err);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = rm_error_set(err, RM_ENOMEM, "%s: out of memory", in->name);
		goto fail;
	}
	buf[len] = '\0';
	rm_in_close(in);
	*bufp = buf;
	*lenp = len;
	return 0;
fail:
	rm_in_close(in);
	free(buf);
	return (int)r;
}

/* ------------------------------------------------------------------ */
/* Output                                                             */

struct rm_out {
	int fd;
	int is_stdout;
	char *name;             /* for messages: the final path or <stdout> */
	char *tmp;              /* temporary file to rename, or NULL */
	int zstd;
	ZSTD_CCtx *cctx;
	unsigned char *buf;     /* pending uncompressed bytes */
	size_t len;
	unsigned char *zbuf;    /* compressed output */
	size_t zcap;
	int failed;             /* sticky error code */
};

/*
 * Temporary files of open outputs, for rm_io_unlink_temps() in a signal
 * handler.  A slot is cleared before its string is freed, so the handler
 * sees a valid path or NULL.  Outputs beyond the table still work; they
 * are only not cleaned up on a signal.
 */
#define TEMP_SLOTS 64
static char *volatile temp_slots[TEMP_SLOTS];

static void
temp_register(char *path)
{
	for (int i = 0; i < TEMP_SLOTS; i++) {
		char *expect = NULL;
		if (__atomic_compare_exchange_n(&temp_slots[i], &expect, path,
						0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return;
	}
}

static void
temp_forget(const char *path)
{
	for (int i = 0; i < TEMP_SLOTS; i++) {
		char *expect = (char *)path;
		if (__atomic_compare_exchange_n(&temp_slots[i], &expect, NULL,
						0, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return;
	}
}

void
rm_io_unlink_temps(void)
{
	for (int i = 0; i < TEMP_SLOTS; i++) {
		char *p = __atomic_load_n(&temp_slots[i], __ATOMIC_SEQ_CST);
		if (p != NULL)
			unlink(p);
	}
}

static int
write_all(struct rm_out *out, const void *p, size_t n, struct rm_error *err)
{
	const unsigned char *b = p;
	ssize_t w;

	if (out->failed)
		return rm_error_set(err, out->failed,
				    "%s: write failed earlier", out->name);
	while (n > 0) {
		w = write(out->fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE) {
				out->failed = RM_EPIPE;
				return rm_error_set(err, RM_EPIPE,
						    "%s: broken pipe",
						    out->name);
			}
			out->failed = RM_EIO;
			return rm_error_set(err, RM_EIO, "%s: write error: %s",
					    out->name, strerror(errno));
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Feed buf[0..len) to the compressor (or the fd) with the given mode. */
static int
out_drain(struct rm_out *out, ZSTD_EndDirective mode, struct rm_error *err)
{
	int rc;

	if (!out->zstd) {
		rc = write_all(out, out->buf, out->len, err);
		out->len = 0;
		return rc;
	}
	ZSTD_inBuffer ib = { out->buf, out->len, 0 };
	for (;;) {
		ZSTD_outBuffer ob = { out->zbuf, out->zcap, 0 };
		size_t left = ZSTD_compressStream2(out->cctx, &ob, &ib, mode);
		if (ZSTD_isError(left)) {
			out->failed = RM_EIO;
			return rm_error_set(err, RM_EIO, "%s: zstd: %s",
					    out->name,
					    ZSTD_getErrorName(left));
		}
		rc = write_all(out, out->zbuf, ob.pos, err);
		if (rc < 0)
			return rc;
		if (mode == ZSTD_e_continue ? ib.pos == ib.size : left == 0)
			break;
	}
	out->len = 0;
	return 0;
}

static mode_t
file_mode(void)
{
	mode_t m = umask(0);

	umask(m);
	return 0666 & ~m;
}

/*
 * Open the output.  A regular (or not yet existing) file is written as
 * "<path>.tmp.XXXXXX" and renamed at commit; anything else that exists
 * (/dev/null, a FIFO, /dev/stdout) is written directly.  A symbolic link
 * is resolved first, so the link survives and its target is replaced.
 */
static int
out_open(struct rm_out **outp, const char *path, int zstd, int binary,
	 int level, struct rm_error *err)
{
	struct rm_out *out;
	struct stat st;
	int rc;

	*outp = NULL;
	out = calloc(1, sizeof *out);
	if (out == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	out->fd = -1;
	out->zstd = zstd;
	if (path == NULL || strcmp(path, "-") == 0) {
		out->fd = 1;
		out->is_stdout = 1;
		out->name = strdup("<stdout>");
	} else {
		out->name = strdup(path);
	}
	out->buf = malloc(OUT_BUF_SIZE);
	if (out->name == NULL || out->buf == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	if (!out->is_stdout && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) &&
	    (stat(path, &st) < 0 || S_ISREG(st.st_mode))) {
		/* Followed on purpose: the file pointed at is replaced (its
		 * temporary file beside it) and the link stays a link.  A link
		 * to a device or pipe (/dev/stdout) is written through below. */
		char *real = realpath(path, NULL);
		if (real == NULL) {
			rc = rm_error_set(err, RM_EIO, "%s: a symbolic link to nothing "
					  "(a dangling link)", path);
			goto fail;
		}
		free(out->name);
		out->name = real;
		path = real;
	}
	if (!out->is_stdout) {
		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (S_ISDIR(st.st_mode)) {
				rc = rm_error_set(err, RM_EIO,
						  "%s: is a directory", path);
				goto fail;
			}
			out->fd = open(path, O_WRONLY | O_CLOEXEC);
			if (out->fd < 0) {
				rc = rm_error_set(err, RM_EIO, "%s: %s", path,
						  strerror(errno));
				goto fail;
			}
		} else {
			size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
			out->tmp = malloc(n);
			if (out->tmp == NULL) {
				rc = rm_error_set(err, RM_ENOMEM,
						  "out of memory");
				goto fail;
			}
			snprintf(out->tmp, n, "%s.tmp.XXXXXX", path);
			out->fd = mkostemp(out->tmp, O_CLOEXEC);
			if (out->fd < 0) {
				rc = rm_error_set(err, RM_EIO,
						  "%s: cannot create temporary file: %s",
						  path, strerror(errno));
				free(out->tmp);
				out->tmp = NULL;
				goto fail;
			}
			temp_register(out->tmp);
			if (fchmod(out->fd, file_mode()) < 0) {
				rc = rm_error_set(err, RM_EIO, "%s: %s",
						  out->tmp, strerror(errno));
				goto fail;
			}
		}
	}
	if ((zstd || binary) && isatty(out->fd)) {
		rc = rm_error_set(err, RM_EUSAGE,
				  "refusing to write %s data to a terminal "
				  "(redirect it or use -o FILE)",
				  zstd ? "compressed" : "binary");
		goto fail;
	}
	if (zstd) {
		out->cctx = ZSTD_createCCtx();
		out->zcap = ZSTD_CStreamOutSize();
		out->zbuf = malloc(out->zcap);
		if (out->cctx == NULL || out->zbuf == NULL) {
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
			goto fail;
		}
		size_t r = ZSTD_CCtx_setParameter(out->cctx,
						  ZSTD_c_compressionLevel,
						  level ? level : 3);
		if (!ZSTD_isError(r))
			r = ZSTD_CCtx_setParameter(out->cctx,
						   ZSTD_c_checksumFlag, 1);
		if (ZSTD_isError(r)) {
			rc = rm_error_set(err, RM_EUSAGE, "zstd level %d: %s",
					  level, ZSTD_getErrorName(r));
			goto fail;
		}
	}
	*outp = out;
	return 0;
fail:
	rm_out_abort(out);
	return rc;
}

int
rm_out_open(struct rm_out **outp, const char *path, int flags, int level,
	    struct rm_error *err)
{
	int zstd = (flags & RM_OUT_ZSTD) != 0;
	size_t n = path ? strlen(path) : 0;

	if (n > 4 && strcmp(path + n - 4, ".zst") == 0)
		zstd = 1;
	if (flags & RM_OUT_PLAIN)
		zstd = 0;
	return out_open(outp, path, zstd, (flags & RM_OUT_BINARY) != 0,
			level, err);
}

const char *
rm_out_name(const struct rm_out *out)
{
	return out->name;
}

int
rm_out_write(struct rm_out *out, const void *buf, size_t n,
	     struct rm_error *err)
{
	const unsigned char *p = buf;
	size_t k;
	int rc;

	if (out->failed)
		return rm_error_set(err, out->failed,
				    "%s: write failed earlier", out->name);
	while (n > 0) {
		if (out->len == OUT_BUF_SIZE) {
			rc = out_drain(out, ZSTD_e_continue, err);
			if (rc < 0)
				return rc;
		}
		k = OUT_BUF_SIZE - out->len;
		if (k > n)
			k = n;
		memcpy(out->buf + out->len, p, k);
		out->len += k;
		p += k;
		n -= k;
	}
	return 0;
}

int
rm_out_printf(struct rm_out *out, struct rm_error *err, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return rm_error_set(err, RM_EUSAGE, "%s: bad format", out->name);
	if ((size_t)n >= sizeof small) {
		p = malloc((size_t)n + 1);
		if (p == NULL)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = rm_out_write(out, p, (size_t)n, err);
	if (p != small)
		free(p);
	return rc;
}

int
rm_out_error(const struct rm_out *out)
{
	return out->failed;
}

int
rm_out_flush(struct rm_out *out, struct rm_error *err)
{
	return out_drain(out, ZSTD_e_flush, err);
}

char *
rm_path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int
rm_sync_parent(const char *path, struct rm_error *err)
{
	char *dir = rm_path_dir(path);
	int fd, rc = 0;

	if (dir == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (fsync(fd) < 0 && errno != EINVAL))
		rc = rm_error_set(err, RM_EIO, "%s: fsync: %s", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

int
rm_out_commit(struct rm_out *out, struct rm_error *err)
{
	int rc;

	if (out == NULL)
		return 0;
	rc = out_drain(out, ZSTD_e_end, err);
	if (rc == 0 && out->tmp != NULL) {
		if (fsync(out->fd) < 0)
			rc = rm_error_set(err, RM_EIO, "%s: fsync: %s",
					  out->name, strerror(errno));
		else if (close(out->fd) < 0)
			rc = rm_error_set(err, RM_EIO, "%s: close: %s",
					  out->name, strerror(errno));
		out->fd = -1;
		if (rc == 0 && rename(out->tmp, out->name) < 0)
			rc = rm_error_set(err, RM_EIO, "%s: rename: %s",
					  out->name, strerror(errno));
		if (rc == 0) {
			temp_forget(out->tmp);
			free(out->tmp);
			out->tmp = NULL;
			rc = rm_sync_parent(out->name, err);
		}
	} else if (rc == 0 && !out->is_stdout) {
		if (close(out->fd) < 0)
			rc = rm_error_set(err, RM_EIO, "%s: close: %s",
					  out->name, strerror(errno));
		out->fd = -1;
	}
	rm_out_abort(out);
	return rc;
}

void
rm_out_abort(struct rm_out *out)
{
	if (out == NULL)
		return;
	if (out->fd >= 0 && !out->is_stdout)
		close(out->fd);
	if (out->tmp != NULL) {
		unlink(out->tmp);
		temp_forget(out->tmp);
	}
	ZSTD_freeCCtx(out->cctx);
	free(out->zbuf);
	free(out->buf);
	free(out->tmp);
	free(out->name);
	free(out);
}

int
rm_atomic_write_file(const char *path, const void *buf, size_t n,
		     struct rm_error *err)
{
	struct rm_out *out;
	int rc;

	rc = out_open(&out, path, 0, 0, 0, err);
	if (rc < 0)
		return rc;
	rc = rm_out_write(out, buf, n, err);
	if (rc < 0) {
		rm_out_abort(out);
		return rc;
	}
	return rm_out_commit(out, err);
}
