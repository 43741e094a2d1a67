/* ckpt_writer.h — writing one rank's part of a checkpoint, now or on a background thread.
 *
 * A checkpoint step is written into DIR/step-N.tmp/. Every rank writes its safetensors files
 * there, then a small "part" file: its entries of the manifest's "files" object
 * (`"rank-00001.safetensors":{"crc32":...,"size":...}`), written atomically last, so a part
 * that exists means the rank's files are complete on disk. Rank 0 then finalises: it waits for
 * every rank's part (polling the directory: no message between ranks, so an asynchronous save
 * finishes even while the other ranks compute, and at exit), writes manifest.json (the prefix
 * and suffix the caller built around the parts, then `,"crc32":"xxxxxxxx"}`: the crc32 of
 * every byte before that comma, so that a flipped byte in the manifest is caught too), removes
 * the parts, renames step-N.tmp to step-N (replacing an older step-N) and replaces DIR/latest.
 * A crash at any moment leaves the previous complete checkpoint and at worst a step-N.tmp that
 * readers ignore.
 *
 * With async, the tensors are copied when the job starts (the caller may change its own at
 * once; a tensor whose storage only the job holds, such as bytes handed over, is not) and the
 * writing runs on a thread; tide_ckpt_writer_wait joins it and gives its status.
 * One job at a time per writer: starting one first waits for the previous. */
#ifndef TIDE_IO_CKPT_WRITER_H
#define TIDE_IO_CKPT_WRITER_H

#include "tensor/tensor.h"

typedef struct tide_ckpt_file {
    char *path;    /* where to write it */
    char *label;   /* its name in the manifest */
    int raw;       /* tensors[0] is the whole file (tide_st_encode's bytes, or a partner's copy),
                      written as it is; the caller knows its crc32, so it is not in the part */
    int n, nmeta;
    char **names;
    tide_tensor *tensors;
    char **meta_keys, **meta_values;
} tide_ckpt_file;

typedef struct tide_ckpt_job {
    int nfiles;
    tide_ckpt_file *files;
    char *part_path;   /* this rank's part (NULL: none, for a job that only finalises) */
    int corrupt;       /* fault injection: flip a byte of the first file after its CRC is taken */
    /* rank 0 only: finalise the step once every rank's part is there */
    int finalize, nparts;
    char **parts;
    char *manifest_path, *manifest_prefix, *manifest_suffix;
    char *tmp_dir, *final_dir, *latest_path, *latest_text;
    double timeout;    /* seconds to wait for the parts */
} tide_ckpt_job;

typedef struct tide_ckpt_writer tide_ckpt_writer;

tide_ckpt_writer *tide_ckpt_writer_new(void);
/* Takes over *job (left zeroed, even on failure). async: copy the tensors and write on a
 * thread; else write now and return the job's status. */
tide_status tide_ckpt_writer_start(tide_ckpt_writer *w, tide_ckpt_job *job, int async);
/* Waits for the running job (if any) and returns its status (once: later calls give OK). */
tide_status tide_ckpt_writer_wait(tide_ckpt_writer *w);
int tide_ckpt_writer_busy(const tide_ckpt_writer *w);
/* Waits, then frees. */
void tide_ckpt_writer_free(tide_ckpt_writer *w);

/* Frees what a job holds (its strings and its tensor references) and zeroes it. */
void tide_ckpt_job_clear(tide_ckpt_job *job);

#endif
