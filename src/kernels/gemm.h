#pragma once
// Row-major GEMM on raw pointers: C (M x N) = alpha * op(A) op(B) + beta * C, where op(X) is X
// or X^T, op(A) is M x K and op(B) is K x N, and lda/ldb/ldc are the row strides of A, B, C
// as stored.
//
// float:    oneDNN's dnnl_sgemm: its AVX-512 JIT kernels beat the kernel libblas.so.3
//           (OpenBLAS) picks on these machines (`attnlab bench --kernels`, docs/benchmark.md).
// bfloat16: oneDNN's dnnl_gemm_bf16bf16f32 (AVX512-BF16 where the CPU has it): bf16 operands,
//           float32 accumulation and result. On a CPU without AVX-512, where oneDNN 2.6 has
//           no bf16 GEMM, the operands are widened to float32 and the float32 GEMM runs.
// double:   BLAS dgemm_ (gradient checks only).
//
// oneDNN (libdnnl.so.2) is the library LibTorch itself links for its bf16 and mkldnn kernels.
// Called inside at::parallel_for, a GEMM runs on the calling thread; outside, on every
// intra-op thread. Throws c10::Error if the library reports a failure.

#include <c10/util/BFloat16.h>

#include <cstdint>

namespace attnlab {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const c10::BFloat16* A, int64_t lda, const c10::BFloat16* B, int64_t ldb, float beta,
          float* C, int64_t ldc);

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

}  // namespace attnlab
