#include "data/generate.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <random>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "data/random.h"
#include "data/vocab.h"

namespace attnlab {
namespace {

// Draws per split before giving up on finding a source not drawn yet.
constexpr int64_t kMaxAttempts = 10000;

std::string join_words(const std::vector<std::string>& words) {
  return detokenize(words, Tokenization::kWord);
}

std::vector<std::string> split_words(const std::string& text) {
  return tokenize(text, Tokenization::kWord);
}

// FNV-1a: a portable hash of the task name, so each task gets its own stream for one seed.
uint64_t hash_name(const std::string& name) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (const unsigned char c : name) {
    h ^= c;
    h *= 0x100000001B3ULL;
  }
  return h;
}

// ---------------------------------------------------------------- reverse

constexpr int64_t kReverseMinLength = 4;
constexpr int64_t kReverseMaxLength = 24;
constexpr int kReverseAlphabet = 20;  // letters a..t

Example reverse_example(std::mt19937_64& rng, int64_t /*index*/) {
  const int64_t length = uniform_int(rng, kReverseMinLength, kReverseMaxLength);
  std::vector<std::string> words;
  for (int64_t i = 0; i < length; ++i) {
    words.emplace_back(1, static_cast<char>('a' + uniform_below(rng, kReverseAlphabet)));
  }
  const std::string source = join_words(words);
  std::reverse(words.begin(), words.end());
  return Example{source, join_words(words), 0};
}

// ---------------------------------------------------------------- translate
//
// An English-like SVO source and a toy target whose lengths differ both ways, for reasons that
// need attention: the definite article becomes a suffix of its noun that agrees with the noun's
// gender ("the dog" -> "kanolo", "the cat" -> "felila"); the indefinite one agrees too before
// an animate noun ("a cat" -> "una felia") and vanishes before an inanimate one ("a ball" ->
// "balo"); "very" + adjective becomes one word ("very big" -> "grandega" before a feminine
// noun); some words become two ("happy" -> "bon humora", "again" -> "ree fojo", "follows" ->
// "iras post" for an animate object), fixed phrases become one ("every day" -> "cotidie", "in
// the morning" -> "matene"), an animate object is marked with "al"; the order is SOV with
// adjectives after their noun, adjectives agree with the noun's gender and the verb's form
// depends on the object's animacy.

struct Noun {
  const char* source;
  const char* target;
  bool feminine;  // grammatical gender in the target language
  bool animate;   // decides the verb form
};

struct Adjective {
  const char* source;
  const char* prefix;  // a separate target word before the inflected one, or ""
  const char* stem;    // + "o" / "a" (masculine / feminine), + "ego" / "ega" after "very"
};

struct Verb {
  const char* source;
  const char* animate;    // form for an animate object (may be two words)
  const char* inanimate;  // form for an inanimate object
};

struct Adverb {
  const char* source;  // one to three words
  const char* target;  // one or two words
};

const std::vector<Noun>& nouns() {
  static const std::vector<Noun> kNouns = {
      {"dog", "kano", false, true},     {"cat", "felia", true, true},
      {"bird", "avio", false, true},    {"horse", "kaba", true, true},
      {"boy", "puero", false, true},    {"girl", "pika", true, true},
      {"farmer", "agro", false, true},  {"queen", "rega", true, true},
      {"ball", "balo", false, false},   {"book", "libra", true, false},
      {"tree", "arbo", false, false},   {"house", "doma", true, false},
      {"apple", "pomo", false, false},  {"cup", "taza", true, false},
      {"stone", "petro", false, false}, {"box", "kesta", true, false},
  };
  return kNouns;
}

const std::vector<Adjective>& adjectives() {
  static const std::vector<Adjective> kAdjectives = {
      {"big", "", "grand"}, {"small", "", "pikol"}, {"red", "", "rux"},
      {"old", "", "vetul"}, {"green", "", "verd"},  {"happy", "bon", "humor"},
  };
  return kAdjectives;
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> kVerbs = {
      {"sees", "vidas", "miras"},    {"likes", "amas", "satas"},
      {"finds", "trovas", "hallas"}, {"follows", "iras post", "persas"},
      {"holds", "tenas", "portas"},  {"wants", "volas", "dezir havi"},
  };
  return kVerbs;
}

const std::vector<Adverb>& adverbs() {
  static const std::vector<Adverb> kAdverbs = {
      {"today", "hodie"},
      {"again", "ree fojo"},
      {"often", "ofte"},
      {"now", "nun"},
      {"every day", "cotidie"},
      {"right now", "tuj"},
      {"in the morning", "matene"},
  };
  return kAdverbs;
}

struct AdjectiveUse {
  const Adjective* adjective = nullptr;
  bool very = false;
};

struct NounPhrase {
  bool definite = false;
  std::vector<AdjectiveUse> adjectives;
  const Noun* noun = nullptr;
};

struct Sentence {
  NounPhrase subject;
  const Verb* verb = nullptr;
  NounPhrase object;
  const Adverb* adverb = nullptr;  // optional
};

bool starts_with_vowel(const char* word) {
  return std::string("aeiou").find(word[0]) != std::string::npos;
}

void append_words(const std::string& text, std::vector<std::string>& words) {
  for (auto& w : split_words(text)) words.push_back(std::move(w));
}

// "a" is spelled "an" before a vowel ("an old cat", "an apple"; "a very old cat").
void append_source(const NounPhrase& np, std::vector<std::string>& words) {
  if (np.definite) {
    words.emplace_back("the");
  } else {
    const char* next = np.adjectives.empty()        ? np.noun->source
                       : np.adjectives.front().very ? "very"
                                                    : np.adjectives.front().adjective->source;
    words.emplace_back(starts_with_vowel(next) ? "an" : "a");
  }
  for (const auto& use : np.adjectives) {
    if (use.very) words.emplace_back("very");
    words.emplace_back(use.adjective->source);
  }
  words.emplace_back(np.noun->source);
}

// "un"/"una" for an indefinite animate noun, the noun (with "lo"/"la" fused on when
// definite), then the adjectives in source order, all
// agreeing with the noun.
void append_target(const NounPhrase& np, std::vector<std::string>& words) {
  const bool f = np.noun->feminine;
  if (!np.definite && np.noun->animate) words.emplace_back(f ? "una" : "un");
  words.emplace_back(std::string(np.noun->target) + (np.definite ? (f ? "la" : "lo") : ""));
  for (const auto& use : np.adjectives) {
    if (*use.adjective->prefix != '\0') words.emplace_back(use.adjective->prefix);
    words.emplace_back(std::string(use.adjective->stem) + (use.very ? "eg" : "") + (f ? "a" : "o"));
  }
}

std::string source_text(const Sentence& s) {
  std::vector<std::string> words;
  append_source(s.subject, words);
  words.emplace_back(s.verb->source);
  append_source(s.object, words);
  if (s.adverb != nullptr) append_words(s.adverb->source, words);
  return join_words(words);
}

// Subject, object, verb (SOV); "al" before an animate object, whose animacy also picks the
// verb form.
std::string target_text(const Sentence& s) {
  std::vector<std::string> words;
  append_target(s.subject, words);
  if (s.object.noun->animate) words.emplace_back("al");  // marks an animate object
  append_target(s.object, words);
  append_words(s.object.noun->animate ? s.verb->animate : s.verb->inanimate, words);
  if (s.adverb != nullptr) append_words(s.adverb->target, words);
  return join_words(words);
}

NounPhrase random_noun_phrase(std::mt19937_64& rng) {
  NounPhrase np;
  np.definite = uniform_below(rng, 2) == 1;
  // 0, 1 or 2 distinct adjectives with weights 2:2:1, each after "very" one time in three.
  const uint64_t r = uniform_below(rng, 5);
  const int count = r < 2 ? 0 : r < 4 ? 1 : 2;
  while (static_cast<int>(np.adjectives.size()) < count) {
    const Adjective* adjective = &pick(rng, adjectives());
    const bool seen = std::any_of(np.adjectives.begin(), np.adjectives.end(),
                                  [&](const AdjectiveUse& u) { return u.adjective == adjective; });
    if (!seen) np.adjectives.push_back(AdjectiveUse{adjective, uniform_below(rng, 3) == 0});
  }
  np.noun = &pick(rng, nouns());
  return np;
}

Example translate_example(std::mt19937_64& rng, int64_t /*index*/) {
  Sentence s;
  s.subject = random_noun_phrase(rng);
  s.verb = &pick(rng, verbs());
  s.object = random_noun_phrase(rng);
  if (uniform_below(rng, 2) == 1) s.adverb = &pick(rng, adverbs());
  return Example{source_text(s), target_text(s), 0};
}

std::invalid_argument translate_error(const std::string& what, const std::string& text) {
  return std::invalid_argument("translate: " + what + " in '" + text + "'");
}

// Parses "article (very? adjective)* noun" starting at words[pos]; advances pos.
NounPhrase parse_noun_phrase(const std::vector<std::string>& words, size_t& pos,
                             const std::string& text) {
  NounPhrase np;
  const std::string article = pos < words.size() ? words[pos] : "";
  if (article != "the" && article != "a" && article != "an")
    throw translate_error("expected an article at word " + std::to_string(pos + 1), text);
  np.definite = article == "the";
  ++pos;
  while (pos < words.size()) {
    const bool very = words[pos] == "very";
    const size_t at = very ? pos + 1 : pos;
    const Adjective* adjective = nullptr;
    for (const auto& a : adjectives())
      if (at < words.size() && words[at] == a.source) adjective = &a;
    if (adjective == nullptr) {
      if (very)
        throw translate_error("expected an adjective at word " + std::to_string(at + 1), text);
      break;
    }
    np.adjectives.push_back(AdjectiveUse{adjective, very});
    pos = at + 1;
  }
  for (const auto& n : nouns())
    if (pos < words.size() && words[pos] == n.source) np.noun = &n;
  if (np.noun == nullptr)
    throw translate_error("expected a noun at word " + std::to_string(pos + 1), text);
  ++pos;
  return np;
}

// ---------------------------------------------------------------- classify

const std::vector<std::string>& determiners() {
  static const std::vector<std::string> kDeterminers = {"the", "our"};
  return kDeterminers;
}

const std::vector<std::string>& aspects() {
  static const std::vector<std::string> kAspects = {"food",  "service", "staff",  "room",
                                                    "music", "coffee",  "waiter", "menu",
                                                    "view",  "bed",     "soup",   "price"};
  return kAspects;
}

const std::vector<std::string>& positive_adjectives() {
  static const std::vector<std::string> kWords = {"good",      "great",    "excellent", "lovely",
                                                  "wonderful", "friendly", "perfect"};
  return kWords;
}

const std::vector<std::string>& negative_adjectives() {
  static const std::vector<std::string> kWords = {"bad",      "awful", "terrible", "poor",
                                                  "horrible", "rude",  "dreadful"};
  return kWords;
}

const std::vector<std::string>& intensifiers() {
  static const std::vector<std::string> kWords = {"very", "really", "truly", "extremely"};
  return kWords;
}

const std::vector<std::string>& neutral_predicates() {
  static const std::vector<std::string> kPhrases = {"okay",
                                                    "average",
                                                    "ordinary",
                                                    "served at noon",
                                                    "as expected",
                                                    "the same as before",
                                                    "described on the website"};
  return kPhrases;
}

bool contains(const std::vector<std::string>& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

const char* label_name(int polarity) {
  return polarity > 0 ? "positive" : polarity < 0 ? "negative" : "neutral";
}

int sign(int x) { return (x > 0) - (x < 0); }

// "<determiner> <aspect> was <predicate>" with the given polarity (+1, -1 or 0).
std::string random_clause(std::mt19937_64& rng, int polarity) {
  std::string clause = pick(rng, determiners()) + " " + pick(rng, aspects()) + " was ";
  if (polarity == 0) return clause + pick(rng, neutral_predicates());
  const auto& same = polarity > 0 ? positive_adjectives() : negative_adjectives();
  const auto& opposite = polarity > 0 ? negative_adjectives() : positive_adjectives();
  if (uniform_below(rng, 2) == 0) {
    if (uniform_below(rng, 2) == 0) clause += pick(rng, intensifiers()) + " ";
    return clause + pick(rng, same);
  }
  clause += "not " + pick(rng, opposite);
  if (uniform_below(rng, 2) == 0) clause += " at all";
  return clause;
}

// A sentence whose label is (index % 3): positive, negative, neutral in turn, so every split
// is balanced to within one example.
Example classify_example(std::mt19937_64& rng, int64_t index) {
  const int label = index % 3 == 0 ? 1 : index % 3 == 1 ? -1 : 0;
  const uint64_t form = uniform_below(rng, 5);  // 1/5 one clause, 2/5 "but", 2/5 "and"
  std::string text;
  if (form == 0) {
    text = random_clause(rng, label);
  } else if (form <= 2) {
    // "X but Y": Y decides; X is any clause.
    const int first = static_cast<int>(uniform_below(rng, 3)) - 1;
    text = random_clause(rng, first) + " but " + random_clause(rng, label);
  } else {
    // "X and Y": the sign of the sum, so opposite clauses give neutral.
    std::vector<std::pair<int, int>> pairs;
    for (int a = -1; a <= 1; ++a) {
      for (int b = -1; b <= 1; ++b) {
        if (sign(a + b) == label) pairs.emplace_back(a, b);
      }
    }
    const auto& pair = pick(rng, pairs);
    text = random_clause(rng, pair.first) + " and " + random_clause(rng, pair.second);
  }
  return Example{text, label_name(label), 0};
}

// Parses one clause starting at words[pos]; advances pos; returns its polarity.
int parse_clause(const std::vector<std::string>& words, size_t& pos, const std::string& text) {
  const auto fail = [&](const std::string& what) {
    return std::invalid_argument("classify: " + what + " at word " + std::to_string(pos + 1) +
                                 " in '" + text + "'");
  };
  const auto at = [&](size_t i) -> std::string {
    return i < words.size() ? words[i] : std::string();
  };
  if (!contains(determiners(), at(pos))) throw fail("expected a determiner");
  ++pos;
  if (!contains(aspects(), at(pos))) throw fail("expected an aspect noun");
  ++pos;
  if (at(pos) != "was") throw fail("expected 'was'");
  ++pos;
  const auto polarity_of = [&](const std::string& word) {
    return contains(positive_adjectives(), word)   ? 1
           : contains(negative_adjectives(), word) ? -1
                                                   : 0;
  };
  if (at(pos) == "not") {
    ++pos;
    const int polarity = -polarity_of(at(pos));
    if (polarity == 0) throw fail("expected a positive or negative adjective");
    ++pos;
    if (at(pos) == "at" && at(pos + 1) == "all") pos += 2;
    return polarity;
  }
  if (contains(intensifiers(), at(pos))) {
    ++pos;
    const int polarity = polarity_of(at(pos));
    if (polarity == 0) throw fail("expected a positive or negative adjective");
    ++pos;
    return polarity;
  }
  if (const int polarity = polarity_of(at(pos)); polarity != 0) {
    ++pos;
    return polarity;
  }
  for (const auto& phrase : neutral_predicates()) {
    const auto phrase_words = split_words(phrase);
    if (pos + phrase_words.size() <= words.size() &&
        std::equal(phrase_words.begin(), phrase_words.end(),
                   words.begin() + static_cast<std::ptrdiff_t>(pos))) {
      pos += phrase_words.size();
      return 0;
    }
  }
  throw fail("expected a predicate");
}

// ---------------------------------------------------------------- splits

using ExampleGenerator = std::function<Example(std::mt19937_64&, int64_t)>;

std::vector<Example> draw_split(const std::string& task, const ExampleGenerator& generate,
                                int64_t count, std::mt19937_64& rng,
                                std::unordered_set<std::string>& seen) {
  std::vector<Example> split;
  split.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int64_t attempts = 0;
    while (true) {
      Example example = generate(rng, i);
      if (seen.insert(example.source).second) {
        example.line = i + 1;
        split.push_back(std::move(example));
        break;
      }
      if (++attempts >= kMaxAttempts) {
        throw std::invalid_argument(task + ": could not draw " + std::to_string(count) +
                                    " distinct examples for a split; ask for fewer");
      }
    }
  }
  return split;
}

ExampleGenerator generator_for(const std::string& task) {
  if (task == "reverse") return reverse_example;
  if (task == "translate") return translate_example;
  if (task == "classify") return classify_example;
  std::string names;
  for (const auto& name : task_names()) names += (names.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown task '" + task + "'; known tasks: " + names);
}

}  // namespace

std::vector<std::string> task_names() { return {"classify", "reverse", "translate"}; }

GenerateSizes default_sizes(const std::string& task) {
  generator_for(task);  // validates the name
  if (task == "reverse") return GenerateSizes{8000, 1000, 1000};
  if (task == "translate") return GenerateSizes{6000, 1000, 1000};
  return GenerateSizes{6000, 1000, 1000};  // classify
}

TaskSplits generate_task(const std::string& task, uint64_t seed, const GenerateSizes& sizes) {
  const ExampleGenerator generate = generator_for(task);
  if (sizes.train < 0 || sizes.valid < 0 || sizes.test < 0) {
    throw std::invalid_argument(task + ": split sizes must be non-negative");
  }
  std::mt19937_64 rng(mix_seed(seed ^ hash_name(task)));
  std::unordered_set<std::string> seen;
  TaskSplits splits;
  splits.task = task;
  // Test, then valid, then train: changing only the train size leaves valid and test as they were.
  for (auto [split, count] :
       {std::pair{&splits.test, sizes.test}, std::pair{&splits.valid, sizes.valid},
        std::pair{&splits.train, sizes.train}}) {
    *split = draw_split(task, generate, count, rng, seen);
    if (task == "classify") {
      // Labels were drawn in turn (positive, negative, neutral, ...); mix them up.
      shuffle_in_place(rng, *split);
      for (size_t i = 0; i < split->size(); ++i) (*split)[i].line = static_cast<int64_t>(i) + 1;
    }
  }
  return splits;
}

void write_task(const TaskSplits& splits, const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw DataError(out_dir + ": cannot create directory (" + ec.message() + ")");
  const std::filesystem::path dir(out_dir);
  write_tsv((dir / "train.tsv").string(), splits.train);
  write_tsv((dir / "valid.tsv").string(), splits.valid);
  write_tsv((dir / "test.tsv").string(), splits.test);
}

int64_t count_overlap(const std::vector<Example>& reference, const std::vector<Example>& split) {
  std::unordered_set<std::string> sources;
  for (const auto& e : reference) sources.insert(e.source);
  int64_t overlap = 0;
  for (const auto& e : split) overlap += sources.count(e.source) > 0 ? 1 : 0;
  return overlap;
}

std::string translate_sentence(const std::string& source) {
  const auto words = split_words(source);
  size_t pos = 0;
  Sentence s;
  s.subject = parse_noun_phrase(words, pos, source);
  for (const auto& v : verbs())
    if (pos < words.size() && words[pos] == v.source) s.verb = &v;
  if (s.verb == nullptr)
    throw translate_error("expected a verb at word " + std::to_string(pos + 1), source);
  ++pos;
  s.object = parse_noun_phrase(words, pos, source);
  if (pos < words.size()) {
    std::vector<std::string> rest(words.begin() + static_cast<std::ptrdiff_t>(pos), words.end());
    const std::string tail = join_words(rest);
    for (const auto& a : adverbs())
      if (tail == a.source) s.adverb = &a;
    if (s.adverb == nullptr)
      throw translate_error("unexpected '" + tail + "' from word " + std::to_string(pos + 1),
                            source);
  }
  return target_text(s);
}

std::string classify_sentence(const std::string& text) {
  const auto words = split_words(text);
  size_t pos = 0;
  const int first = parse_clause(words, pos, text);
  if (pos == words.size()) return label_name(first);
  const std::string connective = words[pos++];
  if (connective != "but" && connective != "and") {
    throw std::invalid_argument("classify: expected 'but' or 'and' at word " + std::to_string(pos) +
                                " in '" + text + "'");
  }
  const int second = parse_clause(words, pos, text);
  if (pos != words.size()) {
    throw std::invalid_argument("classify: unexpected '" + words[pos] + "' at word " +
                                std::to_string(pos + 1) + " in '" + text + "'");
  }
  return label_name(connective == "but" ? second : sign(first + second));
}

}  // namespace attnlab
