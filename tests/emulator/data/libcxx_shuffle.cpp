// Prints the index orders libc++ gives: std::shuffle driven by std::minstd_rand seeded through
// std::seed_seq{seed} (or default-constructed when no seed is given), reshuffled every epoch.
// Regenerate libcxx_shuffle.json: python tests/emulator/data/make_libcxx_shuffle.py (needs clang++ and libc++).
#include <random>
#include <algorithm>
#include <numeric>
#include <vector>
#include <cstdio>
#include <cstdlib>
int main(int argc, char** argv) {
  int n = atoi(argv[1]); int epochs = atoi(argv[2]); long long seed = atoll(argv[3]); bool seeded = argc > 4;
  std::vector<long> idx(n); std::iota(idx.begin(), idx.end(), 0);
  std::minstd_rand rng;
  if (seeded) { std::seed_seq seq{(unsigned)seed}; rng.seed(seq); }
  for (int e = 0; e < epochs; ++e) { std::shuffle(idx.begin(), idx.end(), rng);
    for (int i = 0; i < n; ++i) printf("%ld%c", idx[i], i + 1 == n ? '\n' : ' '); }
}
