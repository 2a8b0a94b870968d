#pragma once
// The one place that maps a task (data.task) to its objective: transduction -> per-token
// labels, translation -> CTC, classification and image_classification -> one label per
// sequence. docs/development.md, "Adding a task".

#include <memory>

#include "tasks/objective.h"
#include "tasks/task_spec.h"

namespace attnlab {

// The objective of `spec.task`, holding what it needs of the spec (tokenizer, vocabularies).
std::unique_ptr<Objective> make_objective(const TaskSpec& spec);

}  // namespace attnlab
