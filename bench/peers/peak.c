/* peak: the float32 FMA peak of this CPU, for AVX2 (+FMA) and AVX-512F,
 * on --threads cores at once: the ceiling that sbbench's %pk and the peer
 * tables' GFLOP/s are read against.
 *
 *   gcc -O2 -pthread peak.c -o peak
 *   ./peak [--threads N] [--quick]
 *
 * Each thread runs independent chains of register-only FMAs (acc = acc*m +
 * c): 12 chains of 8 lanes for AVX2, 24 of 16 lanes for AVX-512, more than
 * an FMA's latency times the FMA ports of any current core, so the chains
 * never wait on each other. A run is timed from the first thread's start
 * to the last one's end; the fastest of 7 runs is printed (other programs'
 * work only ever slows a run down). Sets the CPU lacks are skipped
 * (__builtin_cpu_supports), so the program runs everywhere on x86-64.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

#define AVX2_CHAINS 12
#define AVX512_CHAINS 24

/* The chains are named variables, not an array: an array indexed in a
 * loop may live in memory, and then the loads and stores, not the FMAs,
 * set the pace. The empty asm keeps the compiler from folding the chains. */
#define F12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define F24(X) F12(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)

__attribute__((target("avx2,fma"))) static float fma_avx2(long iters) {
	const __m256 m = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-4f);
#define DECL(k) __m256 a##k = _mm256_set1_ps((float)k);
#define STEP(k) a##k = _mm256_fmadd_ps(a##k, m, c);
#define KEEP(k) __asm__ volatile("" : "+x"(a##k));
#define SUM(k) s = _mm256_add_ps(s, a##k);
	F12(DECL)
	for (long i = 0; i < iters; i++) {
		F12(STEP)
		F12(KEEP)
	}
	__m256 s = _mm256_setzero_ps();
	F12(SUM)
	float out[8];
	_mm256_storeu_ps(out, s);
	return out[0];
#undef DECL
#undef STEP
#undef KEEP
#undef SUM
}

__attribute__((target("avx512f"))) static float fma_avx512(long iters) {
	const __m512 m = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-4f);
#define DECL(k) __m512 a##k = _mm512_set1_ps((float)k);
#define STEP(k) a##k = _mm512_fmadd_ps(a##k, m, c);
#define KEEP(k) __asm__ volatile("" : "+v"(a##k));
#define SUM(k) s = _mm512_add_ps(s, a##k);
	F24(DECL)
	for (long i = 0; i < iters; i++) {
		F24(STEP)
		F24(KEEP)
	}
	__m512 s = _mm512_setzero_ps();
	F24(SUM)
	return _mm512_reduce_add_ps(s);
#undef DECL
#undef STEP
#undef KEEP
#undef SUM
}

struct job {
	float (*kernel)(long);
	long iters;
	float sink;
};

static void *worker(void *p) {
	struct job *j = (struct job *)p;
	j->sink = j->kernel(j->iters);
	return NULL;
}

/* run times threads copies of kernel at once; it returns seconds. */
static double run(float (*kernel)(long), long iters, int threads) {
	pthread_t tid[256];
	struct job jobs[256];
	double start = now_s();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){kernel, iters, 0};
		if (pthread_create(&tid[i], NULL, worker, &jobs[i]) != 0) {
			perror("pthread_create");
			exit(1);
		}
	}
	for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
	return now_s() - start;
}

/* peak returns the fastest of 7 runs in GFLOP/s; flops_per_iter counts
 * every lane of every chain, two operations per FMA. */
static double peak(float (*kernel)(long), double flops_per_iter, int threads, double run_s) {
	long iters = 1 << 12;
	double d = run(kernel, iters, threads); /* warm-up: the cores reach their working clock */
	while (d < run_s / 4) {
		iters *= 2;
		d = run(kernel, iters, threads);
	}
	iters = (long)(iters * run_s / d) + 1;
	double best = 0;
	for (int r = 0; r < 7; r++) {
		double g = threads * (double)iters * flops_per_iter / run(kernel, iters, threads) / 1e9;
		if (g > best) best = g;
	}
	return best;
}

int main(int argc, char **argv) {
	int threads = 1;
	double run_s = 0.05;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--quick")) {
			run_s = 0.005;
		} else {
			fprintf(stderr, "usage: %s [--threads N] [--quick]\n", argv[0]);
			return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 2 : 0;
		}
	}
	if (threads < 1 || threads > 256) {
		fprintf(stderr, "peak: --threads must be in [1, 256]\n");
		return 2;
	}
	__builtin_cpu_init();
	printf("# peak: float32 FMA throughput of register-only chains on %d thread(s) at once, the fastest of 7 runs of %.0f ms\n",
	       threads, run_s * 1e3);
	printf("%-8s %10s\n", "isa", "GFLOP/s");
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
		printf("%-8s %10.1f\n", "avx2", peak(fma_avx2, AVX2_CHAINS * 8 * 2, threads, run_s));
	} else {
		printf("%-8s %10s\n", "avx2", "-  (this CPU has no AVX2+FMA)");
	}
	if (__builtin_cpu_supports("avx512f")) {
		printf("%-8s %10.1f\n", "avx512", peak(fma_avx512, AVX512_CHAINS * 16 * 2, threads, run_s));
	} else {
		printf("%-8s %10s\n", "avx512", "-  (this CPU has no AVX-512F)");
	}
	return 0;
}
