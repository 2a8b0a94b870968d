// The test binary's main: the same process-wide set-up as attnlab's own main (src/cli/main.cpp),
// so that tests run under the signal regime the product runs under.
#include <gtest/gtest.h>

#include "runtime/stop_signals.h"

int main(int argc, char** argv) {
  attnlab::install_stop_signal_watcher();  // before any thread exists
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
