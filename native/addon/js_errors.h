// Turning C++ failures into JS errors. Every entry point from JS runs its body through
// guarded(), so no C++ exception ever escapes into Node (which would abort the process).
#pragma once

#include <napi.h>

#include <exception>
#include <string>

namespace cover::addon {

// The message of the exception in flight, without LibTorch's C++ backtrace.
// Call only inside a catch block.
std::string currentExceptionMessage();

// Runs body(); a c10::Error or std::exception becomes a thrown JS Error whose message is
// the cleaned-up C++ message. Napi::Error (already a JS error) passes through unchanged.
template <typename Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error::New(env, currentExceptionMessage());
  }
}

// Resolves `deferred` with what convert() returns; rejects it with the JS error convert()
// throws (a C++ exception becomes an Error carrying its message).
template <typename Convert>
void settleWith(Napi::Env env, Napi::Promise::Deferred& deferred, Convert&& convert) {
  try {
    deferred.Resolve(convert());
  } catch (const Napi::Error& error) {
    deferred.Reject(error.Value());
  } catch (...) {
    deferred.Reject(Napi::Error::New(env, currentExceptionMessage()).Value());
  }
}

}  // namespace cover::addon
