#include "mupgrade/docker/stream_demux.hpp"

namespace mupgrade::docker {

void StreamDemux::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (remaining_ == 0) {
      size_t need = 8 - header_.size();
      size_t take = std::min(need, bytes.size());
      header_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (header_.size() < 8) return;
      current_ = header_[0] == 2 ? Stream::err : Stream::out;
      remaining_ = (std::uint32_t(std::uint8_t(header_[4])) << 24) | (std::uint32_t(std::uint8_t(header_[5])) << 16) |
                   (std::uint32_t(std::uint8_t(header_[6])) << 8) | std::uint32_t(std::uint8_t(header_[7]));
      header_.clear();
      continue;
    }
    size_t take = std::min<size_t>(remaining_, bytes.size());
    deliver(current_, bytes.substr(0, take));
    remaining_ -= static_cast<std::uint32_t>(take);
    bytes.remove_prefix(take);
  }
}

void StreamDemux::deliver(Stream s, std::string_view payload) {
  (s == Stream::out ? out_ : err_).append(payload);
  std::string& partial = s == Stream::out ? partial_out_ : partial_err_;
  partial.append(payload);
  size_t pos;
  while ((pos = partial.find('\n')) != std::string::npos) {
    std::string line = partial.substr(0, pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (on_line_) on_line_(s, line);
    partial.erase(0, pos + 1);
  }
}

void StreamDemux::finish() {
  if (!partial_out_.empty() && on_line_) on_line_(Stream::out, partial_out_);
  if (!partial_err_.empty() && on_line_) on_line_(Stream::err, partial_err_);
  partial_out_.clear();
  partial_err_.clear();
}

}  // namespace mupgrade::docker
