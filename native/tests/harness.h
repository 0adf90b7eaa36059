// A minimal test harness for the core library (no Node, no gtest): tests register
// themselves; the runner lists them (--list) or runs one (--run NAME) or all.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cover::tests {

struct TestCase {
  std::string name;
  std::function<void()> body;
};

std::vector<TestCase>& registry();

struct Registrar {
  Registrar(const std::string& name, std::function<void()> body) {
    registry().push_back({name, std::move(body)});
  }
};

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Largest absolute difference of two tensors of the same shape (any devices).
double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b);

// maxAbsDiff relative to the largest magnitude of `expected`.
double maxRelativeDiff(const torch::Tensor& actual, const torch::Tensor& expected);

// Tests named "cuda: ..." need a CUDA device: the runner leaves them out when asked to
// (--skip-cuda, which the jest wrapper passes on machines without one); run alone,
// they fail here with a message instead of passing silently.
void requireCuda();

}  // namespace cover::tests

#define COVER_CONCAT_INNER(a, b) a##b
#define COVER_CONCAT(a, b) COVER_CONCAT_INNER(a, b)
#define TEST_CASE(name)                                               \
  static void COVER_CONCAT(testBody, __LINE__)();                     \
  static ::cover::tests::Registrar COVER_CONCAT(registrar, __LINE__)( \
      name, &COVER_CONCAT(testBody, __LINE__));                       \
  static void COVER_CONCAT(testBody, __LINE__)()

#define EXPECT(condition)                                                  \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::ostringstream message_;                                         \
      message_ << __FILE__ << ":" << __LINE__ << ": expected " #condition; \
      throw ::cover::tests::Failure(message_.str());                       \
    }                                                                      \
  } while (0)

#define EXPECT_NEAR(a, b, tolerance)                                                           \
  do {                                                                                         \
    const double a_ = (a), b_ = (b);                                                           \
    if (!(std::abs(a_ - b_) <= (tolerance))) {                                                 \
      std::ostringstream message_;                                                             \
      message_ << __FILE__ << ":" << __LINE__ << ": " #a " = " << a_ << " but " #b " = " << b_ \
               << " (tolerance " << (tolerance) << ")";                                        \
      throw ::cover::tests::Failure(message_.str());                                           \
    }                                                                                          \
  } while (0)

#define EXPECT_RELATIVE(actual, expected, tolerance) \
  EXPECT_NEAR(::cover::tests::maxRelativeDiff((actual), (expected)), 0.0, (tolerance))

#define EXPECT_CLOSE(a, b, tolerance) \
  EXPECT_NEAR(::cover::tests::maxAbsDiff((a), (b)), 0.0, (tolerance))
