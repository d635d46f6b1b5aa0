// Counts every global operator new of the process, for tests that prove a hot path allocates nothing.
// It replaces the global operators, so include it in exactly one file of a dedicated test binary.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace sqltail::test {
inline std::atomic<uint64_t> g_allocations{0};
inline uint64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace sqltail::test

// The replacements pair malloc with free; GCC cannot see that operator new is replaced as a whole.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  sqltail::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too (simdjson uses them): otherwise the sanitizer's would pair with our free.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  sqltail::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
