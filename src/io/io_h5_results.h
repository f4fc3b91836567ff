/*
 * io_h5_results.h - private to io_h5.c: the self-describing parts of a result
 * file (docs/results-format.md): /lattice, observables as datasets with their
 * coordinates (/result/observables/<name>, /history/observables,
 * /measure/<k>), the final parameters /result/params. Plain HDF5 calls on a
 * file or group id that io_h5.c opened; every failure is NQS_EIO naming the
 * file and object.
 */
#ifndef NQS_IO_H5_RESULTS_H
#define NQS_IO_H5_RESULTS_H

#include <complex.h>
#include <hdf5.h>

#include "lattice.h"
#include "observables.h"

/* /lattice: positions, coordinates, bonds, couplings, sublattices, translations. */
int nqs_h5r_write_lattice(hid_t file, const char *path, const struct nqs_lattice *lat);

/* Every vector observable of obs as a group under `loc` (value, error and
 * coordinate datasets, attributes units and description). */
int nqs_h5r_write_vectors(hid_t loc, const char *path, const char *where, const struct nqs_obs *obs,
                          const double *value, const double *error);

/* Complex dataset `name` (compound r, i) of n values under loc. */
int nqs_h5r_write_complex(hid_t loc, const char *path, const char *name, const double complex *v, int n,
                          const char *description);

/* /history/observables: `iteration` and, per observable, a group with
 * extendible value and error datasets (rows x components) and the
 * coordinates. Created with the file, before SWMR mode. */
int nqs_h5r_create_history_obs(hid_t file, const char *path, const struct nqs_obs *obs);

/* Append one measurement (every column's value and error) and flush. */
int nqs_h5r_append_history_obs(hid_t file, const char *path, const struct nqs_obs *obs, long iteration,
                               const double *value, const double *error);

/* Restart: keep the measurements of iterations < keep (no-op without the group). */
int nqs_h5r_truncate_history_obs(hid_t file, const char *path, long keep);

/* NQS_OK if /history/observables holds a group per observable of obs with
 * matching component counts; NQS_EIO naming what is missing otherwise. */
int nqs_h5r_check_history_obs(hid_t file, const char *path, const struct nqs_obs *obs);

/* Complex dataset `name` of exactly n values into v. */
int nqs_h5r_read_complex(hid_t file, const char *path, const char *name, double complex *v, int n);

/* /measure/<k> (next free k) in `file` with the measurement's attributes
 * and observables; the group's path into group (len bytes). */
struct nqs_h5_measurement;
int nqs_h5r_write_measure(hid_t file, const char *path, const struct nqs_h5_measurement *m, char *group,
                          size_t len);

#endif
