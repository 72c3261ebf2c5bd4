/*
 * outdir.c - locked, atomically replaced output directories (see outdir.h).
 *
 * Nothing here follows a symbolic link by accident: entries are examined
 * with lstat/fstatat(AT_SYMLINK_NOFOLLOW), directories opened with
 * O_NOFOLLOW and their files removed with unlinkat relative to the opened
 * descriptor, so a link planted under a name we use (NAME.tmp, NAME.old,
 * a file inside them) is reported, never deleted through.
 */
#include "stream/outdir.h"
#include "stream/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct rm_outdir {
	char *path;  /* the directory to write */
	char *lock;  /* path ".lock" */
	int fd;      /* the lock file, flocked */
};

static char *
dup_printf(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s", a, b);
	return s;
}

/* ---- the lock ------------------------------------------------------------ */

int
rm_outdir_lock(struct rm_outdir **odp, const char *path, struct rm_error *err)
{
	struct rm_outdir *od;
	struct stat sb, lb;
	size_t n;
	int rc;

	*odp = NULL;
	if (path == NULL || path[0] == '\0')
		return rm_error_set(err, RM_EUSAGE, "the output directory's name is empty");
	od = calloc(1, sizeof *od);
	if (od == NULL || (od->path = strdup(path)) == NULL) {
		free(od);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	od->fd = -1;
	n = strlen(od->path);
	while (n > 1 && od->path[n - 1] == '/')
		od->path[--n] = '\0';
	if (strcmp(od->path, "/") == 0 || strcmp(od->path, ".") == 0 ||
	    strcmp(od->path, "..") == 0 ||
	    (n >= 2 && strcmp(od->path + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(od->path + n - 3, "/..") == 0)) {
		rc = rm_error_set(err, RM_EUSAGE, "%s: cannot replace this directory as a whole; "
				  "name one below it", path);
		goto fail;
	}
	if (lstat(od->path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
		/* Followed on purpose: the directory pointed at is replaced,
		 * beside itself, and the link keeps pointing at it. */
		char *real = realpath(od->path, NULL);
		if (real == NULL || stat(real, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			rc = rm_error_set(err, RM_EUSAGE, "%s: a symbolic link to %s", path,
					  real ? "something that is not a directory" :
					  "nothing (a dangling link)");
			free(real);
			goto fail;
		}
		free(od->path);
		od->path = real;
	}
	if ((od->lock = dup_printf(od->path, ".lock")) == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto fail;
	}
	for (;;) {
		od->fd = open(od->lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (od->fd < 0) {
			rc = rm_error_set(err, RM_EIO, "%s: cannot create the lock file: %s",
					  od->lock, errno == ELOOP ? "it is a symbolic link" :
					  strerror(errno));
			goto fail;
		}
		if (flock(od->fd, LOCK_EX | LOCK_NB) < 0) {
			char pid[32] = "";
			if (errno != EWOULDBLOCK) {
				rc = rm_error_set(err, RM_EIO, "%s: flock: %s", od->lock,
						  strerror(errno));
				goto fail;
			}
			ssize_t k = pread(od->fd, pid, sizeof pid - 1, 0);
			pid[k > 0 ? k : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			rc = rm_error_set(err, RM_EIO, "%s: another run (pid %s) is writing it "
					  "(it holds %s)", path, pid[0] ? pid : "unknown", od->lock);
			goto fail;
		}
		/* The holder before us may have removed the file between our
		 * open and our flock: the lock counts only on the file that is
		 * still under the name. */
		if (fstat(od->fd, &sb) == 0 && lstat(od->lock, &lb) == 0 &&
		    sb.st_dev == lb.st_dev && sb.st_ino == lb.st_ino)
			break;
		close(od->fd);
		od->fd = -1;
	}
	char pid[32];
	int k = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(od->fd, 0) < 0 || pwrite(od->fd, pid, (size_t)k, 0) != k) {
		rc = rm_error_set(err, RM_EIO, "%s: %s", od->lock, strerror(errno));
		unlink(od->lock);
		goto fail;
	}
	*odp = od;
	return 0;
fail:
	if (od->fd >= 0)
		close(od->fd);
	free(od->lock);
	free(od->path);
	free(od);
	return rc;
}

const char *
rm_outdir_path(const struct rm_outdir *od)
{
	return od->path;
}

void
rm_outdir_unlock(struct rm_outdir *od)
{
	if (od == NULL)
		return;
	/* unlink while holding it: a waiter that opened the old file sees
	 * the name gone (or another file under it) and opens again */
	unlink(od->lock);
	close(od->fd);
	free(od->lock);
	free(od->path);
	free(od);
}

/* ---- replacing ------------------------------------------------------------- */

/*
 * Open dir as a directory without following a link: 0 and *d, or 1 when
 * absent, or < 0 (RM_EUSAGE for a link or a non-directory).
 */
static int
open_dir(const char *dir, DIR **d, struct rm_error *err)
{
	struct stat sb;
	int fd;

	*d = NULL;
	if (lstat(dir, &sb) < 0)
		return errno == ENOENT ? 1 : rm_error_set(err, RM_EIO, "%s: %s", dir,
							   strerror(errno));
	if (S_ISLNK(sb.st_mode))
		return rm_error_set(err, RM_EUSAGE, "%s: is a symbolic link, not a directory "
				    "this program wrote (left alone)", dir);
	if (!S_ISDIR(sb.st_mode))
		return rm_error_set(err, RM_EUSAGE, "%s: not a directory", dir);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (*d = fdopendir(fd)) == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return rm_error_set(err, RM_EIO, "%s: %s", dir, strerror(e));
	}
	return 0;
}

/* 1 when the entry is a regular file ours() accepts. */
static int
our_file(DIR *d, const struct dirent *e, rm_dir_ours_fn ours)
{
	struct stat sb;

	return ours(e->d_name) &&
	       fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(sb.st_mode);
}

static int
dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

int
rm_dir_check(const char *dir, rm_dir_ours_fn ours, struct rm_error *err)
{
	DIR *d;
	struct dirent *e;
	int rc = open_dir(dir, &d, err);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (!dot(e->d_name) && !our_file(d, e, ours))
			rc = rm_error_set(err, RM_EUSAGE, "%s: holds '%s', so it is not a "
					  "checkpoint directory to replace", dir, e->d_name);
	closedir(d);
	return rc;
}

int
rm_dir_clear(const char *dir, rm_dir_ours_fn ours, struct rm_error *err)
{
	DIR *d;
	struct dirent *e;
	int rc = open_dir(dir, &d, err);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (dot(e->d_name))
			continue;
		if (!our_file(d, e, ours))
			rc = rm_error_set(err, RM_EUSAGE, "%s: holds '%s', which this program "
					  "did not write (left alone)", dir, e->d_name);
		else if (unlinkat(dirfd(d), e->d_name, 0) < 0 && errno != ENOENT)
			rc = rm_error_set(err, RM_EIO, "%s/%s: %s", dir, e->d_name,
					  strerror(errno));
	}
	closedir(d);
	if (rc == 0 && rmdir(dir) < 0 && errno != ENOENT)
		rc = rm_error_set(err, RM_EIO, "%s: cannot remove: %s", dir, strerror(errno));
	return rc;
}

int
rm_dir_replace(const char *dir, const char *tmp, rm_dir_ours_fn ours,
	       struct rm_error *err)
{
	struct stat sb;
	int rc;

	if (lstat(dir, &sb) < 0) {
		if (errno != ENOENT)
			return rm_error_set(err, RM_EIO, "%s: %s", dir, strerror(errno));
		if (rename(tmp, dir) < 0)
			return rm_error_set(err, RM_EIO, "%s: %s", dir, strerror(errno));
		return rm_sync_parent(dir, err);
	}
	if ((rc = rm_dir_check(dir, ours, err)) < 0)
		return rc;
	if (S_ISLNK(sb.st_mode))  /* rm_dir_check refused it already */
		return rm_error_set(err, RM_EUSAGE, "%s: is a symbolic link", dir);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
		if ((rc = rm_sync_parent(dir, err)) < 0)
			return rc;
		return rm_dir_clear(tmp, ours, err);
	}
	/* no RENAME_EXCHANGE on this file system: move the old one aside */
	char *old = dup_printf(dir, ".old");
	if (old == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	if ((rc = rm_dir_clear(old, ours, err)) == 0) {
		if (rename(dir, old) < 0 || rename(tmp, dir) < 0)
			rc = rm_error_set(err, RM_EIO, "%s: cannot replace: %s", dir,
					  strerror(errno));
		else if ((rc = rm_sync_parent(dir, err)) == 0)
			rc = rm_dir_clear(old, ours, err);
	}
	free(old);
	return rc;
}
