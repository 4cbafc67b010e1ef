// Randomness is an input to the pure core: modules take an Rng& instead of calling the OS.
#pragma once
#include <cstddef>
#include <cstdint>

namespace ptun {

class Rng {
 public:
  virtual ~Rng() = default;
  virtual void fill(uint8_t* out, size_t n) = 0;
  uint64_t u64() { uint64_t v; fill(reinterpret_cast<uint8_t*>(&v), sizeof v); return v; }
  uint32_t u32() { uint32_t v; fill(reinterpret_cast<uint8_t*>(&v), sizeof v); return v; }
};

// The kernel's CSPRNG (getrandom).
class SystemRng final : public Rng {
 public:
  void fill(uint8_t* out, size_t n) override;
};

// Deterministic generator for tests and simulations (xorshift; NOT for keys).
class SeededRng final : public Rng {
 public:
  explicit SeededRng(uint64_t seed) : s_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  void fill(uint8_t* out, size_t n) override {
    for (size_t i = 0; i < n; ++i) {
      s_ ^= s_ << 13; s_ ^= s_ >> 7; s_ ^= s_ << 17;
      out[i] = uint8_t(s_);
    }
  }
 private:
  uint64_t s_;
};

}  // namespace ptun
