#include "tasks/ctc.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/common.h"

namespace attnlab {
namespace {

std::string numbers(const torch::Tensor& t) {
  std::ostringstream out;
  out.precision(17);
  const auto c = t.to(torch::kDouble).contiguous();
  for (int64_t i = 0; i < c.numel(); ++i) out << (i ? " " : "") << c.data_ptr<double>()[i];
  return out.str();
}

// Against PyTorch from Python: F.ctc_loss(log_softmax(logits), reduction="sum") divided by
// the number of target tokens, and its gradient with respect to the logits.
TEST(Ctc, LossAndGradientEqualPytorchs) {
  if (!test::python_has("torch"))
    GTEST_SKIP() << "python3-torch is not installed (scripts/setup.sh)";
  torch::manual_seed(7);
  const int64_t B = 4, T = 14, V = 7, S = 6;
  auto logits =
      torch::randn({B, T, V}, torch::kDouble).mul(2.0).to(torch::kFloat).requires_grad_(true);
  const auto lengths = torch::tensor({14, 11, 9, 6}, torch::kLong);
  // Targets with repeats (need a blank between them) and different lengths; 0 = blank/pad.
  const auto targets = torch::tensor(
      {{1, 2, 2, 3, 4, 5}, {3, 3, 3, 1, 0, 0}, {6, 5, 4, 0, 0, 0}, {2, 0, 0, 0, 0, 0}},
      torch::kLong);
  ASSERT_EQ(targets.size(1), S);
  const auto loss = ctc_loss_per_token(logits, lengths, targets);
  loss.backward();

  test::ScratchDir dir;
  test::write_text(dir.file("inputs.txt"), numbers(logits.detach()) + "\n" + numbers(lengths) +
                                               "\n" + numbers(targets) + "\n");
  const auto r = test::run_python(dir, R"(
import torch, torch.nn.functional as F
rows = [l.split() for l in open(")" + dir.file("inputs.txt") +
                                           R"(")]
B, T, V, S = 4, 14, 7, 6
logits = torch.tensor([float(x) for x in rows[0]], dtype=torch.float32).view(B, T, V).requires_grad_(True)
lengths = torch.tensor([int(float(x)) for x in rows[1]])
targets = torch.tensor([int(float(x)) for x in rows[2]]).view(B, S)
target_lengths = (targets != 0).sum(1)
loss = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, lengths, target_lengths,
                  blank=0, reduction="sum") / target_lengths.sum()
loss.backward()
print("%.12g" % loss.item())
print(" ".join("%.12g" % g for g in logits.grad.flatten().tolist()))
)");
  ASSERT_EQ(r.rc, 0) << r.out;
  std::istringstream in(r.out);
  double reference_loss = 0;
  in >> reference_loss;
  std::vector<float> grad;
  for (float g; in >> g;) grad.push_back(g);
  ASSERT_EQ(static_cast<int64_t>(grad.size()), B * T * V) << r.out;
  const auto reference_grad = torch::from_blob(grad.data(), {B, T, V}, torch::kFloat).clone();
  EXPECT_NEAR(loss.item<double>(), reference_loss, 1e-5 * std::abs(reference_loss));
  EXPECT_LT(test::max_abs_diff(logits.grad(), reference_grad), 1e-6);
  // Positions past a row's length get no gradient.
  EXPECT_EQ(logits.grad()[3].slice(0, 6).abs().max().item<float>(), 0.0f);
}

TEST(Ctc, LossIsTheNegativeLogOfTheOnlyPathWhenTheTargetFillsEveryPosition) {
  // T = 3 positions, target "1 2 3": the only alignment is 1 2 3 itself, so the loss is
  // -(log p(1|t0) + log p(2|t1) + log p(3|t2)) / 3 (hand-computed from the log-softmax).
  const auto logits = torch::tensor(
      {{{0.0, 2.0, 0.5, -1.0}, {1.0, 0.0, 3.0, 0.0}, {0.0, 0.0, 0.0, 1.5}}});  // (1, 3, 4)
  const auto lp = torch::log_softmax(logits, -1);
  const double expected =
      -(lp[0][0][1].item<double>() + lp[0][1][2].item<double>() + lp[0][2][3].item<double>()) / 3.0;
  const auto loss = ctc_loss_per_token(logits, torch::tensor({3}, torch::kLong),
                                       torch::tensor({{1, 2, 3}}, torch::kLong));
  EXPECT_NEAR(loss.item<double>(), expected, 1e-6);
}

TEST(Ctc, GreedyDecodeMergesRepeatsAndDropsBlanks) {
  // Hand-made best paths (0 = blank), with the positions that emit each token.
  const auto ids = torch::tensor({{1, 1, 0, 1, 2, 2, 0, 0},   // "1 1 2": a blank splits the 1s
                                  {0, 0, 0, 0, 0, 0, 0, 0},   // all blank: empty output
                                  {3, 0, 3, 3, 0, 4, 4, 4},   // "3 3 4"
                                  {5, 6, 5, 6, 9, 9, 9, 9}},  // length 4: "5 6 5 6", rest ignored
                                 torch::kLong);
  const auto decoded = ctc_greedy_decode(ids, torch::tensor({8, 8, 8, 4}, torch::kLong));
  ASSERT_EQ(decoded.size(), 4u);
  EXPECT_EQ(decoded[0].tokens, (std::vector<int64_t>{1, 1, 2}));
  EXPECT_EQ(decoded[0].positions, (std::vector<int64_t>{0, 3, 4}));
  EXPECT_TRUE(decoded[1].tokens.empty());
  EXPECT_EQ(decoded[2].tokens, (std::vector<int64_t>{3, 3, 4}));
  EXPECT_EQ(decoded[2].positions, (std::vector<int64_t>{0, 2, 5}));
  EXPECT_EQ(decoded[3].tokens, (std::vector<int64_t>{5, 6, 5, 6}));
  // From logits: the argmax per position is taken first.
  auto logits = torch::zeros({1, 3, 4});
  logits[0][0][2] = 1.0;
  logits[0][1][0] = 1.0;
  logits[0][2][2] = 1.0;
  EXPECT_EQ(ctc_greedy_decode(logits, torch::tensor({3}, torch::kLong))[0].tokens,
            (std::vector<int64_t>{2, 2}));
  EXPECT_THROW(ctc_greedy_decode(ids, torch::tensor({9, 8, 8, 8}, torch::kLong)), c10::Error);
}

// -log p(labeling | logits) from LibTorch's ctc_loss (the sum over all its paths): the oracle
// the beam search is judged by.
double neg_log_prob(const torch::Tensor& logits, const std::vector<int64_t>& labeling) {
  if (labeling.empty()) {  // only the all-blank path
    return -torch::log_softmax(logits.to(torch::kDouble), -1)
                .select(1, kCtcBlank)
                .sum()
                .item<double>();
  }
  const auto lp = torch::log_softmax(logits.to(torch::kDouble), -1).unsqueeze(1);  // (T, 1, V)
  const auto target = torch::tensor(labeling, torch::kLong).unsqueeze(0);
  return torch::ctc_loss(lp, target, torch::tensor({logits.size(0)}, torch::kLong),
                         torch::tensor({static_cast<int64_t>(labeling.size())}, torch::kLong),
                         kCtcBlank, at::Reduction::Sum, false)
      .item<double>();
}

TEST(Ctc, BeamSearchFindsTheLabelingGreedyMisses) {
  // Two positions, each blank 0.5, a 0.4, b 0.1 (hand-computed): greedy takes blank, blank ->
  // "" with p 0.25; "a" has p 0.4*0.4 + 0.4*0.5 + 0.5*0.4 = 0.56.
  const auto logits = torch::log(torch::tensor({{0.5, 0.4, 0.1}, {0.5, 0.4, 0.1}}));
  EXPECT_TRUE(
      ctc_greedy_decode(logits.unsqueeze(0), torch::tensor({2}, torch::kLong))[0].tokens.empty());
  EXPECT_EQ(ctc_prefix_beam_search(logits, 4), (std::vector<int64_t>{1}));
  EXPECT_NEAR(std::exp(-neg_log_prob(logits, {1})), 0.56, 1e-6);  // float32 logits
}

TEST(Ctc, BeamSearchIsNeverLessProbableThanGreedyOnRandomRows) {
  torch::manual_seed(5);
  int better = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t T = 4 + trial % 9, V = 3 + trial % 5;
    // Flat-ish distributions, so that many paths share each labeling.
    const auto logits = torch::randn({T, V}, torch::kDouble) * 0.8;
    const auto greedy =
        ctc_greedy_decode(logits.unsqueeze(0), torch::tensor({T}, torch::kLong))[0].tokens;
    const auto beam = ctc_prefix_beam_search(logits, 8);
    const double g = neg_log_prob(logits, greedy), b = neg_log_prob(logits, beam);
    EXPECT_LE(b, g + 1e-9) << "trial " << trial;
    better += b < g - 1e-9 ? 1 : 0;
  }
  EXPECT_GT(better, 0) << "the fixture should have rows where the beam finds more";
}

