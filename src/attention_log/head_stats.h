#pragma once
// Per-head summary statistics of an attention record, and a terminal table of them over steps,
// so one can see when (and into what) heads specialise.
//
// For example n of length L and query i < L with weights w_ij over keys j < L, each statistic
// below is computed per query and averaged over every (example, query) pair of the record
// (padding is never counted):
//   entropy        -sum_j w_ij ln w_ij, nats (0 ln 0 = 0); ln L is uniform, 0 is one key
//   max_weight     max_j w_ij
//   distance       sum_j w_ij |i - j|: how far from itself the query looks, in tokens
//   diagonal       w_ii: weight on the query's own position
//   anti_diagonal  w_i,L-1-i: weight on the mirrored position (what reversal needs)
//   first_token    w_i0: weight on the first token (<cls> or the start; often a "no-op" sink)

#include <ATen/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "attention_log/record.h"

namespace attnlab {

struct HeadStats {
  int64_t layer = 0;         // layer id
  int64_t head = 0;          // head id, or -1 for the mean over the logged heads
  double entropy = 0;        // nats
  double max_weight = 0;     // mean over queries of the largest weight
  double distance = 0;       // mean attended distance, tokens
  double diagonal = 0;       // mean weight on j == i
  double anti_diagonal = 0;  // mean weight on j == L-1-i
  double first_token = 0;    // mean weight on j == 0
};

// Statistics of one head: weights (N, T, T) (zero beyond lengths), lengths (N).
HeadStats compute_head_stats(const at::Tensor& weights, const std::vector<int64_t>& lengths);

// Statistics of every (layer, head) of a record, layers outer, in record order.
std::vector<HeadStats> compute_record_stats(const AttentionRecord& record);

// The statistics of one step.
struct StepStats {
  int64_t step = 0;
  std::vector<HeadStats> heads;
};

// Up to `count` indices into `size` items, evenly spread, always including the first and the
// last (count = 3 gives first, middle, last).
std::vector<size_t> spread_indices(size_t size, size_t count);

// A table with one row per (layer, head) and, when several steps are given, one sub-row per
// step under it:
//   layer  head  step  entropy  max_w    dist   diag   anti  first  pattern
//       0     1     0    2.085  0.231    2.92  0.136  0.108  0.098  -
//                3000    0.025  0.997    0.01  0.997  0.077  0.115  diagonal
// `pattern` names what holds over half of the weight (diagonal, anti-diagonal, first token), or
// "-". Heads are matched across steps by (layer id, head id).
std::string render_stats_table(const std::vector<StepStats>& steps);

}  // namespace attnlab
