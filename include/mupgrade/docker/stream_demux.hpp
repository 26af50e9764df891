#pragma once
// Splits Docker's multiplexed attach/exec/logs stream (8-byte frame headers) into
// stdout and stderr lines, as the bytes arrive.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "mupgrade/ports/containers.hpp"

namespace mupgrade::docker {

using ports::Stream;

class StreamDemux {
public:
  using LineFn = ports::LineFn;
  explicit StreamDemux(LineFn on_line = {}) : on_line_(std::move(on_line)) {}

  /// Feeds raw bytes; frames may be cut anywhere.
  void feed(std::string_view bytes);
  /// Emits the last unterminated line of each stream.
  void finish();

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

private:
  void deliver(Stream s, std::string_view payload);
  LineFn on_line_;
  std::string header_;
  std::uint32_t remaining_ = 0;
  Stream current_ = Stream::out;
  std::string out_, err_, partial_out_, partial_err_;
};

}  // namespace mupgrade::docker
