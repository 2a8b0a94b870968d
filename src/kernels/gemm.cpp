#include "kernels/gemm.h"

#include <c10/util/Exception.h>
#include <oneapi/dnnl/dnnl.h>

#include <limits>
#include <vector>

extern "C" {
// Exported by libdnnl.so.2 but declared only in oneDNN's internal headers (its own tests and
// Intel's TensorFlow extension declare it the same way). Row-major, like dnnl_sgemm.
dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N,
                                    dnnl_dim_t K, float alpha, const uint16_t* A, dnnl_dim_t lda,
                                    const uint16_t* B, dnnl_dim_t ldb, float beta, float* C,
                                    dnnl_dim_t ldc);
// Fortran BLAS (libblas.so.3), column-major.
void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
            const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
            const double* beta, double* c, const int* ldc);
}

namespace attnlab {
namespace {

void check(dnnl_status_t status, const char* what, int64_t M, int64_t N, int64_t K) {
  TORCH_CHECK(status == dnnl_success, what, " failed with oneDNN status ", static_cast<int>(status),
              " for M=", M, " N=", N, " K=", K);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  check(dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta,
                   C, ldc),
        "dnnl_sgemm", M, N, K);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const c10::BFloat16* A, int64_t lda, const c10::BFloat16* B, int64_t ldb, float beta,
          float* C, int64_t ldc) {
  static_assert(sizeof(c10::BFloat16) == sizeof(uint16_t), "bfloat16 is 16 bits");
  const dnnl_status_t status =
      dnnl_gemm_bf16bf16f32(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha,
                            reinterpret_cast<const uint16_t*>(A), lda,
                            reinterpret_cast<const uint16_t*>(B), ldb, beta, C, ldc);
  if (status != dnnl_unimplemented) {
    check(status, "dnnl_gemm_bf16bf16f32", M, N, K);
    return;
  }
  // A CPU without AVX-512 has no bf16 GEMM in oneDNN 2.6: widen both operands to float32
  // (exact) and use the float32 GEMM; the result is the same up to summation order.
  auto widen = [](const c10::BFloat16* src, int64_t rows, int64_t cols, int64_t ld) {
    std::vector<float> dst(static_cast<size_t>(rows * cols));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) dst[i * cols + j] = static_cast<float>(src[i * ld + j]);
    return dst;
  };
  const int64_t a_rows = trans_a ? K : M, a_cols = trans_a ? M : K;
  const int64_t b_rows = trans_b ? N : K, b_cols = trans_b ? K : N;
  const auto a = widen(A, a_rows, a_cols, lda);
  const auto b = widen(B, b_rows, b_cols, ldb);
  gemm(trans_a, trans_b, M, N, K, alpha, a.data(), a_cols, b.data(), b_cols, beta, C, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc) {
  constexpr int64_t kMax = std::numeric_limits<int>::max();
  TORCH_CHECK(M <= kMax && N <= kMax && K <= kMax && lda <= kMax && ldb <= kMax && ldc <= kMax,
              "dgemm: dimensions exceed the 32-bit BLAS interface");
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: the operands swap.
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  const int m = static_cast<int>(N), n = static_cast<int>(M), k = static_cast<int>(K);
  const int la = static_cast<int>(ldb), lb = static_cast<int>(lda), lc = static_cast<int>(ldc);
  dgemm_(&ta, &tb, &m, &n, &k, &alpha, B, &la, A, &lb, &beta, C, &lc);
}

}  // namespace attnlab
