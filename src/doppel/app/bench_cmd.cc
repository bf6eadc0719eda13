// `doppel bench NAME`: every benchmark prints a readable table and, last, one JSON line.
#include <iostream>

#include "doppel/app/commands.h"

namespace doppel::app {

int RunIngestBench(const std::vector<std::string>& args);
int RunStoreBench(const std::vector<std::string>& args);
int RunNabBench(const std::vector<std::string>& args);
int RunEstimateBench(const std::vector<std::string>& args);
int RunCmapssBench(const std::vector<std::string>& args);
int RunControlBench(const std::vector<std::string>& args);

int RunBench(const BenchArgs& args) {
  if (args.name == "ingest") return RunIngestBench(args.rest);
  if (args.name == "store") return RunStoreBench(args.rest);
  if (args.name == "estimate") return RunEstimateBench(args.rest);
  if (args.name == "nab") return RunNabBench(args.rest);
  if (args.name == "cmapss") return RunCmapssBench(args.rest);
  if (args.name == "control") return RunControlBench(args.rest);
  std::cerr << "error: unknown benchmark '" << args.name
            << "' (available: ingest, store, estimate, nab, cmapss, control)\n";
  return 2;
}

}  // namespace doppel::app
