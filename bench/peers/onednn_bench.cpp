// onednn_bench: the peer workloads of peer_common.h on oneDNN (Debian's
// libdnnl-dev 2.6), f32, forward inference.
//
//   g++ -O2 -std=c++17 onednn_bench.cpp -ldnnl -o onednn_bench
//   OMP_NUM_THREADS=1 DNNL_MAX_CPU_ISA=AVX2 ./onednn_bench [--threads 1] [--quick]
//
// Every primitive is created with memory format "any", so oneDNN picks
// its preferred (blocked) layouts; inputs are reordered into them once,
// before timing. A block keeps one layout throughout: the second layer
// reads the first one's output as it is and writes the block's output in
// the input's layout, the residual add and the ReLU fused into it as
// post-ops (binary add, eltwise ReLU). The restore is a
// deconvolution_forward (stride 2, padding 1 on the left, and on the right
// whatever gives the input's size: PyTorch's output_size). Which
// implementation oneDNN picked for each primitive: ONEDNN_VERBOSE=1.
#include "peer_common.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

namespace {

engine eng(engine::kind::cpu, 0);
stream strm(eng);

// A primitive and its arguments.
struct Step {
	primitive prim;
	std::unordered_map<int, memory> args;
};

// A workload: its steps, run in order, then a wait.
struct Work {
	std::vector<Step> steps;
	void run() {
		for (auto &s : steps) s.prim.execute(strm, s.args);
		strm.wait();
	}
	static void call(void *p) { static_cast<Work *>(p)->run(); }
};

memory random_memory(const memory::desc &logical, const memory::desc &want, unsigned seed) {
	// Fill a plain (nchw / oihw / x) buffer and reorder it into want.
	memory plain(logical, eng);
	peer_fill(static_cast<float *>(plain.get_data_handle()), logical.get_size() / sizeof(float), seed);
	if (logical == want) return plain;
	memory m(want, eng);
	reorder(plain, m).execute(strm, plain, m);
	strm.wait();
	return m;
}

memory::desc any(memory::dims d) { return memory::desc(d, dt::f32, tag::any); }
memory::desc plain_nchw(memory::dims d) { return memory::desc(d, dt::f32, tag::nchw); }

// Layer is one convolution or transposed convolution: 3x3, C to C, with
// bias, ReLU, and optionally the residual res added before the ReLU.
// src_md/dst_md are the layouts to use (any: oneDNN's choice).
struct Layer {
	Step step;
	memory::desc src_md, dst_md;
};

Layer make_layer(bool transposed, int n, int c, int h, int oh, int stride, const memory::desc &src_md,
                 const memory::desc &dst_md, const memory *res, unsigned seed) {
	memory::dims src{n, c, h, h}, dst{n, c, oh, oh}, wei{c, c, 3, 3}, bias{c};
	memory::dims strides{stride, stride}, pl{1, 1};
	// Right padding: what makes the output oh (for the restore, the
	// input's size, as PyTorch's output_size does).
	int pr = transposed ? (h - 1) * stride + 3 - 1 - oh : (oh - 1) * stride + 3 - 1 - h;
	memory::dims prr{pr, pr};
	post_ops po;
	if (res) po.append_binary(algorithm::binary_add, res->get_desc());
	po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
	primitive_attr attr;
	attr.set_post_ops(po);
	Layer l;
	memory w, b;
	if (transposed) {
		auto d = deconvolution_forward::desc(prop_kind::forward_inference, algorithm::deconvolution_direct, src_md, any(wei),
		                                     any(bias), dst_md, strides, pl, prr);
		auto pd = deconvolution_forward::primitive_desc(d, attr, eng);
		l.step.prim = deconvolution_forward(pd);
		l.src_md = pd.src_desc(), l.dst_md = pd.dst_desc();
		w = random_memory(memory::desc(wei, dt::f32, tag::oihw), pd.weights_desc(), seed);
		b = random_memory(memory::desc(bias, dt::f32, tag::x), pd.bias_desc(), seed + 1);
	} else {
		auto d = convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, src_md, any(wei),
		                                   any(bias), dst_md, strides, pl, prr);
		auto pd = convolution_forward::primitive_desc(d, attr, eng);
		l.step.prim = convolution_forward(pd);
		l.src_md = pd.src_desc(), l.dst_md = pd.dst_desc();
		w = random_memory(memory::desc(wei, dt::f32, tag::oihw), pd.weights_desc(), seed);
		b = random_memory(memory::desc(bias, dt::f32, tag::x), pd.bias_desc(), seed + 1);
	}
	l.step.args = {{DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}};
	if (res) l.step.args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = *res;
	return l;
}

