/* xnnpack_bench: the peer workloads of peer_common.h on XNNPACK (Debian's
 * libxnnpack-dev, 2022 snapshot) with pthreadpool, f32, NHWC.
 *
 *   gcc -O2 xnnpack_bench.c -lXNNPACK -lpthreadpool -lm -o xnnpack_bench
 *   ./xnnpack_bench [--threads 1] [--quick]
 *
 * Convolutions are xnn_create_convolution2d_nhwc_f32 operators with the
 * ReLU fused as output_min = 0; the restore is
 * xnn_create_deconvolution2d_nhwc_f32 (stride 2, output padding 1 on every
 * side, and an adjustment that gives the input's size, as PyTorch's
 * output_size does). XNNPACK has no fused residual add, so a block's second
 * layer is followed by xnn_create_add_nd_f32 (the ReLU fused into the add).
 * XNNPACK picks its microkernels from the CPU itself (AVX-512 where there is
 * one), with no switch to force a set. One thread runs on the caller (no
 * pool); --threads N > 1 uses a pthreadpool of N threads.
 */
#include "peer_common.h"

#include <math.h>
#include <pthreadpool.h>
#include <xnnpack.h>

static pthreadpool_t pool;

static void check(enum xnn_status st, const char *what) {
	if (st != xnn_status_success) {
		fprintf(stderr, "xnnpack_bench: %s: status %d\n", what, (int)st);
		exit(1);
	}
}

static float *randbuf(size_t n, unsigned seed) {
	float *p = (float *)malloc(n * sizeof *p + 64);
	if (p == NULL) {
		fprintf(stderr, "xnnpack_bench: out of memory\n");
		exit(1);
	}
	peer_fill(p, n, seed);
	return p;
}

/* A workload: up to three operators run in order. */
struct work {
	xnn_operator_t op[3];
	int nops;
};

static void run_work(void *p) {
	struct work *w = (struct work *)p;
	for (int i = 0; i < w->nops; i++) check(xnn_run_operator(w->op[i], pool), "run");
}

/* conv creates a 3x3 C-to-C convolution with bias; relu sets output_min 0. */
static xnn_operator_t conv(int c, int stride, int relu, unsigned seed) {
	xnn_operator_t op;
	float *w = randbuf((size_t)c * c * 9, seed), *b = randbuf(c, seed + 1);
	check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, stride, stride, 1, 1, 1, c, c, c, c, w, b,
	                                        relu ? 0.0f : -INFINITY, INFINITY, 0, &op),
	      "create convolution");
	free(w), free(b); /* XNNPACK packs the weights at creation */
	return op;
}

/* deconv creates the 3x3 stride-2 C-to-C restore with bias. */
static xnn_operator_t deconv(int c, int relu, unsigned seed) {
	xnn_operator_t op;
	float *w = randbuf((size_t)c * c * 9, seed), *b = randbuf(c, seed + 1);
	check(xnn_create_deconvolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 2, 2, 1, 1, 1, c, c, c, c, w, b,
	                                          relu ? 0.0f : -INFINITY, INFINITY, 0, &op),
	      "create deconvolution");
	free(w), free(b);
	return op;
}

/* The restore's output is 2*(hr-1) + 3 - 2 + adj = 2*hr - 1 + adj: adj
 * gives h. */
static uint32_t adjustment(int hr, int h) { return (uint32_t)(h - (2 * hr - 1)); }

int main(int argc, char **argv) {
	struct peer_opts o = peer_parse(argc, argv, "Times the peer workloads (peer_common.h) on XNNPACK.");
	check(xnn_initialize(NULL), "initialize");
	pool = o.threads > 1 ? pthreadpool_create(o.threads) : NULL;
	printf("# xnnpack (Debian libxnnpack-dev)  threads=%d  N=%d  layout=NHWC\n", o.threads, o.batch);
	peer_header(&o);
	for (int i = 0; i < PEER_NSHAPES; i++) {
		const struct peer_shape *s = &peer_shapes[i];
		if (!peer_selected(&o, s)) continue;
		int n = o.batch, c = s->c, h = s->h, hr = peer_half(h);
		size_t full = (size_t)n * c * h * h, half = (size_t)n * c * hr * hr;
		float *x = randbuf(full, 7), *y = randbuf(full, 8), *z = randbuf(full, 9), *lo = randbuf(half, 10);
		double t[5], ratio;
		struct work w = {{0}, 1};

		w.op[0] = conv(c, 1, 1, 21);
		check(xnn_setup_convolution2d_nhwc_f32(w.op[0], n, h, h, x, y, pool), "setup conv3x3s1");
		t[0] = peer_time(run_work, &w, &o);
		xnn_delete_operator(w.op[0]);

		w.op[0] = conv(c, 2, 1, 22);
		check(xnn_setup_convolution2d_nhwc_f32(w.op[0], n, h, h, x, lo, pool), "setup conv3x3s2");
		t[1] = peer_time(run_work, &w, &o);
		xnn_delete_operator(w.op[0]);

		w.op[0] = deconv(c, 1, 23);
		check(xnn_setup_deconvolution2d_nhwc_f32(w.op[0], n, hr, hr, adjustment(hr, h), adjustment(hr, h), lo, y, pool),
		      "setup deconv_s2");
		t[2] = peer_time(run_work, &w, &o);
		xnn_delete_operator(w.op[0]);

		/* The blocks: x -> y (or lo) -> z, then z + x -> y with ReLU. */
		size_t shape[4] = {(size_t)n, (size_t)h, (size_t)h, (size_t)c};
		struct work reg = {{conv(c, 1, 1, 31), conv(c, 1, 0, 32), NULL}, 3};
		check(xnn_create_add_nd_f32(0.0f, INFINITY, 0, &reg.op[2]), "create add");
		check(xnn_setup_convolution2d_nhwc_f32(reg.op[0], n, h, h, x, y, pool), "setup basicblk conv1");
		check(xnn_setup_convolution2d_nhwc_f32(reg.op[1], n, h, h, y, z, pool), "setup basicblk conv2");
		check(xnn_setup_add_nd_f32(reg.op[2], 4, shape, 4, shape, z, x, y, pool), "setup basicblk add");

		struct work sb = {{conv(c, 2, 1, 41), deconv(c, 0, 42), NULL}, 3};
		check(xnn_create_add_nd_f32(0.0f, INFINITY, 0, &sb.op[2]), "create add");
		check(xnn_setup_convolution2d_nhwc_f32(sb.op[0], n, h, h, x, lo, pool), "setup sb_block conv1");
		check(xnn_setup_deconvolution2d_nhwc_f32(sb.op[1], n, hr, hr, adjustment(hr, h), adjustment(hr, h), lo, z, pool),
		      "setup sb_block restore");
		check(xnn_setup_add_nd_f32(sb.op[2], 4, shape, 4, shape, z, x, y, pool), "setup sb_block add");

		peer_compare(run_work, &reg, run_work, &sb, &o, &t[3], &t[4], &ratio);
		for (int k = 0; k < 3; k++) xnn_delete_operator(reg.op[k]), xnn_delete_operator(sb.op[k]);
		free(x), free(y), free(z), free(lo);
		peer_row(&o, s, t, ratio);
	}
	if (pool) pthreadpool_destroy(pool);
	return 0;
}
