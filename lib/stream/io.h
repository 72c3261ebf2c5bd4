/*
 * io.h - byte streams: plain or zstd, files or stdin/stdout.
 *
 * Readers detect zstd by its frame magic (28 b5 2f fd), never by file name,
 * and decompress in bounded memory.  A zstd stream that ends inside a frame
 * is reported as truncated.  Writers go to stdout or to a named file; a named
 * file is written to a temporary file beside it and renamed into place only
 * by rm_out_commit(), so a failed or interrupted run never leaves a partial
 * output under the final name.  A named file that is a symbolic link is
 * resolved first: its target is replaced and the link stays (a dangling
 * link is refused).  Temporary files are created with O_EXCL (mkostemp),
 * so nothing is ever written through a link planted under their names.
 *
 * Ownership: a struct rm_in / rm_out is owned by its opener and released
 * with rm_in_close() / rm_out_commit() or rm_out_abort(); both close
 * functions accept NULL.  Names returned by rm_in_name() live as long as the
 * stream.
 */
#ifndef RM_IO_H
#define RM_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct rm_in;
struct rm_out;

/* Hard limit on one line of JSONL input (a record). */
#define RM_IN_MAX_LINE ((size_t)256 << 20)

/*
 * rm_in_open - open path for reading; NULL or "-" means standard input.
 * The stream's name for messages is the path, or "<stdin>".
 */
int rm_in_open(struct rm_in **inp, const char *path, struct rm_error *err);
/* rm_in_fdopen - wrap an already open descriptor (taken over and closed). */
int rm_in_fdopen(struct rm_in **inp, int fd, const char *name,
		 struct rm_error *err);
void rm_in_close(struct rm_in *in);
const char *rm_in_name(const struct rm_in *in);
/* 1 when the underlying bytes are zstd-compressed. */
int rm_in_is_zstd(const struct rm_in *in);

/*
 * rm_in_peek - make up to n (<= 4096) decompressed bytes available without
 * consuming them; *p points into the stream's buffer until the next call.
 * Returns the number available (less than n only at end of input) or < 0.
 */
ssize_t rm_in_peek(struct rm_in *in, const unsigned char **p, size_t n,
		   struct rm_error *err);

/*
 * rm_in_read - read exactly n bytes unless the input ends first.  Returns
 * the number of bytes read (0 at a clean end of input) or < 0 on error.
 */
ssize_t rm_in_read(struct rm_in *in, void *buf, size_t n,
		   struct rm_error *err);

/*
 * rm_in_getline - read one line into *buf (grown as needed, caller frees),
 * without its "\n" or "\r\n", NUL-terminated.  A last line without a newline
 * is returned as a line.  Returns 1 for a line, 0 at end of input, < 0 on
 * error (including a line longer than RM_IN_MAX_LINE).  *len gets the length.
 * The line counter (rm_in_line) counts lines returned so far.
 */
int rm_in_getline(struct rm_in *in, char **buf, size_t *cap, size_t *len,
		  struct rm_error *err);
size_t rm_in_line(const struct rm_in *in);
/* Lower the line limit for this stream (0 restores RM_IN_MAX_LINE). */
void rm_in_set_max_line(struct rm_in *in, size_t max);
/* The line limit in force: also the limit on one JSON array element. */
size_t rm_in_max_line(const struct rm_in *in);

/* rm_out_open flags */
enum {
	RM_OUT_ZSTD = 1,   /* compress (also implied by a path ending in .zst) */
	RM_OUT_BINARY = 2, /* refuse to write to a terminal */
	RM_OUT_PLAIN = 4,  /* never compress, even for a name ending in .zst */
};

/*
 * rm_out_open - open path for writing; NULL or "-" means standard output.
 * Output is compressed when flags has RM_OUT_ZSTD or path ends in ".zst";
 * compressed or RM_OUT_BINARY output is refused (RM_EUSAGE) on a terminal.
 * level is the zstd level (0 for the default, 3).
 */
int rm_out_open(struct rm_out **outp, const char *path, int flags, int level,
		struct rm_error *err);
const char *rm_out_name(const struct rm_out *out);
int rm_out_write(struct rm_out *out, const void *buf, size_t n,
		 struct rm_error *err);
int rm_out_printf(struct rm_out *out, struct rm_error *err,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The stream's sticky error code: 0 until a write failed, then < 0. */
int rm_out_error(const struct rm_out *out);
/* Push buffered bytes to the OS (ends the current zstd block); for pipes. */
int rm_out_flush(struct rm_out *out, struct rm_error *err);
/*
 * rm_out_commit - finish the stream (end the zstd frame, flush, fsync a
 * file, rename the temporary file into place) and free out.  On failure the
 * temporary file is removed and out is freed all the same.
 */
int rm_out_commit(struct rm_out *out, struct rm_error *err);
/* rm_out_abort - discard: remove the temporary file, free out. */
void rm_out_abort(struct rm_out *out);

/*
 * rm_io_unlink_temps - remove the temporary files of all outputs not yet
 * committed or aborted.  Async-signal-safe: rm_cli_init() calls it from
 * its SIGINT/SIGTERM/SIGHUP handler so an interrupted run leaves nothing.
 */
void rm_io_unlink_temps(void);

/*
 * rm_path_dir - the directory part of path as a new string (caller frees):
 * "." for a bare name, "/" for a name in the root, else everything before
 * the last '/'.  NULL when out of memory.
 */
char *rm_path_dir(const char *path);
/*
 * rm_sync_parent - fsync the directory holding path (rm_path_dir), so that
 * a rename or unlink in it is durable.  0, or RM_EIO / RM_ENOMEM.
 */
int rm_sync_parent(const char *path, struct rm_error *err);

/*
 * rm_atomic_write_file - write n bytes to path through a temporary file in
 * the same directory, fsync, rename, fsync the directory.
 */
int rm_atomic_write_file(const char *path, const void *buf, size_t n,
			 struct rm_error *err);

/*
 * rm_read_file - read a whole (possibly zstd-compressed) file into a new
 * buffer (caller frees), NUL-terminated for convenience; fails past limit.
 */
int rm_read_file(const char *path, size_t limit, char **buf, size_t *len,
		 struct rm_error *err);

#endif
