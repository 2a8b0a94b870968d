#include "tasks/registry.h"

#include "tasks/ctc_objective.h"
#include "tasks/label_objective.h"
#include "tasks/per_token_objective.h"

namespace attnlab {

std::unique_ptr<Objective> make_objective(const TaskSpec& spec) {
  switch (spec.task) {
    case TaskKind::kTransduction:
      return std::make_unique<PerTokenObjective>(spec);
    case TaskKind::kTranslation:
      return std::make_unique<CtcObjective>(spec);
    case TaskKind::kClassification:
    case TaskKind::kImageClassification:
      return std::make_unique<LabelObjective>(spec);
  }
  TORCH_CHECK(false, "make_objective: unknown task");
}

}  // namespace attnlab
