#include "mupgrade/docker/stream_demux.hpp"

#include <gtest/gtest.h>

#include <vector>

using mupgrade::docker::Stream;
using mupgrade::docker::StreamDemux;

namespace {
std::string frame(Stream s, const std::string& payload) {
  std::string h(8, '\0');
  h[0] = s == Stream::out ? 1 : 2;
  auto n = static_cast<uint32_t>(payload.size());
  h[4] = char(n >> 24);
  h[5] = char(n >> 16);
  h[6] = char(n >> 8);
  h[7] = char(n);
  return h + payload;
}
}  // namespace

TEST(StreamDemuxTest, SplitsFramesIntoStreamsAndLines) {
  std::vector<std::pair<Stream, std::string>> lines;
  StreamDemux d([&](Stream s, std::string_view l) { lines.emplace_back(s, std::string(l)); });
  d.feed(frame(Stream::out, "-->System\n++ Success ++\n") + frame(Stream::err, "warning\n"));
  d.finish();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], std::make_pair(Stream::out, std::string("-->System")));
  EXPECT_EQ(lines[2], std::make_pair(Stream::err, std::string("warning")));
  EXPECT_EQ(d.out(), "-->System\n++ Success ++\n");
  EXPECT_EQ(d.err(), "warning\n");
}

TEST(StreamDemuxTest, HandlesFramesAndLinesCutAtEveryByte) {
  std::string bytes = frame(Stream::out, "first li") + frame(Stream::out, "ne\nsecond") + frame(Stream::err, "e1\r\n");
  std::vector<std::string> lines;
  StreamDemux d([&](Stream, std::string_view l) { lines.emplace_back(l); });
  for (char c : bytes) d.feed(std::string_view(&c, 1));
  d.finish();
  EXPECT_EQ(lines, (std::vector<std::string>{"first line", "e1", "second"}));
}

TEST(StreamDemuxTest, EmptyStreamGivesNothing) {
  int calls = 0;
  StreamDemux d([&](Stream, std::string_view) { ++calls; });
  d.finish();
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(d.out().empty());
}
