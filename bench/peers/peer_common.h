/* peer_common.h: what the C and C++ peer programs share: the stage shapes,
 * the FLOP counts, the command line, the timing and the table.
 *
 * Every program times, per stage shape (C channels on an H x H map, C to C),
 *   conv3x3s1  3x3 convolution, stride 1, pad 1, bias + ReLU
 *   conv3x3s2  3x3 convolution, stride 2, pad 1, bias + ReLU  (H -> ceil(H/2))
 *   deconv_s2  3x3 transposed convolution, stride 2, pad 1, restoring H, bias + ReLU
 *   basicblk   conv3x3s1 + ReLU, conv3x3s1, + input, ReLU   (the regular basic block)
 *   sb_block   conv3x3s2 + ReLU, deconv_s2, + input, ReLU   (the spatial-bottleneck block)
 * and prints the median time of one run in microseconds and GFLOP/s by the
 * peers' FLOP count (sbbench's layers table uses the same): 2*C*C*9 per
 * output pixel of a convolution (padding taps included) and, for the
 * restore, the same count as the stride-2 convolution it inverts.
 *
 * Timing: one warm-up run, then --reps samples, each the mean time of its
 * runs over at least --min-ms (at least one run); the median sample is
 * printed. The two blocks are sampled alternately (--reps pairs): ratio is
 * the median of the pairs' basicblk/sb_block ratios, flops the FLOP ratio.
 */
#ifndef SBCONV_PEER_COMMON_H
#define SBCONV_PEER_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct peer_shape {
	const char *name;
	int c, h;
};

static const struct peer_shape peer_shapes[] = {
	{"cifar-16x32", 16, 32}, {"cifar-32x16", 32, 16}, {"cifar-64x8", 64, 8},
	{"in-64x56", 64, 56},    {"in-128x28", 128, 28},  {"in-256x14", 256, 14},
	{"in-512x7", 512, 7},
};
#define PEER_NSHAPES ((int)(sizeof peer_shapes / sizeof peer_shapes[0]))

/* half is the map size after a stride-2 3x3 convolution with padding 1. */
static inline int peer_half(int h) { return (h + 1) / 2; }

/* FLOPs of a 3x3 C-to-C convolution producing an oh x oh map, batch n. */
static inline double peer_flops(int n, int c, int oh) { return 2.0 * n * c * c * 9 * oh * oh; }

struct peer_opts {
	int threads, reps, batch;
	double min_us;
	const char *shapes; /* substring filter, or NULL */
};

static void peer_usage(const char *prog, const char *what) {
	fprintf(stderr,
	        "usage: %s [--threads N] [--batch N] [--reps N] [--min-ms X] [--shapes SUBSTR] [--quick]\n"
	        "%s\n"
	        "  --threads N    threads (default 1)\n"
	        "  --batch N      images per call (default 1)\n"
	        "  --reps N       samples per cell, the median is printed (default 7)\n"
	        "  --min-ms X     minimum duration of one sample (default 10)\n"
	        "  --shapes S     only shapes whose name contains S (cifar, in-, in-64x56, ...)\n"
	        "  --quick        one sample of 1 ms per cell: proves the program runs\n",
	        prog, what);
}

/* peer_parse parses the command line; it exits on a bad one. */
static struct peer_opts peer_parse(int argc, char **argv, const char *what) {
	struct peer_opts o = {1, 7, 1, 10e3, NULL};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--quick")) {
			o.reps = 1, o.min_us = 1e3;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			peer_usage(argv[0], what);
			exit(0);
		}
		if (v == NULL) {
			peer_usage(argv[0], what);
			exit(2);
		}
		if (!strcmp(a, "--threads")) {
			o.threads = atoi(v);
		} else if (!strcmp(a, "--batch")) {
			o.batch = atoi(v);
		} else if (!strcmp(a, "--reps")) {
			o.reps = atoi(v);
		} else if (!strcmp(a, "--min-ms")) {
			o.min_us = atof(v) * 1e3;
		} else if (!strcmp(a, "--shapes")) {
			o.shapes = v;
		} else {
			peer_usage(argv[0], what);
			exit(2);
		}
		i++;
	}
	if (o.threads < 1 || o.reps < 1 || o.batch < 1 || !(o.min_us > 0)) {
		fprintf(stderr, "%s: --threads, --batch, --reps and --min-ms must be positive\n", argv[0]);
		exit(2);
	}
	return o;
}

