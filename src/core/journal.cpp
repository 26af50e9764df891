#include "mupgrade/core/journal.hpp"

#include "mupgrade/core/error.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace mupgrade::core {

std::string utc_now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms);
}

JournalWriter::JournalWriter(std::string path) : path_(std::move(path)) {
  bool fresh = ::access(path_.c_str(), F_OK) != 0;
  if (!fresh) read_journal(path_);  // refuses an unknown version before appending to it
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(fmt::format("cannot open journal {} ({})", path_, std::strerror(errno)));
  if (fresh) {
    std::string header = std::string(kJournalHeader) + "\n";
    if (::write(fd_, header.data(), header.size()) != static_cast<ssize_t>(header.size()) || ::fsync(fd_) != 0)
      throw Error(fmt::format("cannot write journal {} ({})", path_, std::strerror(errno)));
  }
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

void JournalWriter::append(JournalEvent e) {
  if (e.at.empty()) e.at = utc_now_iso();
  nlohmann::json j = {{"event", e.event}, {"at", e.at}};
  if (!e.step.empty()) j["step"] = e.step;
  if (!e.outcome.empty()) j["outcome"] = e.outcome;
  if (e.event == "end" || e.event == "undo-end" || e.event == "operation-end") j["seconds"] = e.seconds;
  if (!e.facts.empty()) j["facts"] = e.facts;
  std::string line = j.dump() + "\n";
  // One write of a whole line: a crash leaves at most a torn last line, which readers skip.
  if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size()) || ::fsync(fd_) != 0)
    throw Error(fmt::format("cannot write journal {} ({})", path_, std::strerror(errno)),
                "check free space and permissions of the state dir");
}

std::optional<std::string> JournalSummary::interrupted_step() const {
  for (auto it = steps.rbegin(); it != steps.rend(); ++it)
    if (it->begun && !it->ended) return it->name;
  return std::nullopt;
}

const StepRecord* JournalSummary::find(const std::string& step) const& {
  for (const auto& s : steps)
    if (s.name == step) return &s;
  return nullptr;
}

JournalSummary parse_journal(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line.rfind("# mupgrade journal v", 0) != 0)
    throw Error(fmt::format("{} is not a mupgrade journal (no header line)", name), "leave files in the state dir to mupgrade");
  if (line != kJournalHeader)
    throw Error(fmt::format("{} was written by another mupgrade version ('{}', this one reads '{}')", name, line, kJournalHeader),
                "use the mupgrade version that wrote it to finish or roll back the operation");
  JournalSummary s;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  bool ends_with_newline = !text.empty() && text.back() == '\n';
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::exception&) {
      if (i + 1 == lines.size() && !ends_with_newline) break;  // torn by a crash mid-write
      throw Error(fmt::format("{} line {} is not valid JSON", name, i + 2), "the journal was edited or damaged");
    }
    std::string event = j.value("event", "");
    std::string step = j.value("step", "");
    auto record = [&]() -> StepRecord& {
      for (auto& r : s.steps)
        if (r.name == step) return r;
      s.steps.push_back({step});
      return s.steps.back();
    };
    if (event == "operation-begin") {
      s.operation = j.value("facts", nlohmann::json::object()).value("operation", "");
      s.args = j.value("facts", nlohmann::json::object()).value("args", nlohmann::json::object());
      s.started_at = j.value("at", "");
    } else if (event == "operation-end") {
      s.finished = true;
      s.outcome = j.value("outcome", "");
    } else if (event == "begin") {
      StepRecord& r = record();
      r.begun = true;
      r.ended = false;
    } else if (event == "end") {
      StepRecord& r = record();
      r.ended = true;
      r.outcome = j.value("outcome", "");
      r.seconds = j.value("seconds", 0.0);
      if (j.contains("facts")) r.facts = j["facts"];
    } else if (event == "undo-data") {
      StepRecord& r = record();
      nlohmann::json data = j.value("facts", nlohmann::json::object());
      for (auto& [k, v] : data.items()) r.undo_data[k] = v;
    } else if (event == "undo-end") {
      StepRecord& r = record();
      r.undone = j.value("outcome", "") == "ok";
      r.undo_failed = !r.undone;
    }
  }
  return s;
}

JournalSummary read_journal(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot read journal {}", path));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_journal(text, path);
}

}  // namespace mupgrade::core