// single builds one layer: conv3x3s1, conv3x3s2 or deconv_s2.
std::unique_ptr<Work> single(int kind, int n, int c, int h) {
	int hr = peer_half(h);
	bool tr = kind == 2;
	int in = tr ? hr : h, out = kind == 0 ? h : (kind == 1 ? hr : h);
	Layer l = make_layer(tr, n, c, in, out, kind == 0 ? 1 : 2, any({n, c, in, in}), any({n, c, out, out}), nullptr, 11 + kind);
	auto w = std::make_unique<Work>();
	l.step.args[DNNL_ARG_SRC] = random_memory(plain_nchw({n, c, in, in}), l.src_md, 21);
	l.step.args[DNNL_ARG_DST] = memory(l.dst_md, eng);
	w->steps.push_back(l.step);
	return w;
}

// block builds the regular basic block (sb false) or the spatial-
// bottleneck block: the first layer picks the layouts, the second reads
// its output and writes the input's layout, adding the input.
std::unique_ptr<Work> block(bool sb, int n, int c, int h) {
	int mid = sb ? peer_half(h) : h;
	Layer l1 = make_layer(false, n, c, h, mid, sb ? 2 : 1, any({n, c, h, h}), any({n, c, mid, mid}), nullptr, 31);
	memory x = random_memory(plain_nchw({n, c, h, h}), l1.src_md, 41);
	memory y(l1.dst_md, eng), z(l1.src_md, eng);
	Layer l2 = make_layer(sb, n, c, mid, h, sb ? 2 : 1, l1.dst_md, l1.src_md, &x, 51);
	l1.step.args[DNNL_ARG_SRC] = x;
	l1.step.args[DNNL_ARG_DST] = y;
	l2.step.args[DNNL_ARG_SRC] = y;
	l2.step.args[DNNL_ARG_DST] = z;
	auto w = std::make_unique<Work>();
	w->steps = {l1.step, l2.step};
	return w;
}

const char *isa_name(cpu_isa isa) {
	switch (isa) {
	case cpu_isa::sse41: return "sse41";
	case cpu_isa::avx: return "avx";
	case cpu_isa::avx2: return "avx2";
	case cpu_isa::avx512_core: return "avx512_core";
	case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
	case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
	case cpu_isa::avx512_core_amx: return "avx512_core_amx";
	case cpu_isa::avx2_vnni: return "avx2_vnni";
	default: return "other";
	}
}

} // namespace

int main(int argc, char **argv) {
	peer_opts o = peer_parse(argc, argv,
	                         "Times the peer workloads (peer_common.h) on oneDNN. The ISA: DNNL_MAX_CPU_ISA=AVX2|AVX512_CORE;\n"
	                         "threads: OMP_NUM_THREADS (set it to --threads).");
	const char *omp = getenv("OMP_NUM_THREADS");
	if (omp == nullptr || atoi(omp) != o.threads) {
		fprintf(stderr, "onednn_bench: set OMP_NUM_THREADS=%d (oneDNN's threads are OpenMP's)\n", o.threads);
		return 2;
	}
	const dnnl_version_t *v = dnnl_version();
	printf("# onednn %d.%d.%d  isa=%s  threads=%d  N=%d\n", v->major, v->minor, v->patch, isa_name(get_effective_cpu_isa()),
	       o.threads, o.batch);
	peer_header(&o);
	for (int i = 0; i < PEER_NSHAPES; i++) {
		const peer_shape *s = &peer_shapes[i];
		if (!peer_selected(&o, s)) continue;
		double t[5], ratio = 0;
		try {
			for (int k = 0; k < 3; k++) {
				auto w = single(k, o.batch, s->c, s->h);
				t[k] = peer_time(Work::call, w.get(), &o);
			}
			auto reg = block(false, o.batch, s->c, s->h), sb = block(true, o.batch, s->c, s->h);
			peer_compare(Work::call, reg.get(), Work::call, sb.get(), &o, &t[3], &t[4], &ratio);
		} catch (const dnnl::error &e) {
			fprintf(stderr, "onednn_bench: %s: %s (status %d)\n", s->name, e.what(), (int)e.status);
			return 1;
		}
		peer_row(&o, s, t, ratio);
	}
	return 0;
}
