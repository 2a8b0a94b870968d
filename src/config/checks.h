#pragma once
// Value checks of a read config: ranges, required keys, enum names (with a did-you-mean), and
// the rules between keys (num_heads divides d_model, exactly one of max_steps / max_epochs, ...).
// Internal to src/config/.

#include "config/config.h"
#include "config/reader.h"

namespace attnlab::config_detail {

// Records an error in `reader` for every value of `config` that breaks a rule; a key that did
// not convert, or sits in a section with a structural error, is not checked again.
void check_values(Reader& reader, const Config& config);

}  // namespace attnlab::config_detail
