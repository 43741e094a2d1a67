/* files.h — the file-system steps a checkpoint is made of, each reporting failure as a status.
 *
 * Directories are made with their parents; small files (manifests, the `latest` pointer) are
 * written under a temporary name, fsynced and renamed, and the directory is fsynced after, so a
 * crash leaves the old file or the new one. A CRC is zlib's crc32 of the whole file. */
#ifndef TIDE_IO_FILES_H
#define TIDE_IO_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/tensor.h"

/* mkdir -p: path and its missing parents (mode 0777 & umask). */
tide_status tide_mkdirs(const char *path);
/* rm -rf: path, a file or a directory with everything under it; absent is fine. */
tide_status tide_remove_tree(const char *path);
/* The names in a directory except . and .., in no particular order; *names is one malloc
 * block (an array of n pointers followed by the strings): free(*names) frees it all. */
tide_status tide_list_dir(const char *path, char ***names, int *n);
/* fsync a directory, so that renames and creations in it are durable. */
tide_status tide_sync_dir(const char *path);
/* Writes len bytes to path through a temporary name, fsync and rename. */
tide_status tide_write_atomic(const char *path, const void *data, size_t len);
/* The end of a file streamed to the temporary name tmp: when ok (every write went through),
 * flush, fsync and close f, then rename tmp onto path; f is closed either way. Returns 1, or
 * 0 with the errno of the first failure (of the writes, when !ok) in *err after removing tmp. */
int tide_commit_temp(FILE *f, int ok, const char *tmp, const char *path, int *err);

/* rename(from, to), then fsync of to's directory. */
tide_status tide_rename_durable(const char *from, const char *to);
/* The whole file at path as a 1-d u8 tensor (out must be empty), and the bytes of a u8 tensor
 * written atomically (as tide_write_atomic): for moving checkpoint files between ranks. */
tide_status tide_read_file(tide_tensor *out, const char *path);
tide_status tide_write_tensor_file(const char *path, const tide_tensor *t);
/* zlib's crc32 and the length of the file at path. */
tide_status tide_file_crc32(const char *path, uint32_t *crc, int64_t *size);

#endif
