#include "tasks/task_spec.h"

namespace attnlab {

int64_t TaskSpec::num_outputs() const {
  return has_target_sequence(task) ? target.size() : labels.size();
}

DatasetOptions TaskSpec::dataset_options() const {
  DatasetOptions o;
  o.task = task;
  o.tokenizer = tokenizer;
  o.max_len = max_len;
  o.ctc_upsample = ctc_upsample;
  o.skip_unfit = skip_unfit;
  return o;
}

Vocabularies TaskSpec::vocabularies() const {
  Vocabularies v;
  v.source = source;
  if (has_target_sequence(task))
    v.target = target;
  else
    v.labels = labels;
  return v;
}

}  // namespace attnlab
