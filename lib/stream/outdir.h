/*
 * outdir.h - output directories written as a whole (checkpoints): one
 * writer at a time, symbolic links followed on purpose, atomic replacement
 * that never deletes or writes through a link it did not create.
 *
 * A program that writes a directory resolves and locks it once, at the
 * start of the run, with rm_outdir_lock():
 *   - the name loses its trailing slashes ("ck/" is "ck"); "" is refused;
 *   - a symbolic link to a directory is followed: the directory it points
 *     at is the one replaced, and the link stays a link (a dangling link,
 *     or a link to something else, is refused);
 *   - "NAME.lock" beside the directory is created and flock(2)ed for the
 *     run, with the holder's pid written in it, so a second writer is
 *     refused at once with a message naming that pid.  The kernel drops the
 *     lock when its holder dies, so a lock file left by a killed run does
 *     not block the next one.
 * Each save then builds "NAME.tmp" (rm_dir_clear clears a stale one first)
 * and rm_dir_replace() puts it in place of NAME in one rename.
 *
 * Ownership: a struct rm_outdir is owned by its opener and released with
 * rm_outdir_unlock() (NULL-tolerant), which removes the lock file.
 */
#ifndef RM_OUTDIR_H
#define RM_OUTDIR_H

#include "base/error.h"

struct rm_outdir;

/*
 * rm_outdir_lock - resolve path as above and take its lock.  RM_EUSAGE for
 * an empty name, RM_EIO when the lock is held by another process (the
 * message names it) or cannot be made.
 */
int rm_outdir_lock(struct rm_outdir **od, const char *path, struct rm_error *err);
/* The directory to write: path resolved as above; lives as long as od. */
const char *rm_outdir_path(const struct rm_outdir *od);
void rm_outdir_unlock(struct rm_outdir *od);

/*
 * A predicate saying which file names a directory of ours may hold; the
 * replace and clear functions touch nothing else.
 */
typedef int (*rm_dir_ours_fn)(const char *name);

/*
 * rm_dir_check - 0 when dir is absent or a directory holding only files
 * ours() accepts; RM_EUSAGE naming the first other entry, or when dir is
 * a symbolic link or not a directory.
 */
int rm_dir_check(const char *dir, rm_dir_ours_fn ours, struct rm_error *err);

/*
 * rm_dir_clear - remove a directory this program wrote: its regular files
 * that ours() accepts, then the directory.  0 when dir is absent.  A
 * symbolic link or a non-directory under the name is refused and left
 * alone (never followed), and so is a directory holding anything else.
 */
int rm_dir_clear(const char *dir, rm_dir_ours_fn ours, struct rm_error *err);

/*
 * rm_dir_replace - put the complete directory tmp in place of dir: a plain
 * rename when dir is absent, otherwise an exchange of the two names
 * (renameat2 RENAME_EXCHANGE, or dir moved to "dir.old" first where the
 * file system lacks it) after which the old directory is cleared with
 * rm_dir_clear.  dir must be absent or pass rm_dir_check; a symbolic link
 * is refused (resolve it with rm_outdir_lock first).  The parent
 * directory is fsynced.
 */
int rm_dir_replace(const char *dir, const char *tmp, rm_dir_ours_fn ours,
		   struct rm_error *err);

#endif