static inline int peer_selected(const struct peer_opts *o, const struct peer_shape *s) {
	return o->shapes == NULL || strstr(s->name, o->shapes) != NULL;
}

static inline double peer_now_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}

typedef void (*peer_run_fn)(void *ctx);

/* peer_sample returns the mean microseconds of f's runs over at least
 * min_us, at least one run. */
static double peer_sample(peer_run_fn f, void *ctx, double min_us) {
	int iters = 0;
	double start = peer_now_us(), el;
	do {
		f(ctx);
		iters++;
		el = peer_now_us() - start;
	} while (el < min_us);
	return el / iters;
}

static int peer_cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double peer_median(const double *v, int n) {
	double *s = (double *)malloc(n * sizeof *s);
	memcpy(s, v, n * sizeof *s);
	qsort(s, n, sizeof *s, peer_cmp);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

/* peer_time: one warm-up run, then the median of reps samples. */
static double peer_time(peer_run_fn f, void *ctx, const struct peer_opts *o) {
	f(ctx);
	double *v = (double *)malloc(o->reps * sizeof *v);
	for (int i = 0; i < o->reps; i++) v[i] = peer_sample(f, ctx, o->min_us);
	double m = peer_median(v, o->reps);
	free(v);
	return m;
}

/* peer_compare times a and b in reps alternating pairs of samples: the
 * median times of each and the median of the pairs' ratios a/b. */
static void peer_compare(peer_run_fn a, void *actx, peer_run_fn b, void *bctx, const struct peer_opts *o,
                         double *ta, double *tb, double *ratio) {
	a(actx);
	b(bctx);
	double *va = (double *)malloc(o->reps * sizeof *va), *vb = (double *)malloc(o->reps * sizeof *vb),
	       *vr = (double *)malloc(o->reps * sizeof *vr);
	for (int i = 0; i < o->reps; i++) {
		va[i] = peer_sample(a, actx, o->min_us / 2);
		vb[i] = peer_sample(b, bctx, o->min_us / 2);
		vr[i] = va[i] / vb[i];
	}
	*ta = peer_median(va, o->reps);
	*tb = peer_median(vb, o->reps);
	*ratio = peer_median(vr, o->reps);
	free(va), free(vb), free(vr);
}

/* peer_header prints the table's header lines after the program's own. */
static void peer_header(const struct peer_opts *o) {
	printf("# times in microseconds (median of %d samples of >= %.0f ms; blocks: %d alternating pairs), GFLOP/s by the peers' FLOP count\n",
	       o->reps, o->min_us / 1e3, o->reps);
	printf("%-12s %10s %6s %10s %6s %10s %6s %10s %10s %6s %6s\n", "shape", "conv3x3s1", "GF/s", "conv3x3s2", "GF/s",
	       "deconv_s2", "GF/s", "basicblk", "sb_block", "ratio", "flops");
}

/* peer_row prints one shape's row: t = the five median times (us). */
static void peer_row(const struct peer_opts *o, const struct peer_shape *s, const double t[5], double ratio) {
	int n = o->batch, c = s->c, h = s->h, hr = peer_half(h);
	double full = peer_flops(n, c, h), half = peer_flops(n, c, hr);
	printf("%-12s %10.1f %6.1f %10.1f %6.1f %10.1f %6.1f %10.1f %10.1f %6.2f %6.2f\n", s->name, t[0], full / t[0] / 1e3,
	       t[1], half / t[1] / 1e3, t[2], half / t[2] / 1e3, t[3], t[4], ratio, full / half);
	fflush(stdout);
}

/* peer_fill fills v with values in [-0.1, 0.1) from a fixed sequence. */
static void peer_fill(float *v, size_t n, unsigned seed) {
	unsigned x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1664525u + 1013904223u;
		v[i] = ((x >> 8) / 16777216.0f - 0.5f) * 0.2f;
	}
}

#endif
