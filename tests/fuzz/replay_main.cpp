// For builds without libFuzzer (g++): runs every file of the corpus directories given on the command
// line through the target, then a fixed number of seeded mutations of each (bit flips, truncations,
// splices), so ctest re-checks the committed corpus and smoke-fuzzes on every run.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      std::ifstream in(entry.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no corpus files\n");
    return 1;
  }
  std::mt19937_64 rng(20261125);
  size_t runs = 0;
  for (const auto& seed : seeds) {
    LLVMFuzzerTestOneInput(seed.data(), seed.size());
    ++runs;
    for (int m = 0; m < 3000; ++m) {
      std::vector<uint8_t> input = seed;
      switch (rng() % 4) {
        case 0:  // flip a few bits
          for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !input.empty(); ++k)
            input[rng() % input.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:  // truncate
          input.resize(input.empty() ? 0 : rng() % input.size());
          break;
        case 2:  // overwrite a byte with an edge value
          if (!input.empty()) input[rng() % input.size()] = static_cast<uint8_t>((rng() % 2) ? 0xFF : 0x00);
          break;
        default: {  // splice in bytes of another seed
          const auto& other = seeds[rng() % seeds.size()];
          if (!other.empty() && !input.empty()) {
            size_t at = rng() % input.size(), from = rng() % other.size();
            for (size_t k = 0; k < 8 && at + k < input.size() && from + k < other.size(); ++k)
              input[at + k] = other[from + k];
          }
        }
      }
      LLVMFuzzerTestOneInput(input.data(), input.size());
      ++runs;
    }
  }
  std::printf("%zu inputs from %zu corpus files: no crash\n", runs, seeds.size());
  return 0;
}