// The most probable labeling by brute force: every path of T positions over V symbols,
// collapsed (repeats merged, blanks dropped), their probabilities summed per labeling.
std::vector<int64_t> most_probable_labeling(const torch::Tensor& logits) {
  const auto lp = torch::log_softmax(logits.to(torch::kDouble), -1).contiguous();
  const int64_t T = lp.size(0), V = lp.size(1);
  std::map<std::vector<int64_t>, double> probability;
  std::vector<int64_t> path(static_cast<size_t>(T), 0);
  for (;;) {
    double log_p = 0.0;
    std::vector<int64_t> labeling;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t c = path[static_cast<size_t>(t)];
      log_p += lp[t][c].item<double>();
      if (c != kCtcBlank && (t == 0 || path[static_cast<size_t>(t - 1)] != c))
        labeling.push_back(c);
    }
    probability[labeling] += std::exp(log_p);
    int64_t t = 0;  // the next path, as a base-V counter
    while (t < T && ++path[static_cast<size_t>(t)] == V) path[static_cast<size_t>(t++)] = 0;
    if (t == T) break;
  }
  return std::max_element(probability.begin(), probability.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

// A beam of 6 keeps a small part of the prefixes (up to 4^7 paths here), so it finds the best
// labeling only if it ranks prefixes by their true probabilities: the blank/non-blank
// recursion, the merge of repeats and the pruning are all checked by brute force.
TEST(Ctc, BeamSearchFindsTheMostProbableLabelingOfBruteForce) {
  torch::manual_seed(11);
  int greedy_wrong = 0;
  for (int trial = 0; trial < 30; ++trial) {
    const int64_t T = 4 + trial % 4, V = 3 + trial % 2;
    const auto logits = torch::randn({T, V}, torch::kDouble) * 1.2;
    const auto best = most_probable_labeling(logits);
    EXPECT_EQ(ctc_prefix_beam_search(logits, 6), best) << "trial " << trial;
    const auto greedy =
        ctc_greedy_decode(logits.unsqueeze(0), torch::tensor({T}, torch::kLong))[0].tokens;
    greedy_wrong += greedy != best ? 1 : 0;
  }
  EXPECT_GE(greedy_wrong, 3)
      << "the fixture should have rows where greedy decoding is not the best";
}

}  // namespace
}  // namespace attnlab
