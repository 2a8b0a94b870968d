#pragma once
// The config keys that take one of a few names, as enums, each with its one name table. The
// YAML reader (conversion and did-you-mean), the checker's messages and the YAML writer all
// read these tables; data/, model/ and train/ use the enums without the reader. A leaf header.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attnlab {

enum class TaskKind {
  kTransduction,
  kClassification,
  kTranslation,
  kImageClassification
};                                                                      // data.task
enum class DataFormat { kTsv, kIdx, kPng };                             // data.format
enum class Tokenization { kChar, kWord, kSentencepiece };               // data.tokenization
enum class SpmModelType { kUnigram, kBpe };                             // data.spm.model_type
enum class NormPlacement { kPre, kPost };                               // model.norm
enum class Activation { kGelu, kRelu };                                 // model.activation
enum class PositionKind { kSinusoidal, kLearned };                      // model.positions
enum class Pooling { kCls, kMean };                                     // model.pooling
enum class ScheduleKind { kCosine, kLinear, kInverseSqrt, kConstant };  // train.schedule
enum class Precision { kAuto, kFp32, kBf16 };                           // train.precision
enum class BestMetric { kAuto, kLoss, kAccuracy, kExactMatch, kBleu, kChrf };  // train.best_metric
enum class CtcSplitAt { kEmbedding, kEncoder };                                // model.ctc.split_at
enum class ResumeMode { kNever, kAuto };                                       // train.resume

// One label per example (text or image): a classification head, accuracy and a confusion matrix.
inline bool is_classification(TaskKind task) {
  return task == TaskKind::kClassification || task == TaskKind::kImageClassification;
}
// True for the tasks that produce a token sequence (transduction, translation).
inline bool has_target_sequence(TaskKind task) {
  return task == TaskKind::kTransduction || task == TaskKind::kTranslation;
}

// EnumNames<E>::table lists every value of E with its YAML name, in the order error messages
// list them ("'fp16' is not one of fp32|bf16").
template <typename E>
struct EnumNames;

template <typename E, size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

template <>
struct EnumNames<TaskKind> {
  static constexpr NameTable<TaskKind, 4> table{
      {{TaskKind::kTransduction, "transduction"},
       {TaskKind::kClassification, "classification"},
       {TaskKind::kTranslation, "translation"},
       {TaskKind::kImageClassification, "image_classification"}}};
};
template <>
struct EnumNames<DataFormat> {
  static constexpr NameTable<DataFormat, 3> table{
      {{DataFormat::kTsv, "tsv"}, {DataFormat::kIdx, "idx"}, {DataFormat::kPng, "png"}}};
};
template <>
struct EnumNames<Tokenization> {
  static constexpr NameTable<Tokenization, 3> table{
      {{Tokenization::kChar, "char"},
       {Tokenization::kWord, "word"},
       {Tokenization::kSentencepiece, "sentencepiece"}}};
};
template <>
struct EnumNames<SpmModelType> {
  static constexpr NameTable<SpmModelType, 2> table{
      {{SpmModelType::kUnigram, "unigram"}, {SpmModelType::kBpe, "bpe"}}};
};
template <>
struct EnumNames<NormPlacement> {
  static constexpr NameTable<NormPlacement, 2> table{
      {{NormPlacement::kPre, "pre"}, {NormPlacement::kPost, "post"}}};
};
template <>
struct EnumNames<Activation> {
  static constexpr NameTable<Activation, 2> table{
      {{Activation::kGelu, "gelu"}, {Activation::kRelu, "relu"}}};
};
template <>
struct EnumNames<PositionKind> {
  static constexpr NameTable<PositionKind, 2> table{
      {{PositionKind::kSinusoidal, "sinusoidal"}, {PositionKind::kLearned, "learned"}}};
};
template <>
struct EnumNames<Pooling> {
  static constexpr NameTable<Pooling, 2> table{{{Pooling::kCls, "cls"}, {Pooling::kMean, "mean"}}};
};
template <>
struct EnumNames<ScheduleKind> {
  static constexpr NameTable<ScheduleKind, 4> table{{{ScheduleKind::kCosine, "cosine"},
                                                     {ScheduleKind::kLinear, "linear"},
                                                     {ScheduleKind::kInverseSqrt, "inverse_sqrt"},
                                                     {ScheduleKind::kConstant, "constant"}}};
};
template <>
struct EnumNames<Precision> {
  static constexpr NameTable<Precision, 3> table{
      {{Precision::kAuto, "auto"}, {Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}}};
};
template <>
struct EnumNames<BestMetric> {
  static constexpr NameTable<BestMetric, 6> table{{{BestMetric::kAuto, "auto"},
                                                   {BestMetric::kLoss, "loss"},
                                                   {BestMetric::kAccuracy, "accuracy"},
                                                   {BestMetric::kExactMatch, "exact_match"},
                                                   {BestMetric::kBleu, "bleu"},
                                                   {BestMetric::kChrf, "chrf"}}};
};
template <>
struct EnumNames<CtcSplitAt> {
  static constexpr NameTable<CtcSplitAt, 2> table{
      {{CtcSplitAt::kEmbedding, "embedding"}, {CtcSplitAt::kEncoder, "encoder"}}};
};

template <>
struct EnumNames<ResumeMode> {
  static constexpr NameTable<ResumeMode, 2> table{
      {{ResumeMode::kNever, "never"}, {ResumeMode::kAuto, "auto"}}};
};

// The YAML name of `value`.
template <typename E>
const char* name_of(E value) {
  for (const auto& [v, name] : EnumNames<E>::table)
    if (v == value) return name;
  return "?";  // unreachable for a value of the enum
}

// The value named `name`, or nullopt.
template <typename E>
std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& [v, n] : EnumNames<E>::table)
    if (name == n) return v;
  return std::nullopt;
}

// Every name, in table order.
template <typename E>
std::vector<std::string> enum_names() {
  std::vector<std::string> names;
  for (const auto& entry : EnumNames<E>::table) names.emplace_back(entry.second);
  return names;
}

}  // namespace attnlab
